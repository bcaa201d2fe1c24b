"""Search a Faster AutoAugment policy on an image-classification dataset.

    accelerate launch scripts/search.py                                  # embedded MNIST-5k, offline
    accelerate launch scripts/search.py --dataset_name uoft-cs/cifar10 --max_train_samples 4000 \\
        --critic_depth 40 --critic_widen_factor 2 --max_steps -1 --num_train_epochs 20 --output_dir cifar10-policy
    python scripts/search.py settings.yaml --max_steps 50                # settings from a file; flags override it

Every flag is a field of hf_faa.search.SearchConfig, plus ``--log_level`` (``--help`` lists them).
"""

from __future__ import annotations

from hf_faa import cli
from hf_faa.search import SearchConfig, run_search


def parse_arguments(argv: list[str]) -> tuple[SearchConfig, cli.LoggingArguments]:
    return cli.parse_arguments((SearchConfig, cli.LoggingArguments), argv, __doc__)


def parse_config(argv: list[str]) -> SearchConfig:
    return parse_arguments(argv)[0]


def main(argv: list[str]) -> None:
    config, logging_args = parse_arguments(argv)
    cli.configure_logging(logging_args.log_level)
    run_search(config)


if __name__ == "__main__":
    cli.run_script(main)
