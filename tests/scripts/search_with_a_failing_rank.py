"""Launched by tests with ``accelerate launch``: a tiny search in which rank 1 fails at its 3rd step, by
raising (as if it read a corrupt shard) or by being killed. Usage: OUTPUT_DIR raise|kill."""

import os
import signal
import sys

from accelerate import PartialState

from hf_faa.search import SearchConfig, run_search
from hf_faa.search import loop as search_loop

real_search_step = search_loop.search_step
steps = {"count": 0}


def failing_search_step(*args, **kwargs):
    steps["count"] += 1
    if PartialState().process_index == 1 and steps["count"] == 3:
        if sys.argv[2] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise OSError("rank 1 could not read its shard (injected fault)")
    return real_search_step(*args, **kwargs)


search_loop.search_step = failing_search_step
run_search(SearchConfig(output_dir=sys.argv[1], max_train_samples=256, image_size=16, per_device_train_batch_size=16,
                        max_steps=20, num_sub_policies=3, critic_warmup_steps=1, calibration="none",
                        operation_check=False))  # fmt: skip
