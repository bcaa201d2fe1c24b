"""Search a Faster AutoAugment policy on an image-classification dataset.

    accelerate launch scripts/search.py                                  # embedded MNIST-5k, offline
    accelerate launch scripts/search.py --dataset_name uoft-cs/cifar10 --max_train_samples 4000 \\
        --critic_depth 40 --critic_widen_factor 2 --max_steps -1 --num_train_epochs 20 --output_dir cifar10-policy
    python scripts/search.py config.yaml                                 # settings from a file

Every flag is a field of hf_faa.search.SearchConfig (``--help`` lists them).
"""

from __future__ import annotations

import sys

from transformers import HfArgumentParser

from hf_faa.search import SearchConfig, run_search


def parse_config(argv: list[str]) -> SearchConfig:
    parser = HfArgumentParser(SearchConfig, description=__doc__)
    if len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml")):
        parse_file = parser.parse_json_file if argv[0].endswith(".json") else parser.parse_yaml_file
        (config,) = parse_file(argv[0])
    else:
        (config,) = parser.parse_args_into_dataclasses(args=argv)
    return config


if __name__ == "__main__":
    run_search(parse_config(sys.argv[1:]))
