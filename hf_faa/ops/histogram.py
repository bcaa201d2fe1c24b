"""Histogram operations, per image and channel, as 8-bit lookup tables built from each channel's
levels (one ``bincount`` for the whole batch) and applied with one gather.

On float images both are piecewise constant, so they pass the gradient straight through
(identity), as the official code does.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import needs_gradient, with_surrogate_gradient
from .color import to_8bit_levels
from .lookup import LEVELS, histograms, level_indices, level_ramp, to_uint8


def _stretch_coefficients(low: Tensor, high: Tensor) -> tuple[Tensor, Tensor]:
    """``(offset, scale)`` ``[B, C, 1, 1]`` such that ``(value − offset)·scale`` maps a channel's lowest and
    highest 8-bit levels ``low``, ``high`` (0-255 as floats, ``[B, C, 1, 1]``) to 0 and 1, for the values
    ``level / 255``; a constant channel gets (0, 1), the identity."""
    span = high - low
    stretches = span > 0
    offset = torch.where(stretches, low / (LEVELS - 1), 0)
    scale = torch.where(stretches, (LEVELS - 1) / span.clamp(min=1), 1)
    return offset, scale


def autocontrast_tables(images: Tensor) -> Tensor:
    """Tables ``[B, C, 1, 256]`` stretching each channel of uint8 ``images`` to span [0, 1]
    (PIL ``ImageOps.autocontrast``, no cutoff); a constant channel maps through the identity."""
    low = images.amin(dim=(-2, -1), keepdim=True).float()
    offset, scale = _stretch_coefficients(low, images.amax(dim=(-2, -1), keepdim=True).float())
    return (level_ramp(images) - offset) * scale


def equalize_tables(images: Tensor, indices: Tensor | None = None) -> Tensor:
    """Tables ``[B, C, 1, 256]`` of uint8 levels equalising each channel's histogram of uint8 ``images``
    exactly like PIL ``ImageOps.equalize`` (``indices``: the images' :func:`~hf_faa.ops.lookup.level_indices`,
    when the caller has them).

    PIL's rule per channel: ``step = (pixels − count of the last non-empty level) // 255``; level ``v``
    maps to ``(pixels below v + step // 2) // step``; a channel with ``step == 0`` is left unchanged.
    """
    height, width = images.shape[-2:]
    histogram = histograms(images, indices)
    last_nonempty = images.amax(dim=(-2, -1)).long().unsqueeze(-1)  # [B, C, 1]: the channel's highest level
    step = (height * width - histogram.gather(-1, last_nonempty)) // (LEVELS - 1)
    below = histogram.cumsum(-1) - histogram
    identity = torch.arange(LEVELS, device=images.device).expand_as(histogram)
    table = torch.where(step > 0, ((below + step // 2) // step.clamp(min=1)).clamp(max=LEVELS - 1), identity)
    return table.to(torch.uint8).unsqueeze(2)


def _with_identity_gradient(mapped: Tensor, images: Tensor) -> Tensor:
    """``mapped`` (computed from ``images``' levels), with the identity's gradient to ``images``."""
    return with_surrogate_gradient(mapped, images) if needs_gradient(images) else mapped


def autocontrast(images: Tensor) -> Tensor:
    """Stretch each channel of each float image ``[B, C, H, W]`` to span [0, 1] (see :func:`autocontrast_tables`):
    the tables' values, computed on the image's 8-bit levels in place (fewer small kernels)."""
    detached = images.detach().float()
    # rounding is monotonic: a channel's extreme 8-bit levels are those of its extreme values
    low = to_8bit_levels(detached.amin(dim=(-2, -1), keepdim=True))
    offset, scale = _stretch_coefficients(low, to_8bit_levels(detached.amax(dim=(-2, -1), keepdim=True)))
    stretched = to_8bit_levels(detached).div_(LEVELS - 1).sub_(offset).mul_(scale).clamp_(0, 1)
    mapped = stretched.mul_(LEVELS - 1).round_().div_(LEVELS - 1).to(images.dtype)
    return _with_identity_gradient(mapped, images)


def equalize(images: Tensor) -> Tensor:
    """Equalise each channel's histogram of float images ``[B, C, H, W]`` (see :func:`equalize_tables`): each
    pixel's 8-bit level indexes the histogram and then the tables, made floats first (fewer passes over the images)."""
    levels = to_uint8(images.detach())
    indices = level_indices(levels)
    values = equalize_tables(levels, indices).to(images.dtype).div_(LEVELS - 1).flatten()
    return _with_identity_gradient(values.index_select(0, indices).view(images.shape), images)
