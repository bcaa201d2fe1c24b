"""Checks on what a policy is built or loaded from: constructor arguments, config files and weight tensors.
Every failure is a ``ValueError`` (or ``FileNotFoundError``) that names the file and the field."""

from __future__ import annotations

import json
import math
import os
import warnings
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


def validate_config(operations, num_sub_policies, operation_count, temperature, magnitude_sampling, selection,
                     apply_temperature, magnitude_ranges) -> None:  # fmt: skip
    if not isinstance(operations, list | tuple) or not all(isinstance(name, str) for name in operations):
        raise ValueError(f"operations must be a list of op names, got {_short_repr(operations)}.")
    unknown = [name for name in operations if name not in OPERATIONS]
    if unknown:
        raise ValueError(f"Unknown operation(s) {_short_repr(unknown)}; available: {', '.join(OPERATIONS)}.")
    if not operations or len(set(operations)) != len(operations):
        raise ValueError(f"operations must be a non-empty list of distinct op names, got {operations}.")
    for name, value in (("num_sub_policies", num_sub_policies), ("operation_count", operation_count)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    for name, value in (("temperature", temperature), ("apply_temperature", apply_temperature)):
        if not _is_real(value) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {_short_repr(value)}.")
    if magnitude_sampling not in MAGNITUDE_SAMPLINGS:
        raise ValueError(
            f"magnitude_sampling must be one of {MAGNITUDE_SAMPLINGS}, got {_short_repr(magnitude_sampling)}."
        )
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {_short_repr(selection)}.")
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


REQUIRED_CONFIG_FIELDS = ("operations", "num_sub_policies", "operation_count", "temperature", "magnitude_sampling",
                          "selection", "apply_temperature", "magnitude_ranges")  # fmt: skip


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


def checked_config(config: dict, source: str) -> dict[str, Any]:
    """The constructor arguments in a loaded config, checked (types and values) before anything is built:
    every field that shapes the policy must be there; unknown fields are ignored with a warning."""
    if not isinstance(config, dict):
        raise ValueError(f"{source} must hold a JSON object, got {type(config).__name__}.")
    missing = [name for name in REQUIRED_CONFIG_FIELDS if name not in config]
    if missing:
        raise ValueError(
            f"{source} is missing field(s) {missing}; it was not written by hf-faa or was edited. "
            "Save the policy again with FasterAutoAugmentPolicy.save_pretrained()."
        )
    known = set(REQUIRED_CONFIG_FIELDS) | {"search_info"}
    unknown = sorted(set(config) - known)
    if unknown:
        warnings.warn(f"{source}: ignoring unknown field(s) {unknown} (written by a newer hf-faa?).", stacklevel=3)
    settings = {name: config[name] for name in known if name in config}
    try:
        validate_config(**{name: settings[name] for name in REQUIRED_CONFIG_FIELDS})
        if not isinstance(settings.get("search_info", {}), dict):
            raise ValueError(f"search_info must be a JSON object, got {type(settings['search_info']).__name__}.")
    except ValueError as error:
        raise ValueError(f"{source} holds an invalid policy config: {error}") from error
    return settings


def read_safetensors(path: str) -> dict[str, Tensor]:
    try:
        return safetensors.torch.load_file(path)
    except (safetensors.SafetensorError, OSError, ValueError) as error:
        raise ValueError(
            f"{path} is not a readable safetensors file ({error}); it may be truncated or corrupted: "
            "download or save the policy again."
        ) from error


def checked_tensors(tensors: dict[str, Tensor], settings: dict[str, Any], source: str) -> dict[str, Tensor]:
    """``tensors`` if they are exactly the parameters a policy built from ``settings`` has (names, shapes,
    finite floats); any mismatch is a ``ValueError``."""
    shape = (settings["num_sub_policies"], settings["operation_count"], len(settings["operations"]))
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
