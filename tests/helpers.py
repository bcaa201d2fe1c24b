"""Helpers several test modules share (imported as ``helpers``: pytest puts ``tests/`` on the path)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import torch

from hf_faa.search import SearchConfig

REPO = Path(__file__).resolve().parents[1]
# a search of seconds on 256 embedded digits at 16x16 (tiny_config adds 6 steps)
TINY_SEARCH = {
    "max_train_samples": 256, "image_size": 16, "per_device_train_batch_size": 16, "num_sub_policies": 3,
    "logging_steps": 2, "calibration_epochs": 1, "critic_warmup_steps": 1, "operation_check": False,
    "policy_candidates": [],
}  # fmt: skip


def seeded(seed: int = 0) -> torch.Generator:
    """A fresh CPU generator: every random draw in a test is reproducible."""
    return torch.Generator().manual_seed(seed)


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` as a module (its ``main`` does not run), without touching ``sys.path``."""
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_config(output_dir: str | Path, **overrides) -> SearchConfig:
    """:data:`TINY_SEARCH` for 6 steps into ``output_dir``, with ``overrides``."""
    return SearchConfig(output_dir=str(output_dir), **{**TINY_SEARCH, "max_steps": 6, **overrides})


def launch_two_cpu_processes(script: str, *args: str, timeout: float) -> subprocess.CompletedProcess:
    """``accelerate launch`` of ``tests/scripts/<script>`` with ``args`` as two CPU processes of one thread each.

    They meet on a port that was free a moment ago rather than accelerate's fixed default, so two such tests can run
    at once (``pytest -n 2``)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--main_process_port", str(port), "--mixed_precision", "no",
               "--dynamo_backend", "no", str(REPO / "tests" / "scripts" / script), *args]  # fmt: skip
    environment = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout)
