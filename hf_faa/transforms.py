"""Apply a policy in Hugging Face pipelines: a ``set_transform`` callable, a Trainer data collator,
and offline augmentation of a whole ``Dataset`` with ``map``.

Every adapter augments whole batches with one policy call per batch (per image size), never a
Python loop over images through the policy.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from torch import Tensor

from .data import (
    IMAGE_MODES,
    LABEL_COLUMN_NAMES,
    VALID_COLUMN,
    decode_images,
    decode_once,
    encode_images,
    resolve_columns,
    tensor_to_pil,
)
from .policy import FasterAutoAugmentPolicy, load_policy

logger = logging.getLogger(__name__)


def _resolve_batch_columns(
    batch: dict[str, list], image_column: str | None, label_column: str | None
) -> tuple[str, str | None]:
    """:func:`hf_faa.data.resolve_columns` on a batch, first naming the fix for a batch Trainer emptied."""
    if image_column is None and batch and set(batch) <= set(LABEL_COLUMN_NAMES):
        raise ValueError(
            f"The batch holds no images, only {sorted(batch)}: transformers.Trainer drops the columns its model "
            "does not take (the image column too) before set_transform runs. Pass remove_unused_columns=False "
            "to TrainingArguments."
        )
    return resolve_columns(batch, image_column, label_column, require_label=False)


def augment_batch(
    policy: FasterAutoAugmentPolicy, images: Sequence[Tensor], generator: torch.Generator | None
) -> list[Tensor]:
    """Augment uint8 images ``[C, H, W]`` of possibly different sizes: one policy call per distinct size.

    The batches are stacked channels-last (decoded images are, in memory), so that the augmented
    images go on to an image processor without a transposing copy.
    """
    output: list[Tensor | None] = [None] * len(images)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for index, image in enumerate(images):
        by_shape.setdefault(tuple(image.shape), []).append(index)
    device = next(policy.parameters()).device
    for positions in by_shape.values():
        batch = torch.stack([images[i].permute(1, 2, 0) for i in positions]).permute(0, 3, 1, 2)
        augmented = policy(batch.to(device), generator=generator, inplace=True).cpu()
        for position, image in zip(positions, augmented, strict=True):
            output[position] = image
    return output


class PolicyTransform:
    """A ``Dataset.set_transform`` / ``with_transform`` / ``IterableDataset.map(batched=True)`` callable.

    Per batch: decode the images (any PIL mode, converted to ``mode``), resize them to ``size`` when
    given, augment them with the policy in eval mode, then run ``image_processor`` (any
    ``transformers`` image processor: resize, rescale, normalise). Returns ``{"pixel_values", "labels"}``
    (``labels`` when the dataset has a label column), what ``Trainer`` and its models expect.
    Without a processor, ``pixel_values`` is a float tensor ``[B, C, H, W]`` in [0, 1].

    Undecodable images are dropped from the batch and counted in :attr:`skipped`.

    Args:
        policy: a policy, a local folder, a Hub repo id, ``"preset:<name>"``, or None for no
            augmentation (the same decoding and processing, e.g. for the evaluation split).
        image_column / label_column: default: detected by :func:`hf_faa.data.resolve_columns`'s rule (the
            column holding images; an integer column named label, labels, ...).
        image_processor: a ``transformers`` image processor, e.g. from ``AutoImageProcessor``.
        size: resize (shorter side) and centre-crop images to this before augmenting. Default: the
            processor's size if it has a square one, else images keep their sizes.
        mode: ``"RGB"`` (default) or ``"L"``.
        seed: make the augmentation reproducible: each epoch still differs, but reruns repeat.
    """

    def __init__(
        self,
        policy: FasterAutoAugmentPolicy | str | Path | None,
        image_column: str | None = None,
        label_column: str | None = None,
        image_processor: Any | None = None,
        size: int | None = None,
        mode: str = "RGB",
        seed: int | None = None,
    ) -> None:
        if mode not in IMAGE_MODES:
            raise ValueError(f"mode must be one of {sorted(IMAGE_MODES)}, got {mode!r}.")
        self.policy = load_policy(policy).eval() if policy is not None else None
        self.image_column = image_column
        self.label_column = label_column
        self.image_processor = image_processor
        self.size = size if size is not None else _processor_square_size(image_processor)
        self.mode = mode
        self.seed = seed
        self.skipped = 0
        self._generator: torch.Generator | None = None
        self._generator_worker: int | None = None

    def _current_generator(self) -> torch.Generator | None:
        """Seeded per DataLoader worker (seed + worker id), so workers draw different augmentations."""
        if self.seed is None:
            return None  # torch's global RNG, which DataLoader reseeds in every worker and epoch
        worker = torch.utils.data.get_worker_info()
        worker_id = worker.id if worker is not None else 0
        if self._generator is None or self._generator_worker != worker_id:
            self._generator = torch.Generator().manual_seed(self.seed * 1_000_003 + worker_id)
            self._generator_worker = worker_id
        return self._generator

    def __call__(self, batch: dict[str, list]) -> dict[str, Any]:
        image_column, label_column = _resolve_batch_columns(batch, self.image_column, self.label_column)
        augmented, kept = decode_images(batch[image_column], self.mode, self.size)
        if len(kept) < len(batch[image_column]):
            dropped = len(batch[image_column]) - len(kept)
            self.skipped += dropped
            logger.warning(f"Skipped {dropped} undecodable or missing image(s) ({self.skipped} so far).")
        if self.policy is not None:
            augmented = augment_batch(self.policy, augmented, self._current_generator())
        output: dict[str, Any] = {"pixel_values": self._pixel_values(augmented)}
        if label_column is not None:
            output["labels"] = [batch[label_column][i] for i in kept]
        return output

    def decode_once(self, dataset: datasets.Dataset) -> datasets.Dataset:
        """``dataset`` with its images decoded, converted to :attr:`mode` and resized to :attr:`size` once
        (:func:`hf_faa.data.decode_once`), for many epochs or runs over the same images: this transform then
        finds nothing left to convert or resize and gives the same pixels as on ``dataset`` itself."""
        image_column, _ = resolve_columns(dataset, self.image_column, self.label_column, require_label=False)
        return decode_once(dataset, image_column, self.mode, self.size)

    def _pixel_values(self, images: list[Tensor]) -> Tensor | list[Tensor]:
        if self.image_processor is not None:
            # contiguous channels-last arrays (a no-op for decoded images): processors copy strided
            # arrays element by element
            arrays = [image.permute(1, 2, 0).contiguous().numpy() for image in images]
            return self.image_processor(images=arrays, return_tensors="pt")["pixel_values"]
        if images and all(image.shape == images[0].shape for image in images):
            return torch.stack(images).float() / 255
        return [image.float() / 255 for image in images]


def _processor_square_size(image_processor: Any | None) -> int | None:
    """The processor's output side if it resizes to a square (``{"height": s, "width": s}``), else None."""
    size = getattr(image_processor, "size", None)
    if isinstance(size, dict):
        height, width = size.get("height"), size.get("width")
    else:  # transformers' SizeDict
        height, width = getattr(size, "height", None), getattr(size, "width", None)
    return int(height) if height is not None and height == width else None


