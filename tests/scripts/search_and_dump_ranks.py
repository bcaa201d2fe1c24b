"""Launched by tests with ``accelerate launch``: a tiny search (an ensemble of two, so each search's own data
order is sharded too), then every rank dumps its final policy
parameters, so the test can check that all ranks ended identical. Usage: OUTPUT_DIR DUMP_DIR."""

import sys
from pathlib import Path

from accelerate import PartialState
from safetensors.torch import save_file

from hf_faa.cli import configure_logging
from hf_faa.search import SearchConfig, run_search

output_dir, dump_dir = sys.argv[1], Path(sys.argv[2])
config = SearchConfig(output_dir=output_dir, max_train_samples=256, image_size=16, per_device_train_batch_size=16,
                      max_steps=6, logging_steps=2, checkpointing_steps=3, num_sub_policies=3,
                      critic_warmup_steps=1, calibration_epochs=1, ensemble_size=2,
                      operation_check_steps=5)  # fmt: skip
configure_logging("info")  # as the scripts do: INFO on the main process, WARNING on the other
policy = run_search(config)
dump_dir.mkdir(parents=True, exist_ok=True)
tensors = {name: parameter.detach().contiguous() for name, parameter in policy.named_parameters()}
save_file(tensors, dump_dir / f"rank{PartialState().process_index}.safetensors")
