"""Geometric operations: one affine warp (``affine_grid`` + ``grid_sample``) for the whole batch.

Each affine op is a per-image matrix (``*_matrix(value [B], height, width) -> [B, 2, 3]``) and the
warp by it, so images that take different affine ops can share one warp.

Coordinates follow PIL's ``Image.transform(..., Image.AFFINE, ...)``: pixel ``i`` covers ``[i, i + 1)``
(its centre is ``i + 0.5``), and a matrix maps each *output* position to the *input* position it
samples. Pixels sampled from outside the image are black (zero fill), as in the official code.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import constant


def affine_warp(images: Tensor, matrix: Tensor) -> Tensor:
    """Warp ``images`` ``[B, C, H, W]`` by per-sample affine maps ``matrix`` ``[B, 2, 3]`` (bilinear, zero fill).

    ``matrix`` is in pixel coordinates: output position ``(x, y)`` samples the input at
    ``matrix @ (x, y, 1)``, PIL's convention. Differentiable in both ``images`` and ``matrix``.
    """
    _, _, height, width = images.shape
    dtype = images.dtype
    # normalised [-1, 1] <-> pixel coordinates (align_corners=False: -1 and 1 are the outer pixel edges)
    to_normalised = constant(((2 / width, 0, -1), (0, 2 / height, -1)), dtype, images.device)
    to_pixels = constant(((width / 2, 0, width / 2), (0, height / 2, height / 2), (0, 0, 1)), dtype, images.device)
    theta = to_normalised @ _homogeneous(matrix.to(dtype)) @ to_pixels
    return F.grid_sample(images, _sampling_grid(theta, height, width), padding_mode="zeros", align_corners=False)


def _sampling_grid(theta: Tensor, height: int, width: int) -> Tensor:
    """``F.affine_grid(theta, ..., align_corners=False)`` ``[B, H, W, 2]`` for ``theta`` ``[B, 2, 3]``.

    The source position of output pixel (x, y) is ``theta[:, :, 0]·x + (theta[:, :, 1]·y + theta[:, :, 2])``:
    a column term plus a row term, so the grid is one broadcast sum. On CPU this is several times faster than
    ``affine_grid``'s matrix product per pixel. The sum fills an x plane and a y plane ``[B, 2, H, W]``, returned
    as a ``[B, H, W, 2]`` view: a broadcast into a trailing dimension of 2 runs 3x slower, and ``grid_sample``
    reads the view as fast as a contiguous grid.
    """
    xs, ys = pixel_centres(width, theta), pixel_centres(height, theta)
    column_term = xs.view(1, 1, 1, width) * theta[:, :, 0, None, None]  # [B, 2, 1, W]
    row_term = torch.addcmul(theta[:, :, 2, None, None], ys.view(1, 1, height, 1), theta[:, :, 1, None, None])
    return (column_term + row_term).permute(0, 2, 3, 1)


def pixel_centres(size: int, like: Tensor) -> Tensor:
    """The ``size`` pixel centres along one axis in ``grid_sample``'s normalised coordinates (``align_corners=False``:
    -1 and 1 are the outer pixel edges), ``(2i + 1) / size - 1``, on ``like``'s device and in its dtype."""
    return torch.linspace(1 / size - 1, 1 - 1 / size, size, device=like.device, dtype=like.dtype)


def _homogeneous(matrix: Tensor) -> Tensor:
    """``[B, 2, 3]`` -> ``[B, 3, 3]`` with a ``(0, 0, 1)`` last row."""
    last_row = constant((0.0, 0.0, 1.0), matrix.dtype, matrix.device).expand(matrix.shape[0], 1, 3)
    return torch.cat([matrix, last_row], dim=1)


def _matrices(a: Tensor, b: Tensor, c: Tensor, d: Tensor, e: Tensor, f: Tensor) -> Tensor:
    """Stack per-sample coefficients ``[B]`` into matrices ``[B, 2, 3]`` = ``[[a, b, c], [d, e, f]]``."""
    return torch.stack([a, b, c, d, e, f], dim=-1).view(-1, 2, 3)


def shear_x_matrix(factor: Tensor, height: int, width: int) -> Tensor:
    """Shear along x about the top-left corner: output ``(x, y)`` samples input ``(x + factor·y, y)``.

    ``factor`` ``[B]`` -> ``[B, 2, 3]``; PIL ``transform(AFFINE, (1, factor, 0, 0, 1, 0))``.
    """
    one, zero = torch.ones_like(factor), torch.zeros_like(factor)
    return _matrices(one, factor, zero, zero, one, zero)


def shear_y_matrix(factor: Tensor, height: int, width: int) -> Tensor:
    """Shear along y about the top-left corner: output ``(x, y)`` samples input ``(x, y + factor·x)``."""
    one, zero = torch.ones_like(factor), torch.zeros_like(factor)
    return _matrices(one, zero, zero, factor, one, zero)


def translate_x_matrix(fraction: Tensor, height: int, width: int) -> Tensor:
    """Shift by ``fraction`` ``[B]`` of the width: output ``(x, y)`` samples input ``(x + fraction·W, y)``."""
    one, zero = torch.ones_like(fraction), torch.zeros_like(fraction)
    return _matrices(one, zero, fraction * width, zero, one, zero)


def translate_y_matrix(fraction: Tensor, height: int, width: int) -> Tensor:
    """Shift by ``fraction`` ``[B]`` of the height: output ``(x, y)`` samples input ``(x, y + fraction·H)``."""
    one, zero = torch.ones_like(fraction), torch.zeros_like(fraction)
    return _matrices(one, zero, zero, zero, one, fraction * height)


def rotate_matrix(degrees: Tensor, height: int, width: int) -> Tensor:
    """Rotate counter-clockwise by ``degrees`` ``[B]`` about the image centre (PIL ``Image.rotate``)."""
    centre_x, centre_y = width / 2, height / 2
    # PIL maps output to input with the inverse rotation, i.e. by -degrees
    radians = degrees * (-math.pi / 180)
    cos, sin = torch.cos(radians), torch.sin(radians)
    offset_x = centre_x - cos * centre_x - sin * centre_y
    offset_y = centre_y + sin * centre_x - cos * centre_y
    return _matrices(cos, sin, offset_x, -sin, cos, offset_y)


def warp_by(matrix_of: Callable[[Tensor, int, int], Tensor]) -> Callable[[Tensor, Tensor], Tensor]:
    """The op ``(images, value) -> images`` that warps by ``matrix_of(value [B], height, width)`` ``[B, 2, 3]``."""

    def warp(images: Tensor, value: Tensor) -> Tensor:
        return affine_warp(images, matrix_of(value, images.shape[-2], images.shape[-1]))

    warp.__name__ = matrix_of.__name__.removesuffix("_matrix")
    warp.__doc__ = f"Warp ``images`` ``[B, C, H, W]`` by :func:`{matrix_of.__name__}` of ``value`` ``[B]``."
    return warp


shear_x = warp_by(shear_x_matrix)
shear_y = warp_by(shear_y_matrix)
translate_x = warp_by(translate_x_matrix)
translate_y = warp_by(translate_y_matrix)
rotate = warp_by(rotate_matrix)


def horizontal_flip(images: Tensor) -> Tensor:
    """Mirror left-right ``[B, C, H, W]`` (an exact permutation, so its gradient is exact too)."""
    return images.flip(-1)


def vertical_flip(images: Tensor) -> Tensor:
    """Mirror top-bottom ``[B, C, H, W]``."""
    return images.flip(-2)
