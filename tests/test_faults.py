"""Nothing lost: a search killed at random moments resumes to exactly the uninterrupted policy; failed
writes leave the previous policy and checkpoints intact and say what failed; a failed push keeps the
local policy and says how to retry; a failing process ends a two-process run quickly."""

from __future__ import annotations

import errno
import io
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pytest
import torch
from helpers import REPO, launch_two_cpu_processes
from PIL import Image
from safetensors.torch import load_file

from hf_faa import FasterAutoAugmentPolicy
from hf_faa.policy import CONFIG_NAME, WEIGHTS_NAME
from hf_faa.search import SearchConfig, run_search
from hf_faa.search.checkpoints import latest_checkpoint

TINY = {"max_train_samples": 128, "image_size": 16, "per_device_train_batch_size": 16, "num_sub_policies": 3,
        "logging_steps": 2, "critic_warmup_steps": 1, "calibration": "none", "operation_check": False,
        "policy_candidates": []}  # fmt: skip


def saved_policy(folder: Path) -> dict[str, bytes]:
    torch.manual_seed(0)
    FasterAutoAugmentPolicy(num_sub_policies=2).save_pretrained(folder)
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}


def assert_unchanged(folder: Path, before: dict[str, bytes]) -> None:
    assert {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()} == before
    FasterAutoAugmentPolicy.from_pretrained(folder)


def test_a_save_that_runs_out_of_space_leaves_the_previous_policy(tmp_path, monkeypatch):
    before = saved_policy(tmp_path)

    def full_disk(tensors, path, metadata=None):
        Path(path).write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("safetensors.torch.save_file", full_disk)
    with pytest.raises(OSError, match=f"Saving the policy to {tmp_path} failed while writing.*No space left"):
        FasterAutoAugmentPolicy(num_sub_policies=3).save_pretrained(tmp_path)
    assert_unchanged(tmp_path, before)
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".staging-")]


def test_a_save_that_fails_while_moving_files_puts_the_old_ones_back(tmp_path, monkeypatch):
    before = saved_policy(tmp_path)
    real_replace, calls = os.replace, {"count": 0}

    def failing_replace(source, target):
        calls["count"] += 1
        if calls["count"] == 4:  # the second file's move into place
            raise PermissionError(errno.EACCES, "Permission denied")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="failed while moving its files into place.*put back as they were"):
        FasterAutoAugmentPolicy(num_sub_policies=3).save_pretrained(tmp_path)
    monkeypatch.setattr(os, "replace", real_replace)
    assert_unchanged(tmp_path, before)


def test_a_checkpoint_write_that_fails_keeps_the_earlier_checkpoints(tmp_path, monkeypatch):
    from accelerate import Accelerator

    real_save_state, calls = Accelerator.save_state, {"count": 0}

    def save_state_until_the_disk_is_full(self, output_dir=None, **kwargs):
        calls["count"] += 1
        if calls["count"] == 2:
            (Path(output_dir) / "partial.bin").parent.mkdir(parents=True, exist_ok=True)
            (Path(output_dir) / "partial.bin").write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save_state(self, output_dir, **kwargs)

    monkeypatch.setattr(Accelerator, "save_state", save_state_until_the_disk_is_full)
    with pytest.raises(OSError, match=r"Writing checkpoint .*step_4 failed .*earlier checkpoints .* are intact"):
        run_search(SearchConfig(output_dir=str(tmp_path), max_steps=6, checkpointing_steps=2, **TINY))
    assert latest_checkpoint(tmp_path).name == "step_2"
    assert (latest_checkpoint(tmp_path) / "model.safetensors").is_file()
    monkeypatch.setattr(Accelerator, "save_state", real_save_state)
    resumed = run_search(SearchConfig(output_dir=str(tmp_path), max_steps=6, checkpointing_steps=2,
                                      resume_from_checkpoint="latest", **TINY))  # fmt: skip
    assert resumed.search_info["steps"] == 6


