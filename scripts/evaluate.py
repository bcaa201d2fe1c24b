"""Compare augmentation policies: the same classifier trained with each, on the same few images.

    python scripts/evaluate.py                        # embedded MNIST-5k: none, RandAugment, TrivialAugment,
                                                      # AutoAugment-CIFAR-10 and a policy searched now
    python scripts/evaluate.py --quick                # seconds: a smoke test of the whole pipeline
    python scripts/evaluate.py --policies none preset:randaugment your-name/your-policy --seeds 0 1 2 3 4

Writes results.md, results.json, results.png (with matplotlib: pip install hf-faa[plot]) and one
sample grid per policy to --output_dir. Flags: hf_faa.evaluation.EvaluationArguments (--help).
"""

from __future__ import annotations

import sys

from transformers import HfArgumentParser

from hf_faa.evaluation import EvaluationArguments, run_evaluation

if __name__ == "__main__":
    (arguments,) = HfArgumentParser(EvaluationArguments, description=__doc__).parse_args_into_dataclasses(
        args=sys.argv[1:]
    )
    results = run_evaluation(arguments)
    print(open(f"{arguments.output_dir}/results.md", encoding="utf-8").read())
