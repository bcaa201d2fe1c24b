"""The discrete forward's second CPU thread: which images take it, how its jobs split, and that it changes nothing."""

from __future__ import annotations

import multiprocessing
import threading
from functools import partial

import pytest
import torch
from helpers import seeded

from hf_faa import FasterAutoAugmentPolicy
from hf_faa.policy import discrete_stage
from hf_faa.policy.second_thread import TWO_THREAD_MAX_ELEMENTS, run_on_two_threads, runs_on_two_threads


def test_small_cpu_images_take_two_threads_when_torch_has_them(torch_threads):
    small = torch.empty(4, 3, 32, 32)
    large = torch.empty(4, 1, 1, TWO_THREAD_MAX_ELEMENTS + 1)
    assert small[0].numel() <= TWO_THREAD_MAX_ELEMENTS
    assert runs_on_two_threads(small) == (torch_threads == 2)
    assert not runs_on_two_threads(large)


def test_both_threads_take_free_jobs_and_the_caller_runs_pinned_ones_in_order():
    log, lock, other_started = [], threading.Lock(), threading.Event()

    def record(name: str) -> None:
        with lock:
            log.append((name, threading.get_ident()))

    def waits_for_the_other() -> None:
        record("waits")
        assert other_started.wait(timeout=30), "the free jobs ran on one thread"

    def starts_the_other() -> None:
        other_started.set()
        record("starts")

    jobs = [waits_for_the_other, partial(record, "pinned 0"), starts_the_other, partial(record, "pinned 1")]
    run_on_two_threads(jobs, [False, True, False, True])
    assert sorted(name for name, _ in log) == ["pinned 0", "pinned 1", "starts", "waits"]  # each job once
    caller = threading.get_ident()
    assert [name for name, thread in log if name.startswith("pinned") and thread == caller] == ["pinned 0", "pinned 1"]
    assert len({thread for _, thread in log}) == 2


@pytest.mark.parametrize("failing", [0, 1])  # a job on the second thread, one on the caller's
def test_an_error_in_either_thread_reaches_the_caller(failing):
    def fail() -> None:
        raise RuntimeError("job failed")

    jobs = [lambda: None, lambda: None]
    jobs[failing] = fail
    with pytest.raises(RuntimeError, match="job failed"):
        run_on_two_threads(jobs, [False, False])


def test_second_thread_works_under_the_callers_inference_mode(torch_threads):
    """Inference mode is per thread, and a batch made under it can be written only under it."""
    torch.manual_seed(0)
    policy = FasterAutoAugmentPolicy().eval()
    batch = torch.rand(64, 3, 16, 16, generator=seeded(2))
    expected = policy(batch, generator=seeded(5))
    with torch.inference_mode():
        assert torch.equal(policy(batch, generator=seeded(5)), expected)


def augment_in_child(policy: FasterAutoAugmentPolicy, batch: torch.Tensor, expected: torch.Tensor, queue) -> None:
    # one torch thread, as in a DataLoader worker (torch's own threads hang after a fork), and ours all the same
    torch.set_num_threads(1)
    discrete_stage.runs_on_two_threads = lambda images: True
    queue.put(torch.equal(policy(batch, generator=seeded(6)), expected))


@pytest.mark.parametrize("torch_threads", [2], indirect=True)  # the parent's ops take the second thread
def test_a_forked_process_gets_its_own_second_thread(torch_threads):
    """A thread does not survive a fork: a DataLoader worker that kept its parent's would wait on it forever."""
    torch.manual_seed(0)
    policy = FasterAutoAugmentPolicy().eval()
    batch = torch.rand(64, 3, 16, 16, generator=seeded(2))
    expected = policy(batch, generator=seeded(6))  # the parent's second thread now exists
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=augment_in_child, args=(policy, batch, expected, queue))
    child.start()
    try:
        assert queue.get(timeout=60) is True
    finally:
        child.join(timeout=10)
        child.kill()
    assert child.exitcode == 0
