"""Fine-tune an image classifier with transformers.Trainer, augmenting the training set with a policy.

python examples/trainer_set_transform.py --policy your-name/cifar10-policy --dataset uoft-cs/cifar10
python examples/trainer_set_transform.py --policy preset:trivialaugment --max_steps 20   # offline
"""

import argparse

from transformers import (
    ResNetConfig,
    ResNetForImageClassification,
    Trainer,
    TrainingArguments,
    ViTImageProcessorPil,  # fmt: skip
)

from hf_faa import PolicyTransform
from hf_faa.data import load_image_dataset


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policy", default="preset:randaugment", help="Hub repo id, folder or preset:<name>")
    parser.add_argument("--dataset", default=None, help="Hub dataset (default: the embedded MNIST-5k)")
    parser.add_argument("--max_steps", type=int, default=200)
    parser.add_argument("--output_dir", default="trainer-example")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    splits = load_image_dataset(args.dataset).train_test_split(test_size=0.2, seed=0)
    labels = splits["train"].features["label"].names
    processor = ViTImageProcessorPil(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3)

    # the one line that adds the policy: augmented afresh every time a batch is read
    splits["train"].set_transform(PolicyTransform(args.policy, image_processor=processor))
    splits["test"].set_transform(PolicyTransform(None, image_processor=processor))  # no augmentation

    config = ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64], depths=[1, 1, 1], layer_type="basic",
                          num_labels=len(labels), id2label=dict(enumerate(labels)))  # fmt: skip
    trainer = Trainer(
        model=ResNetForImageClassification(config),
        args=TrainingArguments(
            output_dir=args.output_dir,
            max_steps=args.max_steps,
            learning_rate=3e-3,
            per_device_train_batch_size=32,
            remove_unused_columns=False,  # set_transform needs the raw image column
            eval_strategy="no",
            report_to="none",
        ),
        train_dataset=splits["train"],
        eval_dataset=splits["test"],
        processing_class=processor,
        compute_metrics=lambda p: {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())},
    )
    trainer.train()
    print(trainer.evaluate())


if __name__ == "__main__":
    main()
