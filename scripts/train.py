"""Train an image classifier with a Faster AutoAugment policy applied through ``set_transform``.

    python scripts/train.py --output_dir runs/digits --policy preset:randaugment --num_train_epochs 5
    accelerate launch scripts/train.py --dataset_name uoft-cs/cifar10 --eval_split test \\
        --model_name_or_path microsoft/resnet-18 --policy your-name/cifar10-policy --output_dir runs/cifar10

Defaults train a small ResNet (built from a config, no download) on the embedded MNIST-5k. Every
``transformers.TrainingArguments`` flag works too. Flags: hf_faa.training.ModelArguments,
DataArguments and TrainingArguments (``--help``).
"""

from __future__ import annotations

import sys

from transformers import HfArgumentParser, TrainingArguments

from hf_faa.training import DataArguments, ModelArguments, train_classifier


def parse_arguments(argv: list[str]) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments), description=__doc__)
    if len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml")):
        parse_file = parser.parse_json_file if argv[0].endswith(".json") else parser.parse_yaml_file
        return parse_file(argv[0])
    return parser.parse_args_into_dataclasses(args=argv)


if __name__ == "__main__":
    train_classifier(*parse_arguments(sys.argv[1:]))
