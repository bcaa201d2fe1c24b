"""Dataset in, tensors out.

Loads an image-classification dataset (the embedded MNIST-5k, a Hub name, a ``save_to_disk``
folder, an image folder or a parquet/arrow file), finds its image and label columns from the
``datasets`` features, and decodes images lazily into uint8 tensors ``[C, size, size]`` through
``Dataset.set_transform``. Undecodable images are flagged, skipped by :func:`collate_valid` and
counted, never silently dropped.

Typical use::

    prepared = prepare_dataset("uoft-cs/cifar10", image_size=32, max_samples=4000)
    loader = torch.utils.data.DataLoader(prepared.dataset, batch_size=64, collate_fn=collate_valid)
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from PIL import Image, ImageOps

from .resources import DEFAULT_DATASET_FILE

DEFAULT_DATASET_NAME = "hf-faa embedded MNIST-5k"
DEFAULT_DATASET_SPLIT = "train"

# Integer columns taken as the label when no ClassLabel column exists, in order of preference.
LABEL_COLUMN_NAMES = ("label", "labels", "target", "targets", "fine_label", "class")
IMAGE_MODES = {"L": 1, "RGB": 3}  # output mode -> number of channels
# DecodeTransform's flag per row: False for an image that could not be decoded (its pixels are zeros).
VALID_COLUMN = "valid"

_FILE_BUILDERS = {".parquet": "parquet", ".arrow": "arrow"}
SINGLE_CHANNEL_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
# What PIL raises for bytes that are not an image, truncated or corrupt files, missing files
# and decompression bombs.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
# Full-scale values tried, smallest first, when mapping 32-bit integer or float pixels to 8 bit.
_NOMINAL_RANGES = (1.0, 255.0, 65535.0)

ImageInput = Image.Image | dict[str, Any] | str | Path | bytes


# ---------------------------------------------------------------------------------------------
# Loading


def load_image_dataset(
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    split: str = "train",
    cache_dir: str | None = None,
) -> datasets.Dataset:
    """Load one split of an image dataset.

    Args:
        dataset_name: ``None`` for the embedded MNIST-5k (offline, split ``"train"`` only); a
            folder written by ``save_to_disk`` (a ``Dataset``, or a ``DatasetDict`` from which
            ``split`` is taken); any other folder, read as an ``imagefolder`` (class subfolders);
            a ``.parquet`` or ``.arrow`` file (one split, ``"train"``); otherwise a Hub dataset name.
        dataset_config_name: the Hub configuration; only for Hub datasets.
        split: the split to load; datasets' slicing syntax (``"train[:10%]"``) works for Hub
            datasets, image folders and files.
        cache_dir: the ``datasets`` cache folder for Hub datasets, image folders and files.

    Raises:
        FileNotFoundError: ``dataset_name`` looks like a local path but nothing is there.
        ValueError: the split is not in the dataset, the file type is unsupported, or a
            configuration was given for a local dataset.
    """
    if dataset_name is None:
        _reject_config(dataset_config_name, DEFAULT_DATASET_NAME)
        return _load_embedded_dataset(split)
    path = Path(dataset_name).expanduser()
    if path.exists():
        _reject_config(dataset_config_name, dataset_name)
        return _load_local_dataset(path, split, cache_dir)
    if _looks_like_a_path(dataset_name):
        raise FileNotFoundError(
            f"dataset {dataset_name!r} looks like a local path, but {path.absolute()} does not exist. "
            "Give an existing save_to_disk folder, image folder or .parquet/.arrow file, "
            "or a Hub dataset name such as 'uoft-cs/cifar10'."
        )
    return datasets.load_dataset(dataset_name, dataset_config_name, split=split, cache_dir=cache_dir)


def _load_embedded_dataset(split: str) -> datasets.Dataset:
    """The packaged MNIST-5k, read into memory with the info (source, licence) stored in the file."""
    if split != DEFAULT_DATASET_SPLIT:
        raise ValueError(
            f"the {DEFAULT_DATASET_NAME} dataset has one split, {DEFAULT_DATASET_SPLIT!r}, not {split!r}; "
            f"use split={DEFAULT_DATASET_SPLIT!r} (and max_samples to take fewer rows)."
        )
    table = pq.read_table(DEFAULT_DATASET_FILE)
    info = datasets.DatasetInfo.from_dict(json.loads(table.schema.metadata[b"huggingface"])["info"])
    return datasets.Dataset(table, info=info, split=datasets.NamedSplit(split))


def _load_local_dataset(path: Path, split: str, cache_dir: str | None) -> datasets.Dataset:
    """A save_to_disk folder, an image folder or a single data file."""
    if path.is_dir():
        if _is_saved_dataset(path):
            return _load_saved_dataset(path, split)
        return datasets.load_dataset("imagefolder", data_dir=str(path), split=split, cache_dir=cache_dir)
    builder = _FILE_BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise ValueError(
            f"cannot load {path}: hf-faa reads {' and '.join(_FILE_BUILDERS)} files, folders written by "
            "save_to_disk, image folders and Hub datasets. Convert the data to one of these."
        )
    return datasets.load_dataset(builder, data_files=str(path), split=split, cache_dir=cache_dir)


def _is_saved_dataset(folder: Path) -> bool:
    """Whether ``folder`` was written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    markers = (datasets.config.DATASET_STATE_JSON_FILENAME, datasets.config.DATASETDICT_JSON_FILENAME)
    return any((folder / marker).is_file() for marker in markers)


