"""The command-line scripts and the examples run as users run them (small flags, offline)."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import textwrap
import types

import pytest
import torch
from helpers import REPO, load_script

from hf_faa import training
from hf_faa.training import train_classifier


def run_script(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_train_script_trains_with_a_policy_and_evaluates_without(tmp_path):
    model_args, data_args, training_args = load_script("train").parse_arguments([
        "--output_dir", str(tmp_path), "--policy", "preset:trivialaugment", "--max_train_samples", "64",
        "--max_eval_samples", "40", "--max_steps", "4", "--per_device_train_batch_size", "16", "--learning_rate",
        "3e-3", "--report_to", "none", "--save_strategy", "no", "--augmentation_seed", "0",
    ])  # fmt: skip
    metrics = train_classifier(model_args, data_args, training_args)
    assert 0 <= metrics["eval_accuracy"] <= 1 and metrics["eval_images"] == 40 and metrics["train_images"] == 64
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "eval_results.json").is_file()


def test_train_script_decoding_once_trains_the_same_model(tmp_path, monkeypatch):
    """--decode_once decodes the 28x28 digits once at the model's 32x32; with the same seeds, the run sees the same
    pixels and augmentations, so its loss and accuracy are those of decoding in every epoch."""
    decoded_splits, decode_once_for_training = [], training.decode_once_for_training

    def decode_and_keep(splits, model_args):
        decoded_splits.append(decode_once_for_training(splits, model_args))
        return decoded_splits[-1]

    monkeypatch.setattr(training, "decode_once_for_training", decode_and_keep)

    def train(*flags: str) -> dict:
        model_args, data_args, training_args = load_script("train").parse_arguments([
            "--output_dir", str(tmp_path), "--policy", "preset:randaugment", "--max_train_samples", "48",
            "--max_eval_samples", "32", "--num_train_epochs", "2", "--per_device_train_batch_size", "16",
            "--report_to", "none", "--save_strategy", "no", "--augmentation_seed", "0", *flags,
        ])  # fmt: skip
        return training.train_classifier(model_args, data_args, training_args)

    lazy, decoded = train(), train("--decode_once")
    (splits,) = decoded_splits
    assert {image.size for split in (splits.train, splits.evaluation) for image in split[splits.image_column]} == {
        (32, 32)
    }
    assert decoded["eval_loss"] == lazy["eval_loss"] and decoded["eval_accuracy"] == lazy["eval_accuracy"]
    assert (decoded["train_images"], decoded["eval_images"]) == (lazy["train_images"], lazy["eval_images"]) == (48, 32)


def test_train_script_runs_from_the_command_line(tmp_path):
    flags = ["--max_train_samples", "32", "--max_eval_samples", "32", "--max_steps", "2", "--report_to", "none"]
    result = run_script("scripts/train.py", "--output_dir", str(tmp_path), "--save_strategy", "no", *flags)
    assert "eval_accuracy" in result.stdout


@pytest.mark.parametrize(
    "example",
    [
        ["examples/trainer_set_transform.py", "--max_steps", "3", "--policy", "preset:autoaugment-svhn"],
        ["examples/custom_loop_accelerate.py", "--max_steps", "3"],
    ],
)
def test_examples_run(example, tmp_path):
    extra = ["--output_dir", str(tmp_path)] if "trainer" in example[0] else []
    result = run_script(*example, *extra)
    assert "accuracy" in result.stdout or "step 3: loss" in result.stdout


@pytest.mark.slow
def test_gpu_check_script_runs_without_a_gpu(tmp_path):
    """scripts/gpu_check.sh's CPU path: the CUDA tests are collected (and skip), the summary benchmark and a
    short end-to-end search run, and one table comes out."""
    # one step of 16 images in the end-to-end search, without the operation check and the policy choice (the paper
    # critic's check would take minutes on a CPU)
    search_args = "--no_operation_check --policy_candidates none --per_device_train_batch_size 16"
    env = {
        **os.environ,
        "GPU_CHECK_SKIP_INSTALL": "1",
        "GPU_CHECK_MIN_SECONDS": "0",
        # the paper critic's bf16 steps ran at about 2 images/s on a CPU without bf16 instructions (session 49)
        "GPU_CHECK_BENCHMARK_ARGS": "--summary_batch_size 4",
        "GPU_CHECK_LOGS": str(tmp_path),
        "GPU_CHECK_TESTS": "tests/test_ops.py",  # its CUDA cases: one file is enough here
        "GPU_CHECK_SEARCH_SAMPLES": "16",
        "GPU_CHECK_SEARCH_EPOCHS": "1",
        "GPU_CHECK_SEARCH_ARGS": search_args,
        "PYTHON": sys.executable,
    }
    result = subprocess.run(["bash", "scripts/gpu_check.sh"], capture_output=True, text=True, timeout=600, cwd=REPO,
                            env=env)  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert table[0] == "| what | measured |"
    assert re.search(r"\| CUDA tests \(pytest -k cuda\) \| \d+ (passed|skipped)", result.stdout)
    assert re.search(r"\| projected paper CIFAR-10 search \(80,000 images\), bf16 autocast, batch 4 \| [\d.]+ h",
                     result.stdout)  # fmt: skip
    assert sum("policy eval" in line for line in table) == 2
    assert sum(line.startswith("| search step, WRN-40-2 critic") and ", batch 4 |" in line for line in table) == 2
    row = rf"\| end-to-end search, embedded MNIST, 16 images x 1 epochs, WRN-40-2, bf16, {re.escape(search_args)} \| "
    assert re.search(row + r"\d+ s in all: search loop \d+ s \|", result.stdout)
    assert (tmp_path / "tests.log").is_file() and (tmp_path / "benchmark.log").is_file()


def test_benchmark_compare_section_says_how_to_get_kornia_when_it_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "kornia", None)  # import kornia now raises ImportError
    benchmark = load_script("benchmark")
    assert benchmark.parse_args(["--compare"]).compare
    assert "pip install hf-faa[benchmark]" in benchmark.benchmark_kornia([32], 8, 0.01, "cpu")


def test_benchmark_compare_section_times_each_preset_on_floats_and_uint8_against_kornia():
    pytest.importorskip("kornia")
    benchmark = load_script("benchmark")
    table = benchmark.benchmark_kornia([16], 8, 0.001, "cpu", rounds=1).splitlines()
    assert "hf-faa vs kornia" in table[0] and "hf-faa uint8 vs kornia" in table[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert [row[0] for row in rows] == list(benchmark.KORNIA_PRESETS)
    for row in rows:
        ours, kornia, ratio, ours_uint8, uint8_ratio = (float(cell.rstrip("x").replace(",", "")) for cell in row[2:])
        assert ours > 0 and kornia > 0 and ours_uint8 > 0
        assert ratio == pytest.approx(ours / kornia, rel=0.05, abs=0.01)
        assert uint8_ratio == pytest.approx(ours_uint8 / kornia, rel=0.05, abs=0.01)


# A stand-in for the official code's faster_autoaugment/policy.py: its Policy class and the factory the section calls.
FAKE_OFFICIAL_POLICY = """
import torch

