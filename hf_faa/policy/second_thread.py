"""A second CPU thread for the discrete forward's ops on small images.

torch splits an op over its threads only from about 32,768 elements (``at::internal::GRAIN_SIZE``). Each op of a
stage takes only its own share of a batch, which on small images is below that, so the other cores sit idle
(kornia's per-batch presets, one op on the whole batch, use them). torch releases the GIL inside every op, so two
Python threads running different ops of a stage overlap.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait

import torch
from torch import Tensor

# Images of at most this many elements run a stage's ops on two threads. Larger ones have ops whose kernels torch
# already splits over its threads, and a second stream of ops would put two threads' worth of work on each core.
# Timed as the presets' eval forward at batch 128, 2 threads (session 36; see README, Benchmarks).
TWO_THREAD_MAX_ELEMENTS = 3 * 64 * 64


def runs_on_two_threads(images: Tensor) -> bool:
    """Whether a stage on ``images`` ``[B, ...]`` runs its ops on two threads: CPU images of at most
    :data:`TWO_THREAD_MAX_ELEMENTS` elements each, with torch allowed more than one thread."""
    return images.device.type == "cpu" and torch.get_num_threads() > 1 and images[0].numel() <= TWO_THREAD_MAX_ELEMENTS


@functools.cache
def _worker(process_id: int) -> ThreadPoolExecutor:
    """The second thread of process ``process_id``: a forked process (a DataLoader worker) gets its own, since a
    thread does not survive the fork."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf-faa-ops")


def run_on_two_threads(jobs: Sequence[Callable[[], None]], pinned: Sequence[bool]) -> None:
    """Run ``jobs`` (each writes rows no other job touches) on the calling thread and a second one, each taking the
    next job as it becomes free (their costs differ tenfold: Brightness against Equalize or a warp). Pinned jobs
    (those that draw random numbers) run first on the calling thread, in their order, so the draws come out as in a
    serial run."""
    if len(jobs) < 2:
        for job in jobs:
            job()
        return
    free = iter([job for job, pin in zip(jobs, pinned, strict=True) if not pin])
    lock = threading.Lock()

    def run_free_jobs() -> None:
        while True:
            with lock:
                job = next(free, None)
            if job is None:
                return
            job()

    # grad and inference mode are per thread: the second one runs the ops as the caller's thread would
    inference = torch.is_inference_mode_enabled()

    def run_on_second_thread() -> None:
        with torch.inference_mode(inference), torch.no_grad():
            run_free_jobs()

    future = _worker(os.getpid()).submit(run_on_second_thread)
    try:
        for job, pin in zip(jobs, pinned, strict=True):
            if pin:
                job()
        run_free_jobs()
    finally:
        wait([future])  # the second thread writes into the caller's tensors: let it finish before anything else
    future.result()
