"""Elastic distortion (Simard, Steinkraus & Platt, ICDAR 2003): every pixel moved by a smooth random field.

Simard et al. draw a displacement in U(-1, 1) per pixel and axis, smooth the field with a Gaussian of
standard deviation 4 pixels and scale it by 34 pixels, on 28x28 digits. Here both are shares of the image
side: the Gaussian's is :data:`FIELD_SMOOTHING`, the scale is the op's value (34/28 ≈ 1.2 is theirs). The
field is drawn on a grid of :data:`FIELD_GRID` x :data:`FIELD_GRID` points and resized to the image, so its
cost does not grow with the image and a field looks the same at every size.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import random_uniform
from .geometric import pixel_centres

FIELD_SMOOTHING = 4 / 28
FIELD_GRID = 32


def smooth_field(batch: int, height: int, width: int, like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Displacements ``[B, 2, H, W]`` (x, y) in units of the image side: U(-1, 1) noise on a grid of
    :data:`FIELD_GRID` x :data:`FIELD_GRID` points, smoothed along each axis by a Gaussian of :data:`FIELD_SMOOTHING`
    of the side (reflected at the borders), then resized (bilinear) to ``height`` x ``width``."""
    noise = random_uniform((batch, 2, FIELD_GRID, FIELD_GRID), like, generator).mul_(2).sub_(1)
    # smoothing and resizing are linear along each axis: one [size, FIELD_GRID] matrix per axis, a product each side
    rows, columns = _smooth_resize(height, like.dtype, like.device), _smooth_resize(width, like.dtype, like.device)
    return rows @ noise @ columns.t()


@functools.lru_cache(maxsize=64)
def _smooth_resize(size: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``[size, FIELD_GRID]``: the Gaussian smoothing of :func:`smooth_field` along one axis, then a bilinear resize
    to ``size`` points, as one matrix (built by applying both to the identity; read it, never write it)."""
    with torch.inference_mode(False):  # one first built under inference mode could not be saved for a backward later
        sigma = FIELD_SMOOTHING * FIELD_GRID
        radius = math.ceil(3 * sigma)  # under FIELD_GRID, as reflect padding needs
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
        kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
        identity = torch.eye(FIELD_GRID, dtype=torch.float64).unsqueeze(1)  # [FIELD_GRID points, 1, FIELD_GRID]
        smoothed = F.conv1d(F.pad(identity, (radius, radius), mode="reflect"), (kernel / kernel.sum()).view(1, 1, -1))
        resized = F.interpolate(smoothed, size=size, mode="linear", align_corners=False)  # [grid point, 1, size]
        return resized.squeeze(1).t().to(dtype=dtype, device=device)


def elastic(images: Tensor, scale: Tensor, field: Tensor) -> Tensor:
    """Move each pixel of ``images`` ``[B, C, H, W]`` by ``scale`` ``[B]`` x ``field`` ``[B, 2, H, W]`` (units of the
    image side; bilinear, zero fill). Differentiable in ``images`` and ``scale``."""
    _, _, height, width = images.shape
    xs, ys = pixel_centres(width, images), pixel_centres(height, images)
    # normalised coordinates, where the image side spans 2
    moved = field.to(images.dtype) * (2 * scale.to(images.dtype)).view(-1, 1, 1, 1)
    grid = torch.stack((moved[:, 0] + xs.view(1, 1, width), moved[:, 1] + ys.view(1, height, 1)), dim=-1)
    return F.grid_sample(images, grid, padding_mode="zeros", align_corners=False)


def random_elastic(images: Tensor, scale: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """:func:`elastic` by a :func:`smooth_field` drawn with ``generator``."""
    batch, _, height, width = images.shape
    return elastic(images, scale, smooth_field(batch, height, width, images, generator))
