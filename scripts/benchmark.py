"""Benchmarks that print markdown tables; every row is compared with its baseline measured in the same run.

    python scripts/benchmark.py                 # the ops section
    python scripts/benchmark.py --sections ops --sizes 32 --batch_size 256 --threads 2

Sections:
  ops   images/s of each batched op vs a per-image PIL loop of the same op, with and without the
        uint8 tensor <-> PIL conversion a per-image Dataset transform pays.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable, Sequence

import torch

from hf_faa.ops import OPERATIONS
from hf_faa.pil_reference import PIL_OPERATIONS, pil_to_tensor, tensor_to_pil


def images_per_second(run: Callable[[], object], images_per_run: int, min_seconds: float) -> float:
    """Best of three timings, each repeating ``run`` for at least ``min_seconds`` (after one warm-up run)."""
    run()
    best = float("inf")
    for _ in range(3):
        runs, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < min_seconds or runs == 0:
            run()
            runs += 1
        best = min(best, elapsed / runs)
    return images_per_run / best


def synthetic_photos(batch_size: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """uint8 ``[B, 3, size, size]``: smooth colour gradients plus noise, so histograms are photo-like."""
    ramp = torch.linspace(0, 1, size)
    colours = torch.rand(batch_size, 3, 1, 1, generator=generator)
    base = colours * ramp.view(1, 1, 1, size) + (1 - colours) * ramp.view(1, 1, size, 1)
    noise = 0.15 * torch.rand(batch_size, 3, size, size, generator=generator)
    return ((base * 0.85 + noise).clamp(0, 1) * 255).round().to(torch.uint8)


def format_rate(rate: float) -> str:
    return f"{rate:,.0f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def benchmark_ops(sizes: Sequence[int], batch_size: int, min_seconds: float) -> str:
    """One row per op and size: batched op vs a per-image PIL loop (with and without conversion)."""
    generator = torch.Generator().manual_seed(0)
    rows = []
    for size in sizes:
        photos = synthetic_photos(batch_size, size, generator)
        for name in OPERATIONS:
            rates = measure_op(name, photos, min_seconds, generator)
            rows.append([name, f"{size}x{size}", *map(format_rate, rates), f"{rates[0] / rates[1]:.1f}x",
                         f"{rates[0] / rates[2]:.1f}x"])  # fmt: skip
            print(" | ".join(rows[-1]), flush=True)
    header = ["op", "size", "batched (img/s)", "PIL + conversion (img/s)", "PIL only (img/s)",
              "vs PIL + conversion", "vs PIL only"]  # fmt: skip
    return markdown_table(header, rows)


def measure_op(name: str, photos: torch.Tensor, min_seconds: float, generator: torch.Generator):
    """(batched, PIL with tensor<->PIL conversion, PIL alone) images/s of op ``name`` at magnitude 0.5."""
    op, pil_op = OPERATIONS[name], PIL_OPERATIONS[name]
    batch_size = len(photos)
    images = photos.float() / 255
    pil_images = [tensor_to_pil(photo) for photo in photos]
    magnitude = torch.full((batch_size,), 0.5)
    value = op.value_range[1] * 0.5 if op.has_magnitude else 0.0
    return (
        images_per_second(lambda: op(images, magnitude, generator=generator), batch_size, min_seconds),
        images_per_second(
            lambda: [pil_to_tensor(pil_op(tensor_to_pil(photo), value)) for photo in photos], batch_size, min_seconds
        ),
        images_per_second(lambda: [pil_op(image, value) for image in pil_images], batch_size, min_seconds),
    )


def machine_description() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"torch threads {torch.get_num_threads()}"
    )


SECTIONS = {"ops": lambda args: benchmark_ops(args.sizes, args.batch_size, args.min_seconds)}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", choices=sorted(SECTIONS), default=["ops"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[32, 224], help="image sizes (square)")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--min_seconds", type=float, default=0.3, help="minimum duration of one timing")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"Machine: {machine_description()}\n")
    for section in args.sections:
        table = SECTIONS[section](args)
        print(f"\n## {section}\n\n{table}\n")


if __name__ == "__main__":
    main()