def _load_saved_dataset(folder: Path, split: str) -> datasets.Dataset:
    loaded = datasets.load_from_disk(str(folder))
    if not isinstance(loaded, datasets.DatasetDict):
        return loaded
    if split not in loaded:
        raise ValueError(f"{folder} holds the splits {sorted(loaded)}, not {split!r}; choose one of them as the split.")
    return loaded[split]


def _reject_config(dataset_config_name: str | None, dataset: str) -> None:
    if dataset_config_name is not None:
        raise ValueError(
            f"a dataset configuration ({dataset_config_name!r}) only applies to Hub datasets, "
            f"not to {dataset!r}; leave it out."
        )


def _looks_like_a_path(name: str) -> bool:
    """Hub names are ``name`` or ``owner/name``; anything else path-like is meant as a local path."""
    return (
        name.startswith((".", "~", "/"))
        or "\\" in name
        or name.count("/") > 1
        or Path(name).suffix.lower() in _FILE_BUILDERS
    )


# ---------------------------------------------------------------------------------------------
# Columns and labels


def resolve_columns(
    dataset: datasets.Dataset,
    image_column: str | None = None,
    label_column: str | None = None,
    require_label: bool = True,
) -> tuple[str, str | None]:
    """Find the image and label columns from the dataset's features.

    The image column is ``image_column`` if given, else the single column with a
    ``datasets.Image`` feature. The label column is ``label_column`` if given, else the
    ``ClassLabel`` column (by preference order of :data:`LABEL_COLUMN_NAMES` when there are
    several), else an integer column named as in :data:`LABEL_COLUMN_NAMES`.

    Returns:
        ``(image_column, label_column)``; ``label_column`` is ``None`` only when no label column
        exists and ``require_label`` is False.

    Raises:
        ValueError: naming the column, listing the dataset's columns and their features, and
            saying which flag (``--image_column`` / ``--label_column``) fixes it.
    """
    features = dataset.features
    if image_column is None:
        image_column = _detect_image_column(features)
    else:
        _check_image_column(features, image_column)
    if label_column is None:
        label_column = _detect_label_column(features)
    else:
        _check_label_column(features, label_column)
    if label_column is None and require_label and set(features) == {image_column}:
        raise ValueError(
            f"The dataset holds only images (column {image_column!r}) and no labels, and the search needs a class "
            "label for every image. An image folder needs one sub-folder per class (my_images/cat/1.png, "
            "my_images/dog/2.png); another dataset needs a label column (pass --label_column)."
        )
    if label_column is None and require_label:
        raise _column_error(
            features,
            "found no label column: no ClassLabel column and no integer column named " + ", ".join(LABEL_COLUMN_NAMES),
            "pass --label_column with the column that holds the class ids",
        )
    return image_column, label_column


def _detect_image_column(features: datasets.Features) -> str:
    image_columns = [name for name, feature in features.items() if isinstance(feature, datasets.Image)]
    if len(image_columns) == 1:
        return image_columns[0]
    if image_columns:
        raise _column_error(
            features, f"found several image columns ({', '.join(image_columns)})", "pass --image_column to choose one"
        )
    raise _column_error(
        features,
        "found no image column (no column has a datasets.Image feature)",
        "cast the column that holds the images with dataset.cast_column(name, datasets.Image()), "
        "or pass --image_column",
    )


