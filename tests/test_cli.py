"""What the scripts share (hf_faa.cli): settings files with flag overrides, --help, the package's log
messages, and user mistakes reported in one line without a traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hf_faa.cli import is_user_error, parse_arguments
from hf_faa.search import SearchConfig

REPO = Path(__file__).resolve().parents[1]
TINY_SEARCH = ["--max_train_samples", "64", "--per_device_train_batch_size", "16", "--image_size", "16",
               "--max_steps", "2", "--checkpointing_steps", "2", "--calibration", "none",
               "--critic_warmup_steps", "0", "--operation_check", "false", "--policy_candidates", "none"]  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=REPO)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_flags_after_a_settings_file_override_it(tmp_path, suffix):
    settings = {"max_steps": 7, "critic_depth": 16, "operations": ["Rotate", "Invert"], "learning_rate": 2e-3}
    path = tmp_path / f"search{suffix}"
    path.write_text(json.dumps(settings))  # JSON is valid YAML
    (config,) = parse_arguments(SearchConfig, [str(path), "--max_steps", "3", "--selection", "gumbel"])
    assert (config.max_steps, config.selection) == (3, "gumbel")  # the flags win
    assert (config.critic_depth, config.operations, config.learning_rate) == (16, ["Rotate", "Invert"], 2e-3)


def test_settings_file_errors_name_the_problem(tmp_path):
    (tmp_path / "typo.yaml").write_text("max_step: 7\ncritic_depth: 16\n")
    with pytest.raises(ValueError, match=r"Unknown setting\(s\) \['max_step'\]"):
        parse_arguments(SearchConfig, [str(tmp_path / "typo.yaml")])
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        parse_arguments(SearchConfig, [str(tmp_path / "list.yaml")])
    with pytest.raises(FileNotFoundError, match="missing.yaml does not exist"):
        parse_arguments(SearchConfig, [str(tmp_path / "missing.yaml")])


def test_help_keeps_the_usage_examples_and_shows_each_default_once():
    result = run("scripts/search.py", "--help")
    assert result.returncode == 0
    assert "\n    accelerate launch scripts/search.py --dataset_name uoft-cs/cifar10" in result.stdout
    flag_helps = re.split(r"\n  --", result.stdout)[1:]
    assert len(flag_helps) > 40
    for text in flag_helps:
        assert text.count("(default:") == 1, text


def test_user_mistakes_end_in_one_line_not_a_traceback():
    result = run("scripts/search.py", "--image_size", "4")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: Invalid search setting(s): --image_size 4 (must be at least 8)."
    )
    for dataset in ("./no-such-folder", "nobody/no-such-dataset"):  # a local path; a Hub name, offline
        result = run("scripts/train.py", "--dataset_name", dataset, "--output_dir", "unused")
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert re.match(r"error: .*no-such-(folder|dataset)", result.stderr.strip().splitlines()[-1])


def test_a_value_error_from_inside_torch_is_a_bug_not_a_user_mistake():
    with pytest.raises(ValueError) as inside_torch:
        torch.nn.functional.cross_entropy(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long))
    assert not is_user_error(inside_torch.value)
    with pytest.raises(ValueError) as ours:
        SearchConfig(image_size=4)
    assert is_user_error(ours.value)
    assert is_user_error(FileNotFoundError("no such dataset")) and is_user_error(ConnectionError("offline"))


@pytest.mark.slow
def test_the_search_says_what_it_does_warns_before_replacing_and_confirms_a_resume(tmp_path):
    output = ["--output_dir", str(tmp_path / "policy")]
    first = run("scripts/search.py", *TINY_SEARCH, *output)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Searching on hf-faa embedded MNIST-5k (train, 64 rows): 64 images" in first.stderr
    assert "holds an earlier search" not in first.stderr

    again = run("scripts/search.py", *TINY_SEARCH, *output)
    assert "holds an earlier search" in again.stderr and "--resume_from_checkpoint latest" in again.stderr

    resumed = run("scripts/search.py", *TINY_SEARCH, "--max_steps", "4", "--resume_from_checkpoint", "latest", *output)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert re.search(r"Resumed from \S+step_2 at step 2\.", resumed.stderr)
