"""One stage of the discrete (eval-mode) forward: each image's chosen op, ops that share a kernel fused.

Running an op on its images costs a few dozen small tensor operations whatever their number, which
at 32x32 outweighs the pixel work. So the affine ops of a stage (shears, translations, rotation) run
as one warp of all their images, each by its own matrix, and on uint8 images the ops that are lookup
tables (pointwise and histogram ops) run as one gather; the other ops run one at a time. Random draws
(signs, cutout positions) are taken op by op in the order of the policy's operations, so the images
come out as if each op had run on its own images in turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor

from ..ops import Operation, affine_warp, apply_lookup_tables
from ..ops.base import on_unit_floats
from ..ops.lookup import LEVELS
from .grouping import rows_by_value, rows_per_chunk, write_rows


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
        return list(zip(rows.split(size), parameters.split(size), strict=True))


def apply_discrete_stage(
    images: Tensor,
    op_index: Tensor,
    magnitude: Tensor,
    operations: Sequence[tuple[Operation, tuple[float, float] | None]],
    generator: torch.Generator | None,
) -> Tensor:
    """Apply ``operations[op_index[i]]`` (an op and its value range; -1: none) at ``magnitude[i]`` to image
    ``i`` of ``images`` ``[B, C, H, W]``, in place (the caller owns the batch; run under ``no_grad``).

    On CPU the ops take chunks of rows (:func:`~hf_faa.policy.grouping.rows_per_chunk`).
    """
    height, width = images.shape[-2:]
    chunk_size = rows_per_chunk(images)
    warps, lookups = _FusedRows(), _FusedRows()
    for op, op_rows in rows_by_value(op_index):
        operation, value_range = operations[op]
        if operation.affine_matrix is not None:
            value = operation.value(magnitude[op_rows], images, generator, value_range)
            warps.add(op_rows, operation.affine_matrix(value, height, width))
            continue
        for rows in op_rows.split(chunk_size):
            chunk = images.index_select(0, rows)
            if images.dtype == torch.uint8 and operation.has_lookup_tables:
                tables = operation.lookup_tables(
                    chunk, operation.values(chunk, magnitude[rows], generator, value_range)
                )
                lookups.add(rows, tables.expand(len(rows), images.shape[1], 1, LEVELS))
            else:
                write_rows(
                    images, rows, operation(chunk, magnitude[rows], generator=generator, value_range=value_range)
                )
    for rows, matrices in warps.chunks(chunk_size):
        write_rows(images, rows, on_unit_floats(images.index_select(0, rows), partial(affine_warp, matrix=matrices)))
    for rows, tables in lookups.chunks(chunk_size):
        write_rows(images, rows, apply_lookup_tables(images.index_select(0, rows), tables))
    return images
