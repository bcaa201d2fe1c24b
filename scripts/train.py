"""Train an image classifier with a Faster AutoAugment policy applied through ``set_transform``.

    python scripts/train.py --output_dir runs/digits --policy preset:randaugment --num_train_epochs 5
    accelerate launch scripts/train.py --dataset_name uoft-cs/cifar10 --eval_split test \\
        --model_name_or_path microsoft/resnet-18 --policy your-name/cifar10-policy --output_dir runs/cifar10

Defaults train a small ResNet (built from a config, no download) on the embedded MNIST-5k. Every
``transformers.TrainingArguments`` flag works too. Flags: hf_faa.training.ModelArguments,
DataArguments and TrainingArguments (``--help``).
"""

from __future__ import annotations

from transformers import TrainingArguments

from hf_faa import cli
from hf_faa.training import DataArguments, ModelArguments, train_classifier


def parse_arguments(argv: list[str]) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    return cli.parse_arguments((ModelArguments, DataArguments, TrainingArguments), argv, __doc__)


def main(argv: list[str]) -> None:
    model_args, data_args, training_args = parse_arguments(argv)
    cli.configure_logging(training_args.get_process_log_level())
    train_classifier(model_args, data_args, training_args)


if __name__ == "__main__":
    cli.run_script(main)
