"""Checks on what a policy is built or loaded from: constructor arguments, config files and weight tensors.
Every failure is a ``ValueError`` (or ``FileNotFoundError``) that names the file and the field."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import EntryNotFoundError
from torch import Tensor, nn

from ..ops import OPERATIONS
from .constants import CONFIG_NAME, MAGNITUDE_SAMPLINGS, PARAMETER_NAMES, SELECTIONS


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _short_repr(value: Any, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters: error messages stay readable for hostile values."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def validate_config(settings: Any) -> None:
    """Raise ``ValueError`` naming the field unless ``settings`` (a :class:`PolicyConfig`) holds valid values."""
    operations, magnitude_ranges = settings.operations, settings.magnitude_ranges
    if not isinstance(operations, list | tuple) or not all(isinstance(name, str) for name in operations):
        raise ValueError(f"operations must be a list of op names, got {_short_repr(operations)}.")
    unknown = [name for name in operations if name not in OPERATIONS]
    if unknown:
        raise ValueError(f"Unknown operation(s) {_short_repr(unknown)}; available: {', '.join(OPERATIONS)}.")
    if not operations or len(set(operations)) != len(operations):
        raise ValueError(f"operations must be a non-empty list of distinct op names, got {operations}.")
    for name in ("num_sub_policies", "operation_count"):
        value = getattr(settings, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    for name in ("temperature", "apply_temperature"):
        value = getattr(settings, name)
        if not _is_real(value) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {_short_repr(value)}.")
    if settings.magnitude_sampling not in MAGNITUDE_SAMPLINGS:
        raise ValueError(
            f"magnitude_sampling must be one of {MAGNITUDE_SAMPLINGS}, got {_short_repr(settings.magnitude_sampling)}."
        )
    if settings.selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {_short_repr(settings.selection)}.")
    if not isinstance(settings.search_info, dict):
        raise ValueError(f"search_info must be a JSON object, got {type(settings.search_info).__name__}.")
    if not isinstance(magnitude_ranges, dict):
        raise ValueError(f"magnitude_ranges must map op names to [low, high], got {_short_repr(magnitude_ranges)}.")
    for name, bounds in magnitude_ranges.items():
        if name not in operations or not OPERATIONS[name].has_magnitude:
            raise ValueError(
                f"magnitude_ranges names {_short_repr(name)}, which is not an operation of this policy with a "
                "magnitude."
            )
        numbers = isinstance(bounds, list | tuple) and all(_is_real(value) for value in bounds)
        if not numbers or len(bounds) != 2 or not all(math.isfinite(value) for value in bounds):
            raise ValueError(f"magnitude_ranges[{name!r}] must be [low, high], got {_short_repr(bounds)}.")


def check_config_file(name_or_path: str | Path, download_kwargs: dict[str, Any]) -> None:
    """Read ``config.json`` (a folder's, or the Hub repo's, downloaded once into the cache) and raise a
    ``ValueError`` naming it unless it holds one JSON object; a missing file is left to the load to report."""
    if os.path.isdir(name_or_path):
        path = Path(name_or_path) / CONFIG_NAME
        if not path.is_file():
            return
    else:
        options = ("revision", "cache_dir", "force_download", "token", "local_files_only")
        chosen = {key: download_kwargs[key] for key in options if key in download_kwargs}
        try:
            path = Path(hf_hub_download(str(name_or_path), CONFIG_NAME, **chosen))
        except EntryNotFoundError:
            return
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{path} is not valid JSON ({type(error).__name__}: {str(error)[:200]}).") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(config).__name__}.")


def read_safetensors(path: str) -> dict[str, Tensor]:
    try:
        return safetensors.torch.load_file(path)
    except (safetensors.SafetensorError, OSError, ValueError) as error:
        raise ValueError(
            f"{path} is not a readable safetensors file ({error}); it may be truncated or corrupted: "
            "download or save the policy again."
        ) from error


def checked_tensors(tensors: dict[str, Tensor], settings: Any, source: str) -> dict[str, Tensor]:
    """``tensors`` if they are exactly the parameters a policy built from ``settings`` (a
    :class:`PolicyConfig`) has (names, shapes, finite floats); any mismatch is a ``ValueError``."""
    shape = (settings.num_sub_policies, settings.operation_count, len(settings.operations))
    missing = sorted(set(PARAMETER_NAMES) - set(tensors))
    unexpected = sorted(set(tensors) - set(PARAMETER_NAMES))
    if missing or unexpected:
        raise ValueError(
            f"{source} does not match the policy config: missing tensors {missing}, unexpected tensors {unexpected}."
        )
    for name in PARAMETER_NAMES:
        tensor = tensors[name]
        if tuple(tensor.shape) != shape:
            raise ValueError(
                f"{source} does not match the policy config: tensor {name!r} has shape {list(tensor.shape)}, but "
                f"the config (num_sub_policies, operation_count, number of operations) needs {list(shape)}."
            )
        if not tensor.is_floating_point() or not torch.isfinite(tensor).all():
            raise ValueError(f"{source}: tensor {name!r} must hold finite floats.")
    return tensors


@torch.no_grad()
def copy_parameters(policy: nn.Module, tensors: dict[str, Tensor]) -> None:
    """Copy checked ``tensors`` into the policy's parameters of the same names."""
    for name in PARAMETER_NAMES:
        getattr(policy, name).copy_(tensors[name])