def test_a_failed_push_keeps_the_local_policy_and_says_how_to_retry(tmp_path, hub, monkeypatch):
    from huggingface_hub import HfApi

    def unreachable(self, **kwargs):
        raise ConnectionError("the Hub is unreachable")

    monkeypatch.setattr(HfApi, "upload_folder", unreachable)
    with pytest.raises(
        RuntimeError, match=r"saved in .*, but pushing it to the Hub repo someone/digits failed"
    ) as error:
        run_search(SearchConfig(output_dir=str(tmp_path), max_steps=2, push_to_hub=True, hub_model_id="someone/digits",
                                **TINY))  # fmt: skip
    assert "upload_folder(repo_id='someone/digits'" in str(error.value)
    assert FasterAutoAugmentPolicy.from_pretrained(tmp_path).search_info["steps"] == 2


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.slow
def test_killed_at_random_moments_and_resumed_ends_as_the_uninterrupted_search(tmp_path):
    """SIGKILL three times, each a random 0-0.4 s after a new checkpoint appeared (with a checkpoint every
    step, that lands in steps and in checkpoint writes), resume with 'latest' each time: the final policy,
    the skip counts and the log equal those of a run never interrupted."""
    images = [png(Image.new("L", (12, 12), (index * 37) % 256)) for index in range(48)]
    images[5] = b"corrupt"
    dataset = datasets.Dataset.from_dict({"image": images, "label": [index % 3 for index in range(48)]})
    dataset.cast_column("image", datasets.Image()).save_to_disk(str(tmp_path / "data"))
    flags = ["--dataset_name", str(tmp_path / "data"), "--image_size", "12", "--per_device_train_batch_size", "16",
             "--num_sub_policies", "3", "--max_steps", "12", "--checkpointing_steps", "1", "--logging_steps", "2",
             "--critic_warmup_steps", "1", "--calibration", "none", "--operation_check", "false",
             "--policy_candidates", "none"]  # fmt: skip
    search = [sys.executable, str(REPO / "scripts" / "search.py"), *flags]
    subprocess.run([*search, "--output_dir", str(tmp_path / "uninterrupted")], check=True, capture_output=True)

    out, rng, kills = tmp_path / "killed", random.Random(0), 0
    for _ in range(3):
        before = latest_checkpoint(out)
        resume = ["--resume_from_checkpoint", "latest"] if before else []
        process = subprocess.Popen([*search, "--output_dir", str(out), *resume], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 120
        while process.poll() is None and latest_checkpoint(out) == before and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.4))
        if process.poll() is None:
            process.kill()
            kills += 1
        process.wait()
    assert kills >= 2
    subprocess.run([*search, "--output_dir", str(out), "--resume_from_checkpoint", "latest"], check=True,
                   capture_output=True)  # fmt: skip

    expected, resumed = load_file(tmp_path / "uninterrupted" / WEIGHTS_NAME), load_file(out / WEIGHTS_NAME)
    for name, tensor in expected.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=0, atol=1e-6)
    folders = (tmp_path / "uninterrupted", out)
    infos = [json.loads((folder / CONFIG_NAME).read_text())["search_info"] for folder in folders]
    assert infos[0]["skipped_images"] == infos[1]["skipped_images"] > 0
    logs = [[json.loads(line)["step"] for line in (folder / "search_log.jsonl").read_text().splitlines()]
            for folder in folders]  # fmt: skip
    assert logs[0] == logs[1] == [2, 4, 6, 8, 10, 12]


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["raise", "kill"])
def test_one_failing_process_ends_a_two_process_search_quickly(tmp_path, fault):
    start = time.monotonic()
    result = launch_two_cpu_processes("search_with_a_failing_rank.py", str(tmp_path / "out"), fault, timeout=180)
    assert result.returncode != 0
    assert time.monotonic() - start < 120  # startup included; the collective timeout (600 s) is never reached
    if fault == "raise":
        assert "rank 1 could not read its shard (injected fault)" in result.stderr
    else:
        assert "Signal 9" in result.stderr or "SIGKILL" in result.stderr, result.stderr[-2000:]
