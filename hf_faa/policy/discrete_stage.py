"""One stage of the discrete (eval-mode) forward: each image's chosen op, ops that share a kernel fused.

Running an op on its images costs a few dozen small tensor operations whatever their number, which
at 32x32 outweighs the pixel work. So the affine ops of a stage (shears, translations, rotation) run
as one warp of all their images, each by its own matrix, and on uint8 images the ops that are lookup
tables (pointwise and histogram ops) run as one gather; the other ops run one at a time. On small CPU
images, whose ops are each too small for torch to split over its threads, a stage with more than one
thread gathers the images it transforms once, sorted by op, runs the warp, the table gather and the
other ops on their contiguous slices over two threads (:mod:`~hf_faa.policy.second_thread`) and
scatters them back once. Random draws are taken in the order of the policy's operations: first the
signs of every signed op's images (all in one draw), then the cutout positions. Where the random ops
(Cutout) come after the signed ones, as in the default order, the images come out as if each op had
run on its own images in turn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor

from ..ops import Operation, affine_warp, apply_lookup_tables
from ..ops.base import constant, on_unit_floats, random_signs
from ..ops.lookup import LEVELS, table_levels
from .grouping import row_chunks, rows_by_value, rows_per_chunk, write_rows
from .second_thread import run_on_two_threads, runs_on_two_threads

# each of the policy's operations with its value range (None: no magnitude)
OperationSpecs = Sequence[tuple[Operation, tuple[float, float] | None]]

# where a stage puts an op's images in its sorted batch: the fused ones first, each kind together
WARPED, LOOKED_UP, ON_THEIR_OWN = range(3)


@dataclass(frozen=True)
class Span:
    """Rows ``start:stop`` of a stage's sorted images, which take ``operations[op]``, run as ``kind``
    (:func:`fusion`)."""

    op: int
    kind: int
    start: int
    stop: int

    def within(self, start: int, stop: int) -> Span | None:
        """This span's part of rows ``start:stop``, counted from ``start`` (None: no part)."""
        if self.stop <= start or self.start >= stop:
            return None
        return Span(self.op, self.kind, max(self.start, start) - start, min(self.stop, stop) - start)


def fusion(operation: Operation, images: Tensor) -> int:
    """How a stage runs ``operation`` on ``images``: with the other affine ops in one warp (WARPED), with the other
    lookup-table ops in one gather (LOOKED_UP, uint8 images only) or on its own (ON_THEIR_OWN)."""
    if operation.affine_matrix is not None:
        return WARPED
    if images.dtype == torch.uint8 and operation.has_lookup_tables:
        return LOOKED_UP
    return ON_THEIR_OWN


def stage_layout(
    groups: list[tuple[int, Tensor]], operations: OperationSpecs, images: Tensor
) -> tuple[Tensor, list[Span]]:
    """The rows a stage transforms ``[N]``, sorted by :func:`fusion` and then by op (``groups``: :func:`rows_by_value`
    of its op indices), and each op's span of that order."""
    kinds = {op: fusion(operations[op][0], images) for op, _ in groups}
    ordered = sorted(groups, key=lambda group: kinds[group[0]])
    spans, start = [], 0
    for op, rows in ordered:
        spans.append(Span(op, kinds[op], start, start + len(rows)))
        start += len(rows)
    return torch.cat([rows for _, rows in ordered]), spans


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


def channel_tables(operation: Operation, images: Tensor, values: list[Tensor]) -> Tensor:
    """``operation``'s lookup tables for uint8 ``images`` ``[N, C, H, W]`` at ``values`` (:meth:`Operation.apply`'s),
    as uint8 levels ``[N, C, 1, 256]``, one table per channel, ready to be concatenated with other ops' tables."""
    levels = table_levels(operation.lookup_tables(images, values))
    return levels.expand(len(images), images.shape[1], 1, LEVELS)


def op_values(operation: Operation, values: Tensor, span: Span) -> list[Tensor]:
    """The values ``operation`` takes after its images (:meth:`Operation.apply`): those of its ``span``, or none."""
    return [values[span.start : span.stop]] if operation.has_magnitude else []


def warp(batch: Tensor, values: Tensor, spans: list[Span], operations: OperationSpecs) -> None:
    """Warp the rows of ``spans`` (the affine ops', side by side) of ``batch`` ``[N, C, H, W]`` in place, in one
    warp: each image by its op's matrix at its value ``values[row]``."""
    height, width = batch.shape[-2:]
    matrices = [operations[span.op][0].affine_matrix(values[span.start : span.stop], height, width) for span in spans]
    rows = slice(spans[0].start, spans[-1].stop)
    batch[rows] = on_unit_floats(batch[rows], partial(affine_warp, matrix=torch.cat(matrices)))


def look_up(batch: Tensor, values: Tensor, spans: list[Span], operations: OperationSpecs) -> None:
    """Map the rows of ``spans`` (the lookup-table ops', side by side) of uint8 ``batch`` in place through each
    image's op's tables, in one gather."""
    tables = []
    for span in spans:
        operation = operations[span.op][0]
        tables.append(channel_tables(operation, batch[span.start : span.stop], op_values(operation, values, span)))
    rows = slice(spans[0].start, spans[-1].stop)
    batch[rows] = apply_lookup_tables(batch[rows], torch.cat(tables))


