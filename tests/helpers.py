"""Helpers several test modules share (imported as ``helpers``: pytest puts ``tests/`` on the path)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import torch

REPO = Path(__file__).resolve().parents[1]


def seeded(seed: int = 0) -> torch.Generator:
    """A fresh CPU generator: every random draw in a test is reproducible."""
    return torch.Generator().manual_seed(seed)


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` as a module (its ``main`` does not run), without touching ``sys.path``."""
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
