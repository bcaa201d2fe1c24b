"""8-bit images through lookup tables.

An op that maps each pixel's level on its own (given per-image values, or per-channel statistics
such as a histogram) is a table of 256 output levels per image and channel. A uint8 batch goes
through such tables with one gather, without a float copy of the image; PIL applies these ops
to 8-bit images the same way (``Image.point``).
"""

from __future__ import annotations

import torch
from torch import Tensor

LEVELS = 256


def level_ramp(like: Tensor) -> Tensor:
    """The 256 levels as floats in [0, 1], one row per image of ``like``: ``[B, 1, 1, 256]``.

    A pointwise op applied to this "image" gives its lookup tables.
    """
    ramp = torch.arange(LEVELS, device=like.device, dtype=torch.float32).div_(LEVELS - 1)
    return ramp.expand(like.shape[0], 1, 1, LEVELS)


def to_uint8(images: Tensor, *, inplace: bool = False) -> Tensor:
    """Floats in [0, 1] -> the nearest 8-bit levels, a new uint8 tensor; ``inplace`` scales and rounds
    in ``images``' memory on the way (saving a float copy)."""
    levels = images.mul_(LEVELS - 1) if inplace else images.mul(LEVELS - 1)
    return levels.round_().to(torch.uint8)


def level_indices(images: Tensor) -> Tensor:
    """uint8 ``[B, C, H, W]`` -> int32 ``[B·C·H·W]``: each level plus 256 × its (image, channel) row.

    These index a flattened ``[B·C, 256]`` table or histogram (int32: an int64 copy of a batch
    costs more than the lookup itself).
    """
    batch, channels = images.shape[:2]
    rows = torch.arange(batch * channels, device=images.device, dtype=torch.int32).view(batch, channels, 1, 1)
    return images.to(torch.int32).add_(rows * LEVELS).flatten()


def histograms(images: Tensor, indices: Tensor | None = None) -> Tensor:
    """Level counts of every channel of every uint8 image ``[B, C, H, W]``: int64 ``[B, C, 256]``
    (``indices``: their :func:`level_indices`, when the caller has them)."""
    batch, channels = images.shape[:2]
    indices = level_indices(images) if indices is None else indices
    counts = torch.bincount(indices, minlength=batch * channels * LEVELS)
    return counts.view(batch, channels, LEVELS)


def table_levels(tables: Tensor) -> Tensor:
    """Lookup tables as uint8 output levels: float tables (values in [0, 1]) clamped and rounded to 8 bits,
    uint8 tables as they are."""
    return tables if tables.dtype == torch.uint8 else to_uint8(tables.clamp(0, 1))


def apply_lookup_tables(images: Tensor, tables: Tensor) -> Tensor:
    """Map every pixel of uint8 ``images`` ``[B, C, H, W]`` through its image's and channel's table.

    ``tables`` (see :func:`table_levels`): ``[B, C, 1, 256]`` or ``[B, 1, 1, 256]`` (one table for all
    channels), e.g. a pointwise op applied to :func:`level_ramp`.
    Returns a new uint8 tensor of the shape of ``images``.
    """
    batch, channels = images.shape[:2]
    flat_tables = table_levels(tables).expand(batch, channels, 1, LEVELS).reshape(-1)
    return flat_tables.index_select(0, level_indices(images)).view(images.shape)