class Policy(torch.nn.Module):
    def __init__(self, **settings):
        super().__init__()
        self.settings = settings
        self.weight = torch.nn.Parameter(torch.ones(()))

    def forward(self, input):
        return input * self.weight

    @staticmethod
    def faster_auto_augment_policy(**settings):
        return Policy(**settings)
"""


def fake_official_code(root) -> str:
    (root / "faster_autoaugment").mkdir()
    (root / "faster_autoaugment" / "policy.py").write_text(textwrap.dedent(FAKE_OFFICIAL_POLICY))
    return str(root)


def fake_kornia(monkeypatch) -> types.ModuleType:
    """A kornia that exports the official code's functions only from their current modules."""
    modules = {name: types.ModuleType(name) for name in ("kornia", "kornia.geometry", "kornia.geometry.transform",
                                                          "kornia.color")}  # fmt: skip
    for name, module in load_script("benchmark").DDA_KORNIA_NAMES.items():
        setattr(modules[f"kornia.{module}"], name, lambda *args, name=name: name)
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return modules["kornia"]


def test_benchmark_dda_section_says_where_to_get_the_official_code(tmp_path):
    benchmark = load_script("benchmark")
    assert benchmark.parse_args(["--sections", "dda", "--dda_path", "x"]).dda_path == "x"
    for path in (None, str(tmp_path)):
        assert "git clone https://github.com/moskomule/dda" in benchmark.benchmark_dda(path, 0.01)


def test_benchmark_dda_section_builds_the_official_search_policy_with_kornia_names_aliased(tmp_path, monkeypatch):
    kornia = fake_kornia(monkeypatch)
    monkeypatch.setattr(sys, "path", list(sys.path))
    benchmark = load_script("benchmark")
    policy = benchmark.official_policy(fake_official_code(tmp_path))
    assert policy.settings == {"num_sub_policies": 10, "temperature": 0.05, "operation_count": 2, "num_chunks": 8}
    assert kornia.shear() == "shear" and kornia.hsv_to_rgb() == "hsv_to_rgb"  # its kornia 0.3 top-level names
    assert str(tmp_path) in sys.path  # for its `from dda.operations import *`


