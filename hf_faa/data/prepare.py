"""A dataset ready for a ``DataLoader``: a labelled split (:func:`~hf_faa.data.load_labelled_split`), a stratified
subset of it taken and its images decoded lazily through ``Dataset.set_transform``; undecodable images are
flagged by :class:`DecodeTransform` and left out (and counted) by :func:`collate_valid`."""

from __future__ import annotations

import dataclasses
from typing import Any

import datasets
import numpy as np
import torch

from .columns import column_values
from .images import IMAGE_MODES, decode_image, decode_once, infer_image_mode
from .labelled import load_labelled_split

# DecodeTransform's flag per row: False for an image that could not be decoded (its pixels are zeros).
VALID_COLUMN = "valid"


def stratified_subset(
    dataset: datasets.Dataset, label_column: str | None, max_samples: int, seed: int = 0
) -> datasets.Dataset:
    """At most ``max_samples`` rows with the class proportions kept.

    Each class gets ``floor(max_samples * count / len(dataset))`` rows, and the rows left over go
    to the classes with the largest remainders (largest-remainder allocation; ties to the
    smaller class id). Rows within a class are drawn with ``numpy.random.default_rng(seed)``, and
    the result keeps the dataset's order. With ``label_column=None`` the rows are drawn uniformly.

    Returns:
        The dataset itself when it has at most ``max_samples`` rows, else a selection of it.
    """
    if max_samples < 1:
        raise ValueError(f"max_samples must be at least 1, got {max_samples}.")
    if len(dataset) <= max_samples:
        return dataset
    if label_column is None:
        groups = np.zeros(len(dataset), dtype=np.int64)
    else:
        groups = np.unique(column_values(dataset, label_column), return_inverse=True)[1]
    counts = np.bincount(groups)
    quotas = _largest_remainder_allocation(counts, max_samples)
    rng = np.random.default_rng(seed)
    members = np.split(np.argsort(groups, kind="stable"), np.cumsum(counts)[:-1])
    chosen = [rng.permutation(rows)[:quota] for rows, quota in zip(members, quotas, strict=True)]
    return dataset.select(np.sort(np.concatenate(chosen)))


