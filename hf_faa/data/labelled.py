"""One split of an image-classification dataset, ready to classify: loaded (or given in memory), its pixel arrays
made images and its class names made ids, its image and label columns found and its unlabelled rows left out. The
first half of both the search's :func:`~hf_faa.data.prepare_dataset` and the training's
:func:`~hf_faa.training.load_splits`."""

from __future__ import annotations

import dataclasses
import logging

import datasets
import numpy as np

from .columns import class_names, column_values, encode_images, encode_labels, resolve_columns
from .loading import STREAM_SHUFFLE_BUFFER_ROWS, describe_source, load_image_dataset

logger = logging.getLogger(__name__)

IN_MEMORY_DATASET_NAME = "an in-memory dataset"


@dataclasses.dataclass
class LabelledSplit:
    """One split as :func:`load_labelled_split` gives it."""

    dataset: datasets.Dataset
    image_column: str
    label_column: str | None  # None only where no label was required and there is none
    class_names: list[str]  # the whole split's classes (those of the split it was loaded ``like``)
    dataset_name: str | None  # None: the embedded dataset
    dataset_config_name: str | None
    split: str
    unlabelled_rows: int = 0  # rows labelled -1 ("no label"), left out

    def describe(self, num_rows: int | None = None) -> str:
        """The split for messages and model cards (:func:`describe_source`), with ``num_rows`` rows (default: its
        rows)."""
        num_rows = len(self.dataset) if num_rows is None else num_rows
        return describe_source(self.dataset_name, self.dataset_config_name, self.split, num_rows)


def load_labelled_split(
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    split: str = "train",
    image_column: str | None = None,
    label_column: str | None = None,
    cache_dir: str | None = None,
    streamed_rows: int | None = None,
    seed: int = 0,
    require_label: bool = True,
    dataset: datasets.Dataset | None = None,
    like: LabelledSplit | None = None,
) -> LabelledSplit:
    """Load ``split`` (:func:`load_image_dataset`; ``streamed_rows`` rows of its stream, shuffled with ``seed``),
    or take the in-memory ``dataset`` as it is (``dataset_name`` then only names it), and make it ready to
    classify: :func:`encode_labels`, :func:`encode_images`, :func:`resolve_columns` and, with ``require_label``,
    :func:`labelled_rows`. A streamed split, unless loaded ``like`` another, gets a warning when its rows miss
    some of its classes (:func:`warn_of_missing_classes`).

    ``like`` is another split of the same data, loaded before (the training split of an evaluation split): its
    columns and its classes are this split's, and class names become the same ids.

    Raises:
        ValueError: any error of the functions above.
    """
    if dataset is None:
        dataset = load_image_dataset(dataset_name, dataset_config_name, split, cache_dir, streamed_rows, seed)
    else:
        dataset_name = dataset_name or dataset.info.dataset_name or IN_MEMORY_DATASET_NAME
        streamed_rows = None  # in memory already
    if like is not None:
        image_column, label_column = like.image_column, like.label_column
    dataset = encode_labels(dataset, label_column, like=None if like is None else like.dataset)
    dataset = encode_images(dataset, image_column)
    image_column, label_column = resolve_columns(dataset, image_column, label_column, require_label)
    classes = like.class_names if like is not None else class_names(dataset, label_column)
    labelled = LabelledSplit(dataset, image_column, label_column, classes, dataset_name, dataset_config_name, split)
    if require_label:
        labelled.dataset, labelled.unlabelled_rows = labelled_rows(dataset, label_column, len(classes),
                                                                   labelled.describe())  # fmt: skip
    if streamed_rows is not None and label_column is not None and like is None:
        warn_of_missing_classes(labelled.dataset, label_column, classes, labelled.describe())
    return labelled


def labelled_rows(
    dataset: datasets.Dataset, label_column: str, num_classes: int, source: str
) -> tuple[datasets.Dataset, int]:
    """``dataset`` without its unlabelled rows (label -1, the ``datasets`` convention, e.g. of unlabelled
    test splits), and how many were left out.

    Raises:
        ValueError: a label outside ``[0, num_classes)`` other than -1, or fewer than 2 classes.
    """
    labels = column_values(dataset, label_column)
    outside = (labels < -1) | (labels >= num_classes)
    if outside.any():
        examples = sorted({int(label) for label in labels[outside][:100]})[:5]
        raise ValueError(
            f"{source}: {int(outside.sum())} label(s) in column {label_column!r} are outside the {num_classes} "
            f"classes 0..{num_classes - 1} (e.g. {examples}). Fix those labels, or pass --label_column with the "
            "column that holds the class ids."
        )
    if num_classes < 2:
        raise ValueError(
            f"{source} has {num_classes} class(es) in column {label_column!r}; classifying needs at least 2 (the "
            "search learns which augmentations keep images of different classes apart)."
        )
    unlabelled = labels == -1
    if unlabelled.all():
        raise ValueError(
            f"{source}: every label in column {label_column!r} is -1 (unlabelled); the search and the training "
            "need labels."
        )
    if unlabelled.any():
        dataset = dataset.select(np.flatnonzero(~unlabelled))
    return dataset, int(unlabelled.sum())


def warn_of_missing_classes(dataset: datasets.Dataset, label_column: str, classes: list[str], source: str) -> None:
    """Warn when the rows of ``dataset``, streamed from ``source``, hold fewer of ``classes`` than it names."""
    present = np.unique(column_values(dataset, label_column)).size
    if present < len(classes):
        logger.warning(
            f"The rows streamed from {source} hold {present} of its {len(classes)} classes: a stream gives rows in the "
            f"order the dataset's files store them, shuffled only within {STREAM_SHUFFLE_BUFFER_ROWS} rows. A larger "
            "--max_train_samples, or the whole dataset (without --streaming), gives a sample of every class."
        )