def test_benchmark_dda_section_times_both_policies_in_turns_with_ratios(tmp_path, monkeypatch):
    fake_kornia(monkeypatch)
    monkeypatch.setattr(sys, "path", list(sys.path))
    benchmark = load_script("benchmark")
    table = benchmark.benchmark_dda(fake_official_code(tmp_path), 0.001, rounds=1).splitlines()
    assert table[0] == "| policy, batch 128 x 3x32x32 (float32) | img/s | vs the official code |"
    rows = {row[0]: row[1:] for row in ([cell.strip() for cell in line.strip("|").split("|")] for line in table[2:])}
    assert list(rows) == ["relaxed forward+backward, ours weighted", "relaxed forward+backward, ours gumbel",
                          "relaxed forward+backward, official (weighted)", "eval mode, ours (per-image choices)",
                          "eval mode, official (per-chunk choices)"]  # fmt: skip
    rates = {name: float(rate.replace(",", "")) for name, (rate, _) in rows.items()}
    for name, (_, ratio) in rows.items():
        baseline = "eval mode, official (per-chunk choices)" if name.startswith("eval") else (
            "relaxed forward+backward, official (weighted)")  # fmt: skip
        assert float(ratio.rstrip("x")) == pytest.approx(rates[name] / rates[baseline], rel=0.05, abs=0.01)


# Stand-ins for the official faster_autoaugment/search.py and utils.py: their module-level imports from homura, hydra
# and the folder's own modules, the Discriminator, and an AdvTrainer.wgan_loss that records what it is given.
FAKE_OFFICIAL_SEARCH = """
import homura
import hydra
import torch
from homura import trainers, TensorMap, optim, callbacks
from homura.vision import DATASET_REGISTRY

from policy import Policy
from utils import Config, MODEL_REGISTRY

CALLS = []


class Discriminator(torch.nn.Module):
    def __init__(self, base_module):
        super().__init__()
        self.base_model = base_module
        num_features = self.base_model.fc.in_features
        self.base_model.fc = torch.nn.Identity()
        self.discriminator = torch.nn.Linear(num_features, 1)

    def forward(self, input):
        x = self.base_model(input)
        return x, self.discriminator(x).view(-1)


class AdvTrainer(trainers.TrainerBase):
    def wgan_loss(self, n_input, n_target, a_input, a_target):
        CALLS.append((n_input.clone(), n_target, a_input.clone(), a_target, self.cfg))
        self.model["main"].zero_grad()
        self.model["main"](torch.cat([n_input, self.model["policy"](a_input)]))[1].mean().backward()
        self.optimizer["main"].step()
        a_input.mul_(0.5).add_(0.5)  # the official code denormalises its augmented half in place


@hydra.main("config/search.yaml")
def main(cfg):
    pass
"""
FAKE_OFFICIAL_UTILS = """
from dataclasses import dataclass

from homura.vision import MODEL_REGISTRY
from homura.vision.models.classification.wideresnet import WideResNet


@dataclass
class Config:
    gpu: int
    seed: int


@MODEL_REGISTRY.register
def wrn40_2(num_classes=10):
    return WideResNet(depth=40, widen_factor=2, num_classes=num_classes)
"""


def fake_official_search(root) -> str:
    fake_official_code(root)
    (root / "faster_autoaugment" / "search.py").write_text(textwrap.dedent(FAKE_OFFICIAL_SEARCH))
    (root / "faster_autoaugment" / "utils.py").write_text(textwrap.dedent(FAKE_OFFICIAL_UTILS))
    return str(root)


