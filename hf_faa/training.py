"""Train an image classifier with ``transformers.Trainer`` and a policy applied through
``set_transform``: the code path of ``scripts/train.py`` and of every run of ``scripts/evaluate.py``.

Defaults run offline: the embedded MNIST-5k split into train/test, and a small ResNet built from a
``ResNetConfig`` (no download).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import datasets
import numpy as np
from transformers import (
    AutoImageProcessor,
    AutoModelForImageClassification,
    EvalPrediction,
    ResNetConfig,
    ResNetForImageClassification,
    Trainer,
    TrainingArguments,
    ViTImageProcessorPil,
    set_seed,
)

from .data import DatasetArguments, LabelledSplit, class_names, column_values, load_labelled_split, stratified_subset
from .transforms import PolicyTransform

logger = logging.getLogger(__name__)

NO_POLICY = "none"


@dataclass
class DataArguments(DatasetArguments):
    """Which data to train and evaluate on (the fields of :class:`hf_faa.data.DatasetArguments`, and these)."""

    eval_split: str | None = field(
        default=None, metadata={"help": "Evaluation split; if unset, hold out --eval_fraction of the training split."}
    )
    eval_fraction: float = field(default=0.2, metadata={"help": "Held-out share when there is no --eval_split."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Evaluate on at most this many images."})
    split_seed: int = field(default=0, metadata={"help": "Seed of the train/eval split and of the subsets."})
    decode_once: bool = field(
        default=False,
        metadata={
            "help": "Decode, convert and resize every image once, into memory (a lossless PNG at the model's "
            "input size), instead of in every epoch: faster over many epochs of images larger than the "
            "model's input, at the memory of the decoded images (every process holds its own copy)."
        },  # fmt: skip
    )

    def __post_init__(self) -> None:
        if self.streaming and (self.max_train_samples is None or self.max_eval_samples is None):
            raise ValueError(
                "--streaming keeps --max_train_samples training rows and --max_eval_samples evaluation rows of the "
                "stream; set both (without --eval_split, both come out of the training split's stream)."
            )


@dataclass
class ModelArguments:
    """Which model to train and which policy augments its training images."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "A transformers image classifier to fine-tune (Hub id or folder). If unset, a small "
            "ResNet from a config, trained from scratch, offline."
        },  # fmt: skip
    )
    image_size: int = field(default=32, metadata={"help": "Input size of the default model."})
    policy: str = field(
        default=NO_POLICY,
        metadata={
            "help": "Augmentation policy: a Hub repo id, a folder, preset:<name> (randaugment, "
            "trivialaugment, autoaugment-cifar10, ...) or none."
        },  # fmt: skip
    )
    augmentation_seed: int | None = field(
        default=None, metadata={"help": "Seed of the augmentation draws; if unset, fresh randomness."}
    )


def compute_accuracy(prediction: EvalPrediction) -> dict[str, float]:
    """Top-1 accuracy from Trainer's predictions, with numpy (no metric download)."""
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    return {"accuracy": float((np.argmax(logits, axis=-1) == prediction.label_ids).mean())}


class Splits(NamedTuple):
    """The loaded data of a training run."""

    train: datasets.Dataset
    evaluation: datasets.Dataset
    image_column: str
    label_column: str