class PolicyCollator:
    """A ``data_collator`` that stacks rows, augments the whole batch with one policy call, then
    rescales and normalises: for datasets that already yield uint8 (or [0, 1] float) tensors ``[C, H, W]``.

    ``image_mean``/``image_std`` default to the ``image_processor``'s (when given) and to no
    normalisation otherwise. Returns ``{"pixel_values": float [B, C, H, W], "labels": [B]}`` plus any
    other tensor columns. In a custom loop the policy can also run on the accelerator itself:
    ``policy(batch["pixel_values"].to(device))``.
    """

    def __init__(
        self,
        policy: FasterAutoAugmentPolicy | str | Path,
        image_processor: Any | None = None,
        image_mean: Sequence[float] | None = None,
        image_std: Sequence[float] | None = None,
        input_column: str = "pixel_values",
        seed: int | None = None,
    ) -> None:
        self.policy = load_policy(policy).eval()
        self.image_mean = image_mean if image_mean is not None else getattr(image_processor, "image_mean", None)
        self.image_std = image_std if image_std is not None else getattr(image_processor, "image_std", None)
        self.input_column = input_column
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Tensor]:
        if not features or self.input_column not in features[0]:
            columns = sorted(features[0]) if features else []
            raise ValueError(
                f"PolicyCollator needs a {self.input_column!r} column of image tensors; rows have {columns}. "
                "Decode the images first (hf_faa.data.prepare_dataset(...).dataset yields uint8 'pixel_values' "
                "rows), or augment raw rows with dataset.set_transform(PolicyTransform(policy, image_processor=...))."
            )
        if VALID_COLUMN in features[0]:  # rows of hf_faa.data's DecodeTransform: leave out the undecodable ones
            features = [feature for feature in features if feature[VALID_COLUMN]]
            if not features:
                raise ValueError("PolicyCollator got a batch without a single decodable image.")
        images = torch.stack([torch.as_tensor(feature[self.input_column]) for feature in features])
        batch = {key: torch.as_tensor([feature[key] for feature in features]) for key in features[0]
                 if key not in (self.input_column, VALID_COLUMN) and _is_number(features[0][key])}  # fmt: skip
        if "label" in batch and "labels" not in batch:
            batch["labels"] = batch.pop("label")
        augmented = self.policy(images, generator=self.generator, inplace=True)
        pixel_values = augmented.float() / 255 if augmented.dtype == torch.uint8 else augmented.float()
        if self.image_mean is not None and self.image_std is not None:
            mean = torch.tensor(self.image_mean).view(1, -1, 1, 1)
            std = torch.tensor(self.image_std).view(1, -1, 1, 1)
            pixel_values = (pixel_values - mean) / std
        batch["pixel_values"] = pixel_values
        return batch


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) or (isinstance(value, Tensor) and value.ndim == 0)