def _check_image_column(features: datasets.Features, image_column: str) -> None:
    if image_column not in features:
        raise _column_error(
            features, f"image column {image_column!r} is not in the dataset", "pass --image_column with one of them"
        )
    if not isinstance(features[image_column], datasets.Image):
        raise _column_error(
            features,
            f"column {image_column!r} is not an image column (its feature is "
            f"{_describe_feature(features[image_column])}, not Image)",
            "pass --image_column with an Image column, or cast this one with "
            f"dataset.cast_column({image_column!r}, datasets.Image()) if it holds image paths or bytes",
        )


def _detect_label_column(features: datasets.Features) -> str | None:
    class_label_columns = [name for name, feature in features.items() if isinstance(feature, datasets.ClassLabel)]
    if len(class_label_columns) == 1:
        return class_label_columns[0]
    if class_label_columns:
        preferred = [name for name in LABEL_COLUMN_NAMES if name in class_label_columns]
        if not preferred:
            raise _column_error(
                features,
                f"found several ClassLabel columns ({', '.join(class_label_columns)})",
                "pass --label_column to choose one",
            )
        return preferred[0]
    integer_columns = [name for name in LABEL_COLUMN_NAMES if name in features and _is_integer(features[name])]
    return integer_columns[0] if integer_columns else None


def _check_label_column(features: datasets.Features, label_column: str) -> None:
    if label_column not in features:
        raise _column_error(
            features, f"label column {label_column!r} is not in the dataset", "pass --label_column with one of them"
        )
    feature = features[label_column]
    if not (isinstance(feature, datasets.ClassLabel) or _is_integer(feature)):
        raise _column_error(
            features,
            f"column {label_column!r} cannot be the label column: its feature is {_describe_feature(feature)}, "
            "and labels must be a ClassLabel or an integer Value",
            "pass --label_column with a ClassLabel or integer column, or encode this one with "
            f"dataset.class_encode_column({label_column!r})",
        )


def _is_integer(feature: Any) -> bool:
    return isinstance(feature, datasets.Value) and pa.types.is_integer(feature.pa_type)


def _describe_feature(feature: Any) -> str:
    if isinstance(feature, datasets.ClassLabel):
        return f"ClassLabel with {feature.num_classes} classes"
    if isinstance(feature, datasets.Value):
        return f"Value({feature.dtype!r})"
    return type(feature).__name__


def _column_error(features: datasets.Features, problem: str, fix: str) -> ValueError:
    columns = ", ".join(f"{name} ({_describe_feature(feature)})" for name, feature in features.items())
    return ValueError(f"{problem}. The dataset's columns: {columns}. To fix it, {fix}.")


def num_classes(dataset: datasets.Dataset, label_column: str | None) -> int:
    """The number of classes: ``ClassLabel.num_classes``, else ``max + 1`` over the label column
    (0 for no label column or no rows)."""
    if label_column is None:
        return 0
    feature = dataset.features[label_column]
    if isinstance(feature, datasets.ClassLabel):
        return feature.num_classes
    labels = _column_values(dataset, label_column)
    return int(labels.max()) + 1 if labels.size else 0


def class_names(dataset: datasets.Dataset, label_column: str | None) -> list[str]:
    """The ``ClassLabel`` names, else ``"0"``, ``"1"``, ... for ``num_classes`` classes."""
    if label_column is not None and isinstance(dataset.features[label_column], datasets.ClassLabel):
        return list(dataset.features[label_column].names)
    return [str(index) for index in range(num_classes(dataset, label_column))]


def _column_values(dataset: datasets.Dataset, column: str) -> np.ndarray:
    """One scalar column as an array ``[len(dataset)]``, read through Arrow (fast, no decoding)."""
    return dataset.select_columns([column]).with_format("arrow")[:][column].to_numpy()


# ---------------------------------------------------------------------------------------------
# Subsets


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
        groups = np.unique(_column_values(dataset, label_column), return_inverse=True)[1]
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


# ---------------------------------------------------------------------------------------------
# Images


def infer_image_mode(dataset: datasets.Dataset, image_column: str) -> str:
    """``"L"`` when every image is single-channel (PIL modes 1, L, LA, I, I;16, F), else ``"RGB"``.

    Reads image headers only (no pixel decoding) and stops at the first multi-channel image.
    Undecodable images are ignored here; a dataset with no decodable image gives ``"L"``.
    """
    headers = (
        dataset.with_format(None).select_columns([image_column]).cast_column(image_column, datasets.Image(decode=False))
    )
    for batch in headers.iter(batch_size=1024):
        for image in batch[image_column]:
            mode = _header_mode(image)
            if mode is not None and mode not in SINGLE_CHANNEL_MODES:
                return "RGB"
    return "L"


