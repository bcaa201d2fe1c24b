"""Load one split of an image dataset: the embedded MNIST-5k, a Hub name, a ``save_to_disk`` folder, an
image folder or a parquet/arrow file."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq

from ..resources import DEFAULT_DATASET_FILE

DEFAULT_DATASET_NAME = "hf-faa embedded MNIST-5k"
DEFAULT_DATASET_SPLIT = "train"

_FILE_BUILDERS = {".parquet": "parquet", ".arrow": "arrow"}
# Rows a stream shuffles among (datasets' default); the shards are shuffled as a whole besides.
STREAM_SHUFFLE_BUFFER_ROWS = 1000
_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16"})  # PIL modes a PNG holds losslessly


def load_image_dataset(
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    split: str = "train",
    cache_dir: str | None = None,
    streamed_rows: int | None = None,
    seed: int = 0,
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
        streamed_rows: stream a Hub dataset, image folder or file (``datasets.load_dataset(...,
            streaming=True)``) instead of downloading and preparing the whole split, and keep this many rows of
            it in memory (:func:`sample_stream`). The embedded dataset and ``save_to_disk`` folders, local
            already, are loaded whole.
        seed: the seed of that shuffle.

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
        return _load_local_dataset(path, split, cache_dir, streamed_rows, seed)
    if _looks_like_a_path(dataset_name):
        raise FileNotFoundError(
            f"dataset {dataset_name!r} looks like a local path, but {path.absolute()} does not exist. "
            "Give an existing save_to_disk folder, image folder or .parquet/.arrow file, "
            "or a Hub dataset name such as 'uoft-cs/cifar10'."
        )
    return _load_split(split, streamed_rows, seed, dataset_name, dataset_config_name, cache_dir=cache_dir)


def _load_split(split: str, streamed_rows: int | None, seed: int, *args: str | None, **kwargs: Any) -> datasets.Dataset:
    """``datasets.load_dataset(*args, split=split, **kwargs)``, or ``streamed_rows`` rows of its stream
    (:func:`load_image_dataset`); a split the dataset lacks is a user mistake whose message says which splits there
    are, not a traceback."""
    try:
        if streamed_rows is None:
            return datasets.load_dataset(*args, split=split, **kwargs)
        return sample_stream(datasets.load_dataset(*args, split=split, streaming=True, **kwargs), streamed_rows, seed)
    except ValueError as error:
        if not str(error).startswith("Unknown split"):
            raise
        raise ValueError(f"{error} Choose one of them as the split (--train_split, --eval_split).") from None


def sample_stream(stream: datasets.IterableDataset, num_rows: int, seed: int = 0) -> datasets.Dataset:
    """The first ``num_rows`` rows of ``stream`` shuffled by ``seed`` (the shards in a shuffled order, the rows
    through a buffer of :data:`STREAM_SHUFFLE_BUFFER_ROWS`), as an in-memory ``Dataset`` to search or train on.

    Images keep the bytes they are stored as (no decoding and re-encoding); one stored as a path that is not a local
    file (a file inside an archive, or on the Hub) is read now, through ``datasets``, and kept as a lossless PNG
    (TIFF for modes PNG cannot hold), so the sample needs no access to the source later.
    """
    image_columns = [name for name, feature in (stream.features or {}).items() if isinstance(feature, datasets.Image)]
    for name in image_columns:
        stream = stream.cast_column(name, datasets.Image(decode=False))
    rows = list(stream.shuffle(seed=seed, buffer_size=STREAM_SHUFFLE_BUFFER_ROWS).take(num_rows))
    for row in rows:
        for name in image_columns:
            row[name] = _held_in_bytes(row[name])
    sample = datasets.Dataset.from_list(rows, features=stream.features)
    for name in image_columns:
        sample = sample.cast_column(name, datasets.Image())
    return sample


def _held_in_bytes(image: dict[str, Any] | None) -> dict[str, Any] | None:
    """An encoded image ``{"bytes", "path"}`` as it is when it holds its bytes or names a local file, else read now
    (``datasets.Image().decode_example`` opens remote and archived paths) and encoded losslessly."""
    if image is None or image["bytes"] is not None or Path(image["path"] or "").is_file():
        return image
    decoded = datasets.Image().decode_example(image)
    buffer = io.BytesIO()
    decoded.save(buffer, format="PNG" if decoded.mode in _PNG_MODES else "TIFF")
    return {"bytes": buffer.getvalue(), "path": None}


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


def _load_local_dataset(
    path: Path, split: str, cache_dir: str | None, streamed_rows: int | None, seed: int
) -> datasets.Dataset:
    """A save_to_disk folder, an image folder or a single data file."""
    if path.is_dir():
        if _is_saved_dataset(path):
            return _load_saved_dataset(path, split)
        return _load_split(split, streamed_rows, seed, "imagefolder", data_dir=str(path), cache_dir=cache_dir)
    builder = _FILE_BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise ValueError(
            f"cannot load {path}: hf-faa reads {' and '.join(_FILE_BUILDERS)} files, folders written by "
            "save_to_disk, image folders and Hub datasets. Convert the data to one of these."
        )
    return _load_split(split, streamed_rows, seed, builder, data_files=str(path), cache_dir=cache_dir)


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


def describe_source(dataset_name: str | None, dataset_config_name: str | None, split: str, num_rows: int) -> str:
    """``name [config] (split, N rows)``, for messages and model cards."""
    source = DEFAULT_DATASET_NAME if dataset_name is None else dataset_name
    if dataset_config_name is not None:
        source = f"{source} [{dataset_config_name}]"
    return f"{source} ({split}, {num_rows} rows)"