def run_on_its_own(
    batch: Tensor, values: Tensor, span: Span, operation: Operation, generator: torch.Generator | None
) -> None:
    """Apply ``operation`` to the rows of ``span`` of ``batch`` in place."""
    rows = slice(span.start, span.stop)
    batch[rows] = operation.apply(batch[rows], op_values(operation, values, span), generator)


def chunk_jobs(
    batch: Tensor,
    values: Tensor,
    spans: list[Span],
    operations: OperationSpecs,
    generator: torch.Generator | None,
) -> tuple[list[Callable[[], None]], list[bool]]:
    """The jobs that transform a chunk of a stage's sorted images ``batch`` in place (its ``spans`` and ``values``
    counted from the chunk's first row), and whether each draws random numbers (:func:`run_on_two_threads` keeps
    those on the calling thread)."""
    warped = [span for span in spans if span.kind == WARPED]
    looked_up = [span for span in spans if span.kind == LOOKED_UP]
    jobs, draws = [], []
    if warped:
        jobs.append(partial(warp, batch, values, warped, operations))
        draws.append(False)
    if looked_up:
        jobs.append(partial(look_up, batch, values, looked_up, operations))
        draws.append(False)
    for span in spans:
        if span.kind == ON_THEIR_OWN:
            operation = operations[span.op][0]
            jobs.append(partial(run_on_its_own, batch, values, span, operation, generator))
            draws.append(operation.random)
    return jobs, draws


def apply_discrete_stage(
    images: Tensor,
    op_index: Tensor,
    magnitude: Tensor,
    operations: OperationSpecs,
    generator: torch.Generator | None,
) -> Tensor:
    """Apply ``operations[op_index[i]]`` (an op and its value range; -1: none) at ``magnitude[i]`` to image
    ``i`` of ``images`` ``[B, C, H, W]``, in place (the caller owns the batch; run under ``no_grad``).

    On CPU the ops take chunks of rows (:func:`~hf_faa.policy.grouping.rows_per_chunk`); small CPU images take
    two threads (:func:`~hf_faa.policy.second_thread.runs_on_two_threads`).
    """
    groups = rows_by_value(op_index)
    if not groups:
        return images
    values = native_values(op_index, magnitude, groups, operations, images, generator)
    if runs_on_two_threads(images):
        return apply_sorted_on_two_threads(images, values, groups, operations, generator)
    return apply_by_op(images, values, groups, operations, generator)


def apply_sorted_on_two_threads(
    images: Tensor,
    values: Tensor,
    groups: list[tuple[int, Tensor]],
    operations: OperationSpecs,
    generator: torch.Generator | None,
) -> Tensor:
    """The stage on small images: its transformed images gathered once, sorted by op, in chunks of rows; the
    jobs on each chunk (the warp, the table gather, each other op) split over two threads; one scatter back.
    ``values`` ``[B]``: :func:`native_values`."""
    order, spans = stage_layout(groups, operations, images)
    values = values[order]
    chunk_size = rows_per_chunk(images)
    for start in range(0, len(order), chunk_size):
        stop = min(start + chunk_size, len(order))
        rows = order[start:stop]
        batch = images.index_select(0, rows)
        chunk_spans = [part for span in spans if (part := span.within(start, stop)) is not None]
        jobs, draws = chunk_jobs(batch, values[start:stop], chunk_spans, operations, generator)
        run_on_two_threads(jobs, draws)
        write_rows(images, rows, batch)
    return images


def apply_by_op(
    images: Tensor,
    values: Tensor,
    groups: list[tuple[int, Tensor]],
    operations: OperationSpecs,
    generator: torch.Generator | None,
) -> Tensor:
    """The stage on one thread, or on large images (whose ops torch splits over its threads): each op's images
    gathered, transformed and written straight back, in chunks of rows; the affine ops' chunks warped together,
    and on uint8 images the lookup-table ops' chunks mapped together. ``values`` ``[B]``: :func:`native_values`."""
    height, width = images.shape[-2:]
    chunk_size = rows_per_chunk(images)
    warps, lookups = _FusedRows(), _FusedRows()
    for op, op_rows in groups:
        operation = operations[op][0]
        if operation.affine_matrix is not None:
            warps.add(op_rows, operation.affine_matrix(values[op_rows], height, width))
            continue
        for rows in row_chunks(op_rows, chunk_size):
            chunk = images.index_select(0, rows)
            chunk_values = [values[rows]] if operation.has_magnitude else []
            if fusion(operation, images) == LOOKED_UP:
                lookups.add(rows, channel_tables(operation, chunk, chunk_values))
            else:
                write_rows(images, rows, operation.apply(chunk, chunk_values, generator))
    for rows, matrices in warps.chunks(chunk_size):
        write_rows(images, rows, on_unit_floats(images.index_select(0, rows), partial(affine_warp, matrix=matrices)))
    for rows, tables in lookups.chunks(chunk_size):
        write_rows(images, rows, apply_lookup_tables(images.index_select(0, rows), tables))
    return images