def _header_mode(image: ImageInput) -> str | None:
    try:
        with _open_image(image) as opened:
            return opened.mode
    except _DECODE_ERRORS:
        return None


def decode_image(image: ImageInput, mode: str, size: int | None) -> torch.Tensor | None:
    """Decode one image into a uint8 tensor.

    Args:
        image: a PIL image, a ``{"bytes": ..., "path": ...}`` dict (what ``datasets.Image(decode=False)``
            gives; bytes are used when present), a file path, or encoded bytes.
        mode: ``"L"`` (1 channel) or ``"RGB"`` (3 channels).
        size: output side; the shorter side is resized to ``size`` (bilinear, antialiased) and
            the centre cropped to ``size x size``. ``None`` keeps the image's size.

    Encoded images are turned upright by their EXIF orientation (``ImageOps.exif_transpose``, as
    ``datasets.Image`` decodes). Conversions: transparency (RGBA, LA, P or L/RGB with a transparent
    colour) is composited on white; 16-bit images (I;16*) keep their top 8 bits; 32-bit integer and float images (I, F)
    are scaled from the smallest of [0, 1], [0, 255], [0, 65535] that holds them (else from
    their own min..max) to [0, 255]; every other mode (1, P, CMYK, YCbCr, ...) goes through PIL.

    Returns:
        uint8 ``[C, size, size]`` (``[C, H, W]`` when ``size`` is None), or ``None`` when the image
        cannot be decoded. The tensor is a view of channels-last memory (call ``.contiguous()``
        for channels-first memory).
    """
    if mode not in IMAGE_MODES:
        raise ValueError(f"mode must be one of {sorted(IMAGE_MODES)}, got {mode!r}.")
    if size is not None and size < 1:
        raise ValueError(f"size must be a positive number of pixels or None, got {size}.")
    try:
        converted = _convert(_open_image(image), mode)
        return _to_tensor(_fit(converted, size))
    except _DECODE_ERRORS:
        return None


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """uint8 ``[C, H, W]`` (C = 1 or 3) -> PIL image, as a per-image Dataset transform converts."""
    array = image.permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image -> uint8 ``[C, H, W]``."""
    array = np.asarray(image)
    return torch.from_numpy(array.reshape(*array.shape[:2], -1).copy()).permute(2, 0, 1)


def _open_image(image: ImageInput) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, dict):
        image = image.get("bytes") or image.get("path")
        if image is None:
            raise ValueError("an image dict with neither bytes nor a path")
    opened = Image.open(io.BytesIO(image)) if isinstance(image, bytes) else Image.open(image)
    # upright as displayed (camera JPEGs store the orientation in EXIF), as datasets' own decoding does
    if opened.getexif().get(Image.ExifTags.Base.Orientation) is not None:
        opened = ImageOps.exif_transpose(opened)
    return opened


def _convert(image: Image.Image, mode: str) -> Image.Image:
    """Any PIL image -> the same image in ``mode`` ("L" or "RGB"), 8 bits per channel."""
    if image.mode.startswith("I;16"):
        image = Image.fromarray((np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8))
    elif image.mode in ("I", "F"):
        image = Image.fromarray(_rescale_to_uint8(np.asarray(image)))
    elif image.has_transparency_data:
        image = _flatten_on_white(image)
    if image.mode not in IMAGE_MODES:  # 1, P, CMYK, YCbCr, ...: PIL cannot turn all of them into L
        image = image.convert("RGB")
    return image if image.mode == mode else image.convert(mode)


def _rescale_to_uint8(values: np.ndarray) -> np.ndarray:
    """32-bit integer or float pixels [H, W] -> uint8 [H, W] (see :func:`decode_image`)."""
    values = np.nan_to_num(values.astype(np.float64))
    low, high = float(values.min()), float(values.max())
    if low >= 0:
        low, high = 0.0, next((full_scale for full_scale in _NOMINAL_RANGES if high <= full_scale), high)
    scaled = (values - low) * (255.0 / max(high - low, 1e-12))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _flatten_on_white(image: Image.Image) -> Image.Image:
    """Composite an image with transparency over a white background -> RGB."""
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")


def _fit(image: Image.Image, size: int | None) -> Image.Image:
    """Resize the shorter side to ``size`` and centre-crop to ``size x size`` (one resampling:
    ImageOps.fit crops the centred square region and resizes it, antialiased)."""
    if size is None or image.size == (size, size):
        return image
    return ImageOps.fit(image, (size, size), method=Image.Resampling.BILINEAR)


def _to_tensor(image: Image.Image) -> torch.Tensor:
    """An "L" or "RGB" PIL image -> uint8 [C, H, W], a channels-first view of channels-last pixels
    (no transposing copy: stacking copies anyway, and image processors want channels-last)."""
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8))
    return pixels.unsqueeze(0) if pixels.ndim == 2 else pixels.permute(2, 0, 1)


# ---------------------------------------------------------------------------------------------
# Transform and collate


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


# ---------------------------------------------------------------------------------------------
# Everything at once


@dataclasses.dataclass
class PreparedDataset:
    """A dataset ready for a ``DataLoader`` with ``collate_fn=collate_valid``, and what it holds."""

    dataset: datasets.Dataset  # with a DecodeTransform set
    image_column: str
    label_column: str | None
    mode: str  # "L" or "RGB"
    num_channels: int
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
) -> PreparedDataset:
    """Load, find the columns, take a stratified subset, infer the mode and set the decode transform.

    Rows of ``prepared.dataset`` are ``{"pixel_values": uint8 [C, image_size, image_size],
    "labels": int, "valid": bool}``. ``num_classes`` and ``class_names`` describe the whole split,
    before ``max_samples``. Arguments are those of :func:`load_image_dataset`,
    :func:`resolve_columns`, :func:`stratified_subset` and :func:`decode_image`.

    Raises:
        ValueError: fewer than ``min_samples`` rows (the search passes its batch size), or any
            error of the functions above.
    """
    dataset = load_image_dataset(dataset_name, dataset_config_name, split, cache_dir)
    image_column, label_column = resolve_columns(dataset, image_column, label_column, require_label)
    classes = class_names(dataset, label_column)
    unlabelled = 0
    if require_label:
        source = _describe_source(dataset_name, dataset_config_name, split, len(dataset))
        dataset, unlabelled = labelled_rows(dataset, label_column, len(classes), source)
    if max_samples is not None:
        dataset = stratified_subset(dataset, label_column, max_samples, seed)
    description = _describe_source(dataset_name, dataset_config_name, split, len(dataset))
    if len(dataset) < min_samples:
        raise ValueError(
            f"the dataset {description} has {len(dataset)} rows, but at least {min_samples} are needed "
            "(one full batch); use a smaller batch size, a larger max_samples or a larger dataset."
        )
    mode = infer_image_mode(dataset, image_column)
    dataset = dataset.cast_column(image_column, datasets.Image(decode=False))
    columns = [column for column in (image_column, label_column) if column is not None]
    dataset.set_transform(DecodeTransform(image_column, label_column, mode, image_size), columns=columns)
    return PreparedDataset(
        dataset=dataset,
        image_column=image_column,
        label_column=label_column,
        mode=mode,
        num_channels=IMAGE_MODES[mode],
        num_classes=len(classes),
        class_names=classes,
        description=description,
        unlabelled_rows=unlabelled,
    )


def labelled_rows(
    dataset: datasets.Dataset, label_column: str, num_classes: int, source: str
) -> tuple[datasets.Dataset, int]:
    """``dataset`` without its unlabelled rows (label -1, the ``datasets`` convention, e.g. of unlabelled
    test splits), and how many were left out.

    Raises:
        ValueError: a label outside ``[0, num_classes)`` other than -1, or fewer than 2 classes.
    """
    labels = _column_values(dataset, label_column)
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
            f"{source} has {num_classes} class(es) in column {label_column!r}; the search learns which "
            "augmentations keep images apart from other classes and needs at least 2."
        )
    unlabelled = labels == -1
    if unlabelled.all():
        raise ValueError(
            f"{source}: every label in column {label_column!r} is -1 (unlabelled); the search needs labels."
        )
    if unlabelled.any():
        dataset = dataset.select(np.flatnonzero(~unlabelled))
    return dataset, int(unlabelled.sum())


def _describe_source(dataset_name: str | None, dataset_config_name: str | None, split: str, num_rows: int) -> str:
    source = DEFAULT_DATASET_NAME if dataset_name is None else dataset_name
    if dataset_config_name is not None:
        source = f"{source} [{dataset_config_name}]"
    return f"{source} ({split}, {num_rows} rows)"