def test_benchmark_dda_step_section_runs_the_official_step_with_stand_ins_for_homura_and_hydra(tmp_path, monkeypatch):
    fake_kornia(monkeypatch)
    monkeypatch.setattr(sys, "path", list(sys.path))
    benchmark = load_script("benchmark")
    assert benchmark.benchmark_dda_step(str(tmp_path), 0.01) == benchmark.MISSING_OFFICIAL_CODE
    loaded, load = [], benchmark.official_search_module
    monkeypatch.setattr(benchmark, "official_search_module", lambda path: loaded.append(load(path)) or loaded[-1])
    images, labels = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8), torch.tensor([0, 1, 2, 3])
    step = benchmark.official_search_step(fake_official_search(tmp_path), 10, 1, images, labels)
    # no stand-in, nor the official folder's policy or utils, outlives the import
    assert not [name for name in sys.modules if name.split(".")[0] in ("homura", "hydra", "policy", "utils")]
    step()
    step()
    normalized = images.float() / 127.5 - 1  # the official loader's [-1, 1]
    for real, real_labels, augmented, augmented_labels, settings in loaded[0].CALLS:
        torch.testing.assert_close(real, normalized[2:])
        torch.testing.assert_close(augmented, normalized[:2])  # a fresh copy each step: the in-place change is gone
        assert real_labels.tolist() == [2, 3] and augmented_labels.tolist() == [0, 1]
        assert (settings.cls_factor, settings.gp_factor) == (0.1, 10)
    assert len(loaded[0].CALLS) == 2


def test_benchmark_dda_step_section_times_both_steps_in_turns_with_ratios(tmp_path, monkeypatch):
    fake_kornia(monkeypatch)
    monkeypatch.setattr(sys, "path", list(sys.path))
    benchmark = load_script("benchmark")
    # aot_eager traces as inductor does (through aot_autograd, which refuses a double backward) but compiles nothing
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    table = benchmark.benchmark_dda_step(fake_official_search(tmp_path), 0.001, critic=(10, 1), rounds=1,
                                         batch_size=16).splitlines()  # fmt: skip
    assert table[0] == "| search step, WRN-10-1 critic, batch 8 + 8 x 3x32x32 | img/s | vs the official code |"
    rows = {row[0]: row[1:] for row in ([cell.strip() for cell in line.strip("|").split("|")] for line in table[2:])}
    every, quarter = "penalty on every pair", "penalty on 0.25 of the pairs"
    assert list(rows) == ["official (fp32)", f"ours (fp32, {every})", f"ours (fp32, channels_last, {every})",
                          f"ours (bf16 autocast, channels_last, {every})", f"ours (fp32, compiled critic, {every})",
                          f"ours (bf16 autocast, channels_last, compiled critic, {every})",
                          f"ours (fp32, {quarter})", f"ours (fp32, compiled critic, {quarter})",
                          f"ours (bf16 autocast, channels_last, compiled critic, {quarter})"]  # fmt: skip
    rates = {name: float(rate.replace(",", "")) for name, (rate, _) in rows.items()}
    for name, (_, ratio) in rows.items():
        assert float(ratio.rstrip("x")) == pytest.approx(rates[name] / rates["official (fp32)"], rel=0.05, abs=0.01)


def test_benchmark_scaling_section_times_each_batch_and_reports_why_compile_failed(monkeypatch):
    benchmark = load_script("benchmark")
    calls = []

    def fake_rate(depth, width, selection, channels_last, dtype, min_seconds, batch_size, compile_critic):
        calls.append((depth, width, selection, dtype, batch_size, compile_critic))
        if compile_critic:
            raise RuntimeError("aot_autograd does not currently support double backward\nmore")
        return 10.0 * batch_size

    monkeypatch.setattr(benchmark, "search_step_rate", fake_rate)
    rows = [line.split("|")[1:-1] for line in benchmark.benchmark_scaling(0.01, [128, 512]).splitlines()[2:]]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["128", "no", "1,280.0"], ["512", "no", "5,120.0"],
        ["128", "yes", "fails: RuntimeError: aot_autograd does not currently support double backward"],
    ]  # fmt: skip
    assert {call[:4] for call in calls} == {(40, 2, "weighted", benchmark.torch.bfloat16)}  # the paper's, in bf16
    assert benchmark.parse_args([]).search_batch_sizes == [128, 512, 2048]


def test_benchmark_optimizer_section_times_every_adam_implementation_on_both_critics():
    benchmark = load_script("benchmark")
    table = benchmark.benchmark_optimizer(0.001, "cpu").splitlines()
    assert "Adam step, default (ms)" in table[0] and "fused (ms)" in table[0]
    rows = [line.strip("|").split("|") for line in table[2:]]
    assert [row[0].strip() for row in rows] == list(benchmark.CRITICS)
    assert [row[1].strip() for row in rows] == ["0.08M", "2.26M"]  # WRN-10-1 and the paper's WRN-40-2
    for row in rows:
        milliseconds = [float(cell) for cell in row[2:5]]
        assert all(value > 0 for value in milliseconds)
        assert float(row[5].strip().removesuffix("x")) == pytest.approx(milliseconds[0] / milliseconds[2], rel=0.1)
