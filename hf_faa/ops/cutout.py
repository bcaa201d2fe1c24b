"""Cutout (DeVries & Taylor, 2017): fill a square at a random position with gray."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import needs_gradient, random_uniform, with_surrogate_gradient

# Mid-gray: what zero becomes once images are normalised with mean 0.5, the value cutout fills.
CUTOUT_FILL = 0.5

# Softness, in pixels, of the box edge that gives the square's size a surrogate gradient.
SOFT_EDGE_PIXELS = 1.0


def _box_mask(coordinates: Tensor, centre: Tensor, half_side: Tensor, soft: bool) -> Tensor:
    """Membership ``[B, N]`` of pixel centres ``coordinates`` ``[N]`` in ``centre ± half_side`` (``[B, 1]`` each)."""
    inside_by = half_side - (coordinates - centre).abs()
    return torch.sigmoid(inside_by / SOFT_EDGE_PIXELS) if soft else (inside_by > 0).to(coordinates.dtype)


def cutout(images: Tensor, side_fraction: Tensor, centres: Tensor) -> Tensor:
    """Fill a square of side ``side_fraction`` ``[B]`` × image size, centred at ``centres`` ``[B, 2]``.

    ``centres`` holds (x, y) as fractions of (width, height); the square is clipped at the borders.
    The image gradient is exact; the side gets the gradient of a box with sigmoid edges.
    """
    height, width = images.shape[-2:]
    rows = (torch.arange(height, device=images.device, dtype=images.dtype) + 0.5).unsqueeze(0)
    columns = (torch.arange(width, device=images.device, dtype=images.dtype) + 0.5).unsqueeze(0)
    centre_x = centres[:, :1].to(images.dtype) * width
    centre_y = centres[:, 1:].to(images.dtype) * height
    half_x = side_fraction.unsqueeze(1) * width / 2
    half_y = side_fraction.unsqueeze(1) * height / 2

    def mask(soft: bool) -> Tensor:
        inside_rows = _box_mask(rows, centre_y, half_y, soft)
        inside_columns = _box_mask(columns, centre_x, half_x, soft)
        return (inside_rows.unsqueeze(2) * inside_columns.unsqueeze(1)).unsqueeze(1)  # [B, 1, H, W]

    fill = images.new_full((1,), CUTOUT_FILL)
    filled = torch.lerp(images, fill, mask(soft=False))
    if not needs_gradient(side_fraction):
        return filled
    relaxed = torch.lerp(images.detach(), fill, mask(soft=True))
    return with_surrogate_gradient(filled, relaxed)


def random_cutout(images: Tensor, side_fraction: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """:func:`cutout` at a uniformly random centre per image (drawn with ``generator``)."""
    return cutout(images, side_fraction, random_uniform((images.shape[0], 2), images, generator))
