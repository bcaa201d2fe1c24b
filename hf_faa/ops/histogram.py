"""Histogram operations, per image and channel, as 8-bit lookup tables built from each channel's
levels (one ``bincount`` for the whole batch) and applied with one gather.

On float images both are piecewise constant, so they pass the gradient straight through
(identity), as the official code does.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import needs_gradient, with_surrogate_gradient
from .lookup import LEVELS, apply_lookup_tables, histograms, level_ramp, to_uint8


def _stretch(levels: Tensor, values: Tensor) -> Tensor:
    """``values`` (levels in [0, 1]) stretched so that each channel's range in uint8 ``levels`` ``[B, C, H, W]``
    spans [0, 1], unclamped; a constant channel is left as it is. ``values``: the 256 levels of
    :func:`level_ramp` (giving tables) or the image's own levels."""
    low = levels.amin(dim=(-2, -1), keepdim=True).float()
    span = levels.amax(dim=(-2, -1), keepdim=True).float() - low
    stretches = span > 0
    offset = torch.where(stretches, low / (LEVELS - 1), 0)
    scale = torch.where(stretches, (LEVELS - 1) / span.clamp(min=1), 1)
    return (values - offset) * scale


def autocontrast_tables(images: Tensor) -> Tensor:
    """Tables ``[B, C, 1, 256]`` stretching each channel of uint8 ``images`` to span [0, 1]
    (PIL ``ImageOps.autocontrast``, no cutoff); a constant channel maps through the identity."""
    return _stretch(images, level_ramp(images))


def equalize_tables(images: Tensor) -> Tensor:
    """Tables ``[B, C, 1, 256]`` equalising each channel's histogram of uint8 ``images`` exactly like
    PIL ``ImageOps.equalize``.

    PIL's rule per channel: ``step = (pixels − count of the last non-empty level) // 255``; level ``v``
    maps to ``(pixels below v + step // 2) // step``; a channel with ``step == 0`` is left unchanged.
    """
    height, width = images.shape[-2:]
    histogram = histograms(images)
    last_nonempty = (LEVELS - 1) - (histogram.flip(-1) > 0).long().argmax(dim=-1, keepdim=True)
    step = (height * width - histogram.gather(-1, last_nonempty)) // (LEVELS - 1)
    below = histogram.cumsum(-1) - histogram
    identity = torch.arange(LEVELS, device=images.device).expand_as(histogram)
    table = torch.where(step > 0, ((below + step // 2) // step.clamp(min=1)).clamp(max=LEVELS - 1), identity)
    return (table.float() / (LEVELS - 1)).unsqueeze(2)


def _as_images(levels: Tensor, images: Tensor) -> Tensor:
    """uint8 ``levels`` as floats in [0, 1] of ``images``' dtype, with the identity's gradient to ``images``."""
    mapped = levels.to(images.dtype).div_(LEVELS - 1)
    return with_surrogate_gradient(mapped, images) if needs_gradient(images) else mapped


def autocontrast(images: Tensor) -> Tensor:
    """Stretch each channel of each float image ``[B, C, H, W]`` to span [0, 1] (see :func:`autocontrast_tables`):
    the tables' values, computed on the image's 8-bit levels directly (fewer small kernels)."""
    levels = to_uint8(images.detach())
    stretched = _stretch(levels, levels.float().div_(LEVELS - 1)).clamp_(0, 1)
    return _as_images(to_uint8(stretched, inplace=True), images)


def equalize(images: Tensor) -> Tensor:
    """Equalise each channel's histogram of float images ``[B, C, H, W]`` (see :func:`equalize_tables`)."""
    levels = to_uint8(images.detach())
    return _as_images(apply_lookup_tables(levels, equalize_tables(levels)), images)