def load_splits(data_args: DataArguments) -> Splits:
    """The training split and the eval split, or a stratified hold-out of train, with their columns; unlabelled
    rows (label -1) are left out, as the search leaves them out.

    With ``data_args.streaming``, ``max_train_samples`` shuffled rows of the training split's stream and
    ``max_eval_samples`` of the eval split's (:func:`hf_faa.data.sample_stream`); without an eval split, both
    numbers of rows from the training split's stream, the eval rows held out of them.
    """

    def load(split: str, streamed_rows: int | None, like: LabelledSplit | None = None) -> LabelledSplit:
        labelled = load_labelled_split(
            data_args.dataset_name, data_args.dataset_config_name, split, data_args.image_column,
            data_args.label_column, data_args.cache_dir, streamed_rows if data_args.streaming else None,
            seed=data_args.split_seed, like=like,
        )  # fmt: skip
        if labelled.unlabelled_rows:
            logger.warning(f"{labelled.describe(len(labelled.dataset) + labelled.unlabelled_rows)}: left out "
                           f"{labelled.unlabelled_rows} unlabelled row(s) (label -1).")  # fmt: skip
        return labelled

    train_rows = data_args.max_train_samples
    if data_args.streaming and data_args.eval_split is None:
        train_rows += data_args.max_eval_samples
    labelled = load(data_args.train_split, train_rows)
    train, image_column, label_column = labelled.dataset, labelled.image_column, labelled.label_column
    if not isinstance(train.features[label_column], datasets.ClassLabel):
        # class ids as a ClassLabel of the whole split's classes: a held-out or subset side whose largest id is
        # smaller still gets a model head for every class, the hold-out is stratified, and an eval split is loaded
        # like it
        labelled.dataset = train = train.cast_column(label_column, datasets.ClassLabel(names=labelled.class_names))
    if data_args.eval_split is not None:
        evaluation = load(data_args.eval_split, data_args.max_eval_samples, like=labelled).dataset
    else:
        # a stream's sample holds out the eval rows it was read with, by number; a whole split, by share
        test_size = data_args.max_eval_samples if data_args.streaming else data_args.eval_fraction
        train, evaluation = _hold_out(train, label_column, test_size, data_args.split_seed)
    if data_args.max_train_samples is not None:
        train = stratified_subset(train, label_column, data_args.max_train_samples, seed=data_args.split_seed)
    if data_args.max_eval_samples is not None:
        evaluation = stratified_subset(evaluation, label_column, data_args.max_eval_samples, seed=data_args.split_seed)
    return Splits(train, evaluation, image_column, label_column)


