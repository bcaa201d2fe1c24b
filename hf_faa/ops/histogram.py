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
    span = levels.amax(dim=(-2, -1), keepdim=True) - low
    # per-channel offset and scale; a constant channel maps through the identity (offset 0, scale 1/255)
    stretches = span > 0
    offset = torch.where(stretches, low, 0)
    scale = torch.where(stretches, 1 / span.clamp(min=1), 1 / 255)
    return with_surrogate_gradient((levels - offset) * scale, images)


def equalize(images: Tensor) -> Tensor:
    """Equalise each channel's histogram exactly like PIL ``ImageOps.equalize``. ``[B, C, H, W]`` in and out.

    PIL's rule per channel: ``step = (pixels − count of the last non-empty level) // 255``; level ``v``
    maps to ``(pixels below v + step // 2) // step``; a channel with ``step == 0`` is left unchanged.
    All channels are done at once: one ``bincount`` over levels offset by 256 per channel gives every
    histogram, and one lookup (``take``) maps every pixel through its channel's table.
    """
    batch, channels, height, width = images.shape
    rows = batch * channels
    levels = to_8bit_levels(images.detach()).long().reshape(rows, height * width)
    indices = (levels + torch.arange(rows, device=levels.device).unsqueeze(1) * 256).flatten()
    histogram = torch.bincount(indices, minlength=rows * 256).view(rows, 256)

    last_nonempty = 255 - (histogram.flip(-1) > 0).long().argmax(dim=-1, keepdim=True)
    step = (height * width - histogram.gather(-1, last_nonempty)) // 255
    below = histogram.cumsum(-1) - histogram
    identity = torch.arange(256, device=levels.device).expand(rows, 256)
    table = torch.where(step > 0, ((below + step // 2) // step.clamp(min=1)).clamp(max=255), identity)
    table = table.to(images.dtype) / 255
    equalized = table.flatten().take(indices).view(batch, channels, height, width)
    return with_surrogate_gradient(equalized, images)
