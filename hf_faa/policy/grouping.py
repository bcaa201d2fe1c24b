"""Running one op per group of images: the scatter/gather behind the discrete forward and the Gumbel stage."""

from __future__ import annotations

import torch
from torch import Tensor

# On CPU an op's float temporaries for a whole batch of large images outgrow the caches (and,
# above glibc's 32 MiB mmap threshold, take fresh zeroed pages from the kernel on every call: a
# 10-20x slowdown at 224x224). The discrete forward runs each op on chunks of rows this size.
CPU_CHUNK_BYTES = 4 * 2**20
# index_copy_'s CPU kernel moves images an element at a time, ~0.6 ns per element for uint8 and ~0.2 ns for
# float32 and bfloat16; a Python loop of row copies costs ~2.5 µs per row and more, so it wins from about this
# many elements per image. Timed as the presets' eval forward at batch 128, 2 threads (session 35): with the float
# bound at 8192 like uint8's, 3x64x64 and 3x80x80 float32 batches ran 1.09-1.21x slower; uint8 bounds of 4096 or
# 24576 ran 0.85-1.00x as fast as 8192 at 3x40x40 to 3x80x80.
ROW_COPY_MIN_ELEMENTS_UINT8 = 8192
ROW_COPY_MIN_ELEMENTS_FLOAT = 24576


def rows_per_chunk(images: Tensor) -> int:
    """How many images an op takes at once: all of them on accelerators, about CPU_CHUNK_BYTES of float on CPU."""
    if images.device.type != "cpu":
        return max(1, images.shape[0])
    return max(1, CPU_CHUNK_BYTES // (images[0].numel() * 4))


def row_chunks(rows: Tensor, size: int) -> tuple[Tensor, ...]:
    """``rows`` ``[N, ...]`` in pieces of at most ``size`` rows: itself when it fits (a ``split`` costs as much as an
    op on a few small images, and most groups fit in one chunk)."""
    return (rows,) if len(rows) <= size else rows.split(size)


def copies_one_row_at_a_time(images: Tensor) -> bool:
    """Whether :func:`write_rows` copies into ``images`` ``[B, ...]`` row by row: on CPU, from the size at which that
    beats ``index_copy_`` (:data:`ROW_COPY_MIN_ELEMENTS_UINT8`, :data:`ROW_COPY_MIN_ELEMENTS_FLOAT`)."""
    minimum = ROW_COPY_MIN_ELEMENTS_UINT8 if images.dtype == torch.uint8 else ROW_COPY_MIN_ELEMENTS_FLOAT
    return images.device.type == "cpu" and images[0].numel() >= minimum


def write_rows(images: Tensor, rows: Tensor, values: Tensor) -> None:
    """``images[rows] = values``; large images one row at a time (:func:`copies_one_row_at_a_time`)."""
    if not copies_one_row_at_a_time(images):
        images.index_copy_(0, rows, values)
        return
    for row, value in zip(rows.tolist(), values, strict=True):
        images[row].copy_(value)


def rows_by_value(index: Tensor) -> list[tuple[int, Tensor]]:
    """``(value, rows where index == value)`` for each value ``>= 0`` present in ``index`` ``[B]``, ascending
    (rows in ascending order too): one sort for the batch instead of a comparison per value."""
    order = torch.argsort(index, stable=True)
    groups = order.split(torch.bincount(index + 1).tolist())
    return [(value, rows) for value, rows in enumerate(groups, start=-1) if value >= 0 and len(rows)]


def apply_grouped(images: Tensor, op_index: Tensor, run) -> Tensor:
    """Run ``run(op, rows, images[rows])`` once per distinct op in ``op_index`` ``[B]`` and scatter back.

    ``op_index`` -1 leaves an image unchanged. Without autograd the results are written into
    ``images`` in place (the caller owns it): only the transformed rows are copied, a chunk of
    rows at a time on CPU (see :data:`CPU_CHUNK_BYTES`). With autograd,
    sorting by op makes each group a contiguous slice; the groups are concatenated and put back in
    order with one gather.
    """
    if not torch.is_grad_enabled():
        chunk_size = rows_per_chunk(images)
        for op, op_rows in rows_by_value(op_index):
            for rows in row_chunks(op_rows, chunk_size):
                write_rows(images, rows, run(op, rows, images.index_select(0, rows)))
        return images
    order = torch.argsort(op_index, stable=True)
    counts = torch.bincount(op_index[order] + 1).tolist()
    pieces, start = [], 0
    for op, count in enumerate(counts, start=-1):
        if count:
            rows = order[start : start + count]
            chunk = images.index_select(0, rows)
            pieces.append(chunk if op < 0 else run(op, rows, chunk))
            start += count
    return torch.cat(pieces).index_select(0, torch.argsort(order))
