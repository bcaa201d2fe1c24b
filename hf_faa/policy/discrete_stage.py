"""One stage of the discrete (eval-mode) forward: each image's chosen op, ops that share a kernel fused.

Running an op on its images costs a few dozen small tensor operations whatever their number, which
at 32x32 outweighs the pixel work. So the affine ops of a stage (shears, translations, rotation) run
as one warp of all their images, each by its own matrix, and on uint8 images the ops that are lookup
tables (pointwise and histogram ops) run as one gather; the other ops run one at a time. Random draws
are taken in the order of the policy's operations: first the signs of every signed op's images (all in
one draw), then the random ops' own draws (cutout positions, elastic fields), op by op. Where the random
ops (Cutout, Elastic) come after the signed ones, as in the registry's order, the images come out as if
each op had run on its own images in turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor

from ..ops import Operation, affine_warp, apply_lookup_tables
from ..ops.base import constant, on_unit_floats, random_signs
from ..ops.lookup import LEVELS, table_levels
from .grouping import row_chunks, rows_by_value, rows_per_chunk, write_rows

# each of the policy's operations with its value range (None: no magnitude)
OperationSpecs = Sequence[tuple[Operation, tuple[float, float] | None]]


@dataclass
class _FusedRows:
    """Rows of a batch gathered from several ops, each with its per-image parameters (matrices, tables)."""

    rows: list[Tensor] = field(default_factory=list)
    parameters: list[Tensor] = field(default_factory=list)

    def add(self, rows: Tensor, parameters: Tensor) -> None:
        self.rows.append(rows)
        self.parameters.append(parameters)

    def chunks(self, size: int) -> list[tuple[Tensor, Tensor]]:
        """All rows and their parameters together, in pieces of at most ``size`` rows."""
        if not self.rows:
            return []
        rows, parameters = torch.cat(self.rows), torch.cat(self.parameters)
        return list(zip(row_chunks(rows, size), row_chunks(parameters, size), strict=True))


def native_values(
    op_index: Tensor,
    magnitude: Tensor,
    groups: list[tuple[int, Tensor]],
    operations: OperationSpecs,
    like: Tensor,
    generator: torch.Generator | None,
) -> Tensor:
    """Each image's parameter ``[B]`` in its op's units: its magnitude mapped onto the op's value range
    (as :meth:`Operation.value`, for all ops at once), with one random sign per image of a signed op,
    drawn for all of them at once in the order of ``groups`` (:func:`rows_by_value` of ``op_index``)."""
    dtype = like.dtype if like.is_floating_point() else torch.float32
    ranges = [value_range or (0.0, 0.0) for _, value_range in operations]
    lows = constant(tuple(low for low, _ in ranges), dtype, like.device)
    spans = constant(tuple(high - low for low, high in ranges), dtype, like.device)
    index = op_index.clamp(min=0)
    values = lows[index] + magnitude.to(dtype).clamp(0, 1) * spans[index]
    signed = [rows for op, rows in groups if operations[op][0].signed]
    if signed:
        rows = torch.cat(signed)
        values[rows] *= random_signs(len(rows), values, generator)
    return values


def apply_discrete_stage(
    images: Tensor,
    op_index: Tensor,
    magnitude: Tensor,
    operations: OperationSpecs,
    generator: torch.Generator | None,
) -> Tensor:
    """Apply ``operations[op_index[i]]`` (an op and its value range; -1: none) at ``magnitude[i]`` to image
    ``i`` of ``images`` ``[B, C, H, W]``, in place (the caller owns the batch; run under ``no_grad``).

    On CPU the ops take chunks of rows (:func:`~hf_faa.policy.grouping.rows_per_chunk`).
    """
    height, width = images.shape[-2:]
    chunk_size = rows_per_chunk(images)
    groups = rows_by_value(op_index)
    values = native_values(op_index, magnitude, groups, operations, images, generator)
    warps, lookups = _FusedRows(), _FusedRows()
    for op, op_rows in groups:
        operation = operations[op][0]
        if operation.affine_matrix is not None:
            warps.add(op_rows, operation.affine_matrix(values[op_rows], height, width))
            continue
        for rows in row_chunks(op_rows, chunk_size):
            chunk = images.index_select(0, rows)
            chunk_values = [values[rows]] if operation.has_magnitude else []
            if images.dtype == torch.uint8 and operation.has_lookup_tables:
                tables = operation.lookup_tables(chunk, chunk_values)
                lookups.add(rows, table_levels(tables).expand(len(rows), images.shape[1], 1, LEVELS))
            else:
                write_rows(images, rows, operation.apply(chunk, chunk_values, generator))
    for rows, matrices in warps.chunks(chunk_size):
        write_rows(images, rows, on_unit_floats(images.index_select(0, rows), partial(affine_warp, matrix=matrices)))
    for rows, tables in lookups.chunks(chunk_size):
        write_rows(images, rows, apply_lookup_tables(images.index_select(0, rows), tables))
    return images