def _largest_remainder_allocation(counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over groups of sizes ``counts`` [G] in proportion -> quotas int64 [G], sum ``total``."""
    scaled = counts.astype(np.int64) * total
    quotas, remainders = np.divmod(scaled, counts.sum())
    leftover = total - quotas.sum()
    quotas[np.argsort(-remainders, kind="stable")[:leftover]] += 1
    return quotas


class DecodeTransform:
    """Decode images lazily: a function for ``Dataset.set_transform``.

    ``datasets`` passes a batch dict of lists (also for a single row). For each row the output
    has ``"pixel_values"`` (uint8 ``[C, size, size]``; zeros when the image cannot be decoded),
    ``"labels"`` (int; -1 without a label column or for a missing label) and ``"valid"`` (bool).
    Use it on a dataset whose image column is cast to ``datasets.Image(decode=False)``, so that
    undecodable images reach it instead of raising inside ``datasets``. Picklable, so decoding
    runs in ``DataLoader`` workers.
    """

    def __init__(self, image_column: str, label_column: str | None, mode: str, size: int):
        if mode not in IMAGE_MODES:
            raise ValueError(f"mode must be one of {sorted(IMAGE_MODES)}, got {mode!r}.")
        self.image_column = image_column
        self.label_column = label_column
        self.mode = mode
        self.size = size

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        images = [decode_image(image, self.mode, self.size) for image in batch[self.image_column]]
        labels = batch[self.label_column] if self.label_column is not None else [None] * len(images)
        return {
            "pixel_values": [self._blank() if image is None else image for image in images],
            "labels": [-1 if label is None else int(label) for label in labels],
            VALID_COLUMN: [image is not None for image in images],
        }

    def _blank(self) -> torch.Tensor:
        return torch.zeros((IMAGE_MODES[self.mode], self.size, self.size), dtype=torch.uint8)


def collate_valid(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Collate rows from :class:`DecodeTransform`, keeping only the valid ones.

    Returns:
        ``"pixel_values"`` uint8 ``[B, C, H, W]``, ``"labels"`` int64 ``[B]`` (B = valid rows, may be
        0) and ``"num_skipped"`` int64 scalar, the number of undecodable rows left out.
    """
    valid = [row for row in rows if row[VALID_COLUMN]]
    if valid:
        pixel_values = torch.stack([row["pixel_values"] for row in valid])
    else:
        pixel_values = torch.empty((0, *rows[0]["pixel_values"].shape), dtype=torch.uint8)
    return {
        "pixel_values": pixel_values,
        "labels": torch.tensor([row["labels"] for row in valid], dtype=torch.int64),
        "num_skipped": torch.tensor(len(rows) - len(valid), dtype=torch.int64),
    }


@dataclasses.dataclass
class PreparedDataset:
    """A dataset ready for a ``DataLoader`` with ``collate_fn=collate_valid``, and what it holds."""

    dataset: datasets.Dataset  # with a DecodeTransform set
    image_column: str
    label_column: str | None
    mode: str  # "L" or "RGB"
    num_channels: int
    image_size: int  # the side images are decoded to
    num_classes: int
    class_names: list[str]
    description: str  # e.g. "hf-faa embedded MNIST-5k (train, 4000 rows)", for model cards
    unlabelled_rows: int = 0  # rows labelled -1 ("no label"), left out


def prepare_dataset(
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    split: str = "train",
    image_column: str | None = None,
    label_column: str | None = None,
    image_size: int = 32,
    max_samples: int | None = None,
    seed: int = 0,
    cache_dir: str | None = None,
    min_samples: int = 1,
    require_label: bool = True,
    dataset: datasets.Dataset | None = None,
    streaming: bool = False,
) -> PreparedDataset:
    """Load the split, labelled (:func:`load_labelled_split`: class names become ids, pixel arrays images, the
    columns found, unlabelled rows left out), take a stratified subset, infer the mode and set the decode transform.

    Rows of ``prepared.dataset`` are ``{"pixel_values": uint8 [C, image_size, image_size],
    "labels": int, "valid": bool}``. ``num_classes`` and ``class_names`` describe the whole split,
    before ``max_samples``. Arguments are those of :func:`load_labelled_split`, :func:`stratified_subset` and
    :func:`decode_image`; an in-memory ``dataset`` is used as it is instead of loading one (``dataset_name`` then
    only names it). ``streaming`` takes ``max_samples`` rows of the split's stream instead of loading the whole
    split (:func:`load_labelled_split`'s ``streamed_rows``); then ``num_classes`` and ``class_names`` describe the
    whole split only where its features name the classes (a ``ClassLabel``), and a warning says when the rows
    miss some of them.

    Raises:
        ValueError: fewer than ``min_samples`` rows (the search passes its batch size), ``streaming``
            without ``max_samples``, or any error of the functions above.
    """
    if dataset is None and streaming and max_samples is None:
        raise ValueError("streaming keeps max_samples rows of the stream (--max_train_samples); set it.")
    labelled = load_labelled_split(dataset_name, dataset_config_name, split, image_column, label_column, cache_dir,
                                   streamed_rows=max_samples if streaming else None, seed=seed,
                                   require_label=require_label, dataset=dataset)  # fmt: skip
    dataset, image_column, label_column = labelled.dataset, labelled.image_column, labelled.label_column
    if max_samples is not None:
        dataset = stratified_subset(dataset, label_column, max_samples, seed)
    description = labelled.describe(len(dataset))
    if len(dataset) < min_samples:
        raise ValueError(
            f"the dataset {description} has {len(dataset)} rows, but at least {min_samples} are needed "
            "(one full batch); use a smaller batch size, a larger max_samples or a larger dataset."
        )
    mode = infer_image_mode(dataset, image_column)
    return PreparedDataset(
        dataset=_decoded_lazily(dataset, image_column, label_column, mode, image_size),
        image_column=image_column,
        label_column=label_column,
        mode=mode,
        num_channels=IMAGE_MODES[mode],
        image_size=image_size,
        num_classes=len(labelled.class_names),
        class_names=labelled.class_names,
        description=description,
        unlabelled_rows=labelled.unlabelled_rows,
    )


def _decoded_lazily(
    dataset: datasets.Dataset, image_column: str, label_column: str | None, mode: str, image_size: int
) -> datasets.Dataset:
    """``dataset`` with a :class:`DecodeTransform` set on its encoded images."""
    dataset = dataset.cast_column(image_column, datasets.Image(decode=False))
    columns = [column for column in (image_column, label_column) if column is not None]
    dataset.set_transform(DecodeTransform(image_column, label_column, mode, image_size), columns=columns)
    return dataset


def decode_prepared_once(prepared: PreparedDataset) -> PreparedDataset:
    """``prepared`` with each image decoded once now, into memory (:func:`~hf_faa.data.decode_once`): the same
    rows, without decoding a source image again on every access."""
    encoded = prepared.dataset.with_format(None)  # without the DecodeTransform: the encoded images
    decoded = decode_once(encoded, prepared.image_column, prepared.mode, prepared.image_size)
    dataset = _decoded_lazily(decoded, prepared.image_column, prepared.label_column, prepared.mode, prepared.image_size)
    return dataclasses.replace(prepared, dataset=dataset)
