"""Compare augmentation policies: the same classifier trained with each, on the same few images.

    python scripts/evaluate.py                        # embedded MNIST-5k: none, RandAugment, TrivialAugment,
                                                      # AutoAugment-CIFAR-10, a policy searched now and
                                                      # that search's untrained starting policy
    python scripts/evaluate.py --quick                # seconds: a smoke test of the whole pipeline
    python scripts/evaluate.py --policies none preset:randaugment your-name/your-policy --seeds 0 1 2 3 4
    python scripts/evaluate.py --suite mnist textures photo-patches exposure tinted optdigits photo-digits \\
        exposure-marker letters                       # the suite (pip install hf-faa[suite])
    python scripts/evaluate.py --suite tinted optdigits --split_seed 1   # other images of the same kinds
    python scripts/evaluate.py --split_seeds 0 1 2 3 4   # five draws of training images, a mean over them
    python scripts/evaluate.py --dataset_name uoft-cs/cifar10 --eval_split test --streaming \\
        --max_train_samples 500 --max_eval_samples 2000   # rows read from the splits' streams, nothing prepared

Writes results.md (with paired differences per seed against the searched policy), results.json,
results.png (with matplotlib: pip install hf-faa[plot]) and one sample grid per policy to
--output_dir; with --suite, one such folder per dataset and suite.md/suite.json over all of them; with
--split_seeds, one folder per draw (split-<seed>/) and draws.md/draws.json over them.
Flags: hf_faa.evaluation.EvaluationArguments and --log_level (--help).
"""

from __future__ import annotations

from pathlib import Path

from hf_faa import cli
from hf_faa.evaluation import EvaluationArguments, run_evaluation


def main(argv: list[str]) -> None:
    arguments, logging_args = cli.parse_arguments((EvaluationArguments, cli.LoggingArguments), argv, __doc__)
    cli.configure_logging(logging_args.log_level)
    run_evaluation(arguments)
    table = "draws.md" if arguments.split_seeds else "suite.md" if arguments.suite else "results.md"
    print((Path(arguments.output_dir) / table).read_text(encoding="utf-8"))


if __name__ == "__main__":
    cli.run_script(main)
