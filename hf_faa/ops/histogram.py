"""Histogram operations, per image and channel, batched through one ``bincount`` for the whole batch.

Both are piecewise constant in the image, so they pass the gradient straight through (identity),
as the official code does.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import with_surrogate_gradient
from .color import to_8bit_levels


def autocontrast(images: Tensor) -> Tensor:
    """Stretch each channel of each image to span [0, 1] (PIL ``ImageOps.autocontrast``, no cutoff).

    A constant channel is left unchanged. ``[B, C, H, W]`` -> ``[B, C, H, W]``.
    """
    levels = to_8bit_levels(images.detach())
    low = levels.amin(dim=(-2, -1), keepdim=True)
    high = levels.amax(dim=(-2, -1), keepdim=True)
    span = high - low
    stretched = torch.where(span > 0, (levels - low) / span.clamp(min=1), levels / 255)
    return with_surrogate_gradient(stretched, images)


def equalize(images: Tensor) -> Tensor:
    """Equalise each channel's histogram exactly like PIL ``ImageOps.equalize``. ``[B, C, H, W]`` in and out.

    PIL's rule per channel: ``step = (pixels − count of the last non-empty level) // 255``; level ``v``
    maps to ``(pixels below v + step // 2) // step``; a channel with ``step == 0`` is left unchanged.
    """
    batch, channels, height, width = images.shape
    levels = to_8bit_levels(images.detach()).long().reshape(batch * channels, height * width)
    rows = levels.shape[0]
    offsets = torch.arange(rows, device=levels.device).unsqueeze(1) * 256
    histogram = torch.bincount((levels + offsets).flatten(), minlength=rows * 256).view(rows, 256)

    last_nonempty = 255 - (histogram.flip(-1) > 0).long().argmax(dim=-1, keepdim=True)
    step = (height * width - histogram.gather(-1, last_nonempty)) // 255
    below = histogram.cumsum(-1) - histogram
    lookup = ((below + step // 2) // step.clamp(min=1)).clamp(max=255)
    equalized = torch.where(step > 0, lookup.gather(-1, levels), levels)
    equalized = equalized.reshape(batch, channels, height, width).to(images.dtype) / 255
    return with_surrogate_gradient(equalized, images)