def _hold_out(
    dataset: datasets.Dataset, label_column: str, test_size: float | int, seed: int
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(train, test): ``test_size`` of ``dataset`` held out, stratified by its ClassLabel column. A class with a
    single row cannot be on both sides, so its row trains and is not tested (with a warning); ``datasets`` would
    refuse the whole split."""
    labels = column_values(dataset, label_column)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    single = counts[inverse] < 2
    splittable = dataset.select(np.flatnonzero(~single)) if single.any() else dataset
    _check_stratified_hold_out(len(splittable), int((counts >= 2).sum()), test_size)
    parts = splittable.train_test_split(test_size=test_size, stratify_by_column=label_column, seed=seed)
    if not single.any():
        return parts["train"], parts["test"]
    names = dataset.features[label_column].int2str([int(label) for label in classes[counts < 2]])
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    logger.warning(f"{len(names)} class(es) with a single row ({shown}) train but are not tested: a held-out test "
                   "needs two rows of a class; --eval_split tests them.")  # fmt: skip
    return datasets.concatenate_datasets([parts["train"], dataset.select(np.flatnonzero(single))]), parts["test"]


def _check_stratified_hold_out(rows: int, num_classes: int, test_size: float | int) -> None:
    """A stratified split needs a row of every class on each side (``test_size`` a share, rounded as ``datasets``
    rounds it: ``ceil`` for the test side, or a number of rows); say which side is short and how to fix it, instead
    of ``datasets``' traceback."""
    test_rows = test_size if isinstance(test_size, int) else math.ceil(test_size * rows)
    for side, count in (("training", rows - test_rows), ("test", test_rows)):
        if count < num_classes:
            raise ValueError(
                f"Holding out {test_size:g} of the {rows} rows for testing leaves {count} {side} rows for "
                f"{num_classes} classes, and a stratified split needs at least one per class; pass --eval_split "
                "with a test split of the dataset, or use a dataset with more rows per class."
            )


def build_model(model_args: ModelArguments, labels: list[str]) -> tuple[Any, Any]:
    """(model, image processor) for ``labels``: a pretrained checkpoint, or the small offline ResNet."""
    if model_args.model_name_or_path is not None:
        return pretrained_classifier(model_args.model_name_or_path, labels)
    return small_resnet(labels), build_processor(model_args)


def small_resnet(labels: list[str], num_channels: int = 3) -> ResNetForImageClassification:
    """The small ResNet trained from scratch when no checkpoint is named (three stages of 16, 32 and 64 channels, one
    basic block each), for ``labels`` on ``num_channels``-channel images."""
    id2label = dict(enumerate(labels))
    label2id = {label: index for index, label in id2label.items()}
    config = ResNetConfig(num_channels=num_channels, embedding_size=16, hidden_sizes=[16, 32, 64], depths=[1, 1, 1],
                          layer_type="basic", num_labels=len(labels), id2label=id2label, label2id=label2id)  # fmt: skip
    return ResNetForImageClassification(config)


def build_processor(model_args: ModelArguments) -> Any:
    """The image processor of ``model_args``' model: the checkpoint's, or the small offline ResNet's."""
    if model_args.model_name_or_path is not None:
        return AutoImageProcessor.from_pretrained(model_args.model_name_or_path)
    size = model_args.image_size
    return ViTImageProcessorPil(size={"height": size, "width": size}, image_mean=[0.5] * 3, image_std=[0.5] * 3)


def pretrained_classifier(model_name_or_path: str, labels: list[str]) -> tuple[Any, Any]:
    """(model, image processor) of a ``transformers`` image classifier (a Hub id or a local folder), its head
    replaced by a new one for ``labels`` (``ignore_mismatched_sizes``) unless it already has their number."""
    id2label = dict(enumerate(labels))
    label2id = {label: index for index, label in id2label.items()}
    processor = AutoImageProcessor.from_pretrained(model_name_or_path)
    # the number of labels follows from id2label (num_labels as well would warn that it differs from the checkpoint's)
    model = AutoModelForImageClassification.from_pretrained(
        model_name_or_path, id2label=id2label, label2id=label2id, ignore_mismatched_sizes=True
    )
    return model, processor


def decode_once_for_training(splits: Splits, model_args: ModelArguments) -> Splits:
    """``splits`` with their images decoded once as :func:`train_classifier` decodes them for the model of
    ``model_args`` (:meth:`PolicyTransform.decode_once`): the same pixels in every run, without decoding and
    resizing each source image again in every epoch of every run (``scripts/evaluate.py``)."""
    processor = build_processor(model_args)
    transform = PolicyTransform(None, splits.image_column, splits.label_column, image_processor=processor)
    train, evaluation = (transform.decode_once(split) for split in (splits.train, splits.evaluation))
    return splits._replace(train=train, evaluation=evaluation)


def train_classifier(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: TrainingArguments,
    splits: Splits | None = None,
) -> dict[str, Any]:
    """Train with the policy on the training split only, evaluate without augmentation.

    ``splits`` is the data :func:`load_splits` gives for ``data_args`` (default: loaded now, and decoded once
    with ``data_args.decode_once``); pass it to train several times on the same data without reloading it.
    Returns the final evaluation metrics plus ``train_seconds`` (Trainer's ``train_runtime``),
    ``train_images`` and ``eval_images``. The run uses ``remove_unused_columns=False`` (``set_transform``
    needs the raw image column); ``training_args`` and the datasets are left unchanged.
    """
    training_args = replace(training_args, remove_unused_columns=False)
    if splits is None:
        splits = load_splits(data_args)
        if data_args.decode_once:
            splits = decode_once_for_training(splits, model_args)
    train, evaluation, image_column, label_column = splits
    set_seed(training_args.seed)  # the same initial model for every policy trained with this seed
    model, processor = build_model(model_args, class_names(train, label_column))
    policy = None if model_args.policy == NO_POLICY else model_args.policy
    train = train.with_transform(PolicyTransform(policy, image_column, label_column, image_processor=processor,
                                                 seed=model_args.augmentation_seed))  # fmt: skip
    evaluation = evaluation.with_transform(PolicyTransform(None, image_column, label_column, image_processor=processor))
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=processor,
        compute_metrics=compute_accuracy,
    )
    train_seconds = trainer.train().metrics["train_runtime"]
    metrics = trainer.evaluate()
    metrics.update({"train_seconds": train_seconds, "train_images": len(train), "eval_images": len(evaluation)})
    trainer.log_metrics("eval", metrics)
    if training_args.should_save:
        trainer.save_model()
        trainer.save_metrics("eval", metrics)
    if training_args.push_to_hub:
        trainer.push_to_hub(tags=["hf-faa", "image-classification"])
    return metrics