def _generator_seed(*parts: Any) -> int:
    """A 60-bit seed from the parts' reprs, the same in every process (``hash`` is salted per process)."""
    return int(hashlib.sha256("".join(map(repr, parts)).encode()).hexdigest()[:15], 16)


def augment_dataset(
    dataset: datasets.Dataset,
    policy: FasterAutoAugmentPolicy | str | Path,
    num_copies: int = 1,
    seed: int = 0,
    image_column: str | None = None,
    mode: str | None = None,
    size: int | None = None,
    batch_size: int = 256,
    num_proc: int | None = None,
) -> datasets.Dataset:
    """``num_copies`` augmented copies of ``dataset`` concatenated into a new Dataset, for offline use.

    The image column holds the augmented images (PNG-encoded, a ``datasets.Image`` feature); every
    other column is kept, so labels are preserved. The same ``seed`` (with the same ``batch_size``
    and ``num_proc``, which decide how rows are batched) gives byte-identical images: each batch
    draws from a generator seeded by seed, copy and first row. The seed and the policy's parameters
    are part of the ``map`` fingerprint, so the cache never returns another seed's copy.
    Undecodable images are dropped and counted in a warning. A column of pixel arrays, or of paths or bytes named
    by ``image_column``, is read as images first (:func:`hf_faa.data.encode_images`). ``mode`` defaults to L for
    grayscale images and RGB otherwise (per image); ``size`` resizes before augmenting.
    """
    if num_copies < 1:
        raise ValueError(f"num_copies must be at least 1, got {num_copies}.")
    policy = load_policy(policy).eval()
    dataset = encode_images(dataset, image_column)
    image_column = resolve_columns(dataset, image_column, require_label=False)[0]
    one_thread = num_proc is not None and num_proc > 1
    copies = []
    for copy in range(num_copies):
        copies.append(
            dataset.map(
                _BatchAugmenter(policy, image_column, mode, size, seed, copy, one_thread),
                batched=True,
                batch_size=batch_size,
                with_indices=True,
                num_proc=num_proc,
                features=dataset.features.copy(),
                desc=f"Augmenting (copy {copy + 1}/{num_copies})",
            )
        )
    return datasets.concatenate_datasets(copies)


class _BatchAugmenter:
    """The ``map`` function of :func:`augment_dataset` (a class so that it pickles for ``num_proc``).

    ``datasets`` fingerprints the ``map`` by hashing this object, the policy's parameters included, so its
    attributes must be the same in every process for the same call: the cache then never returns another
    seed's or another policy's copy, and does return this one's.
    """

    def __init__(
        self, policy, image_column: str, mode: str | None, size: int | None, seed: int, copy: int, one_thread: bool
    ) -> None:
        self.policy, self.image_column, self.mode, self.size = policy, image_column, mode, size
        self.seed, self.copy, self.one_thread = seed, copy, one_thread

    def __call__(self, batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        if not self.one_thread:
            return self._augment(batch, indices)
        # map workers are forked, and torch's OpenMP pool does not survive fork (DataLoader workers run
        # single-threaded too); restored after, for the batches datasets runs in this process itself
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._augment(batch, indices)
        finally:
            torch.set_num_threads(threads)

    def _augment(self, batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        generator = torch.Generator().manual_seed(_generator_seed(self.seed, self.copy, indices[0]))
        images = batch[self.image_column]
        decoded, kept = decode_images(images, self.mode, self.size)
        if len(kept) < len(images):
            logger.warning(
                f"augment_dataset: dropped {len(images) - len(kept)} undecodable or missing image(s) "
                f"at rows {indices[0]}+."
            )
        augmented = augment_batch(self.policy, decoded, generator)
        output = {name: [values[i] for i in kept] for name, values in batch.items()}
        output[self.image_column] = [tensor_to_pil(image) for image in augmented]
        return output
