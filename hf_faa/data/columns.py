"""Which column holds the images and which the labels: one rule for a ``Dataset`` (read from its
features) and for a batch dict that ``set_transform`` hands over (read from its values), so the same
data resolves to the same columns in the search, training, the transforms and the evaluation."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

from .images import array_to_image

logger = logging.getLogger(__name__)

# Integer columns taken as the label when no ClassLabel column exists, in order of preference.
LABEL_COLUMN_NAMES = ("label", "labels", "target", "targets", "fine_label", "class")

IMAGE, ARRAY, CLASS_LABEL, INTEGER, NAMES, FLOAT, OTHER = (
    "image", "pixel_arrays", "class_label", "integer", "names", "float", "other"
)  # fmt: skip


@dataclass(frozen=True)
class Column:
    """What a column holds: ``kind`` (image, pixel_arrays (2-D or 3-D arrays of numbers), class_label, integer, names
    (strings or booleans), float or other) and how to show it in errors."""

    kind: str
    description: str


def describe_columns(source: datasets.Dataset | Mapping[str, list]) -> dict[str, Column]:
    """Each column of a ``Dataset`` (by its feature) or of a batch dict of lists (by its first non-None value)."""
    if isinstance(source, datasets.Dataset):
        return {name: _feature_column(feature) for name, feature in source.features.items()}
    return {name: _value_column(next((v for v in values if v is not None), None)) for name, values in source.items()}


def _feature_column(feature: Any) -> Column:
    if isinstance(feature, datasets.Image):
        return Column(IMAGE, "Image")
    if isinstance(feature, datasets.ClassLabel):
        return Column(CLASS_LABEL, f"ClassLabel with {feature.num_classes} classes")
    if isinstance(feature, datasets.Value):
        return Column(_value_kind(feature.pa_type), f"Value({feature.dtype!r})")
    dimensions = _array_dimensions(feature)
    if dimensions in (2, 3):
        return Column(ARRAY, f"{type(feature).__name__} of {dimensions}-D number arrays")
    return Column(OTHER, type(feature).__name__)


def _array_dimensions(feature: Any) -> int:
    """The number of dimensions of an ``Array2D``/``Array3D`` or of nested ``List`` features of numbers; 0 for any
    other feature."""
    if isinstance(feature, datasets.Array2D | datasets.Array3D):
        return len(feature.shape)
    dimensions = 0
    while isinstance(feature, datasets.List):
        feature, dimensions = feature.feature, dimensions + 1
    is_number = isinstance(feature, datasets.Value) and _value_kind(feature.pa_type) in (INTEGER, FLOAT)
    return dimensions if is_number else 0


def _value_dimensions(value: Any) -> int:
    """The number of dimensions of a list or array of numbers (nested lists included); 0 for any other value."""
    if not isinstance(value, list | np.ndarray):
        return 0
    try:
        array = np.asarray(value)
    except ValueError:  # ragged lists
        return 0
    return array.ndim if np.issubdtype(array.dtype, np.number) else 0


def _value_kind(arrow_type: pa.DataType) -> str:
    if pa.types.is_integer(arrow_type):
        return INTEGER
    if pa.types.is_floating(arrow_type):
        return FLOAT
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_boolean(arrow_type):
        return NAMES
    return OTHER


def _value_column(value: Any) -> Column:
    if isinstance(value, Image.Image) or (isinstance(value, dict) and ("bytes" in value or "path" in value)):
        return Column(IMAGE, "images")
    dimensions = _value_dimensions(value)
    if dimensions in (2, 3):
        return Column(ARRAY, f"{dimensions}-D number arrays")
    is_integer = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    return Column(INTEGER if is_integer else OTHER, f"{type(value).__name__} values")


def resolve_columns(
    source: datasets.Dataset | Mapping[str, list],
    image_column: str | None = None,
    label_column: str | None = None,
    require_label: bool = True,
) -> tuple[str, str | None]:
    """Find the image and label columns of a ``Dataset`` or of a batch dict of lists.

    The image column is ``image_column`` if given (it must hold images), else the single column that
    does. The label column is ``label_column`` if given (a ClassLabel or integer column), else the
    ``ClassLabel`` column (by preference order of :data:`LABEL_COLUMN_NAMES` when there are several),
    else an integer column named as in :data:`LABEL_COLUMN_NAMES`. A batch carries no features, so
    there its ClassLabel columns count as integer columns.

    Returns:
        ``(image_column, label_column)``; ``label_column`` is ``None`` only when no label column
        exists and ``require_label`` is False.

    Raises:
        ValueError: naming the column, listing the columns and what they hold, and saying which
            argument (``image_column`` / ``label_column``, ``--image_column`` / ``--label_column`` in the
            scripts) fixes it.
    """
    columns = describe_columns(source)
    if image_column is None:
        image_column = _detect_image_column(columns)
    else:
        _check_column(columns, image_column, "image", (IMAGE,))
    if label_column is None:
        label_column = _detect_label_column(columns)
    else:
        _check_column(columns, label_column, "label", (CLASS_LABEL, INTEGER))
    if label_column is None and require_label and set(columns) == {image_column}:
        raise ValueError(
            f"The dataset holds only images (column {image_column!r}) and no labels, and the search needs a class "
            "label for every image. An image folder needs one sub-folder per class (my_images/cat/1.png, "
            "my_images/dog/2.png); another dataset needs a label column (pass --label_column)."
        )
    if label_column is None and require_label:
        raise _column_error(
            columns,
            "found no label column: no ClassLabel column and no integer column named " + ", ".join(LABEL_COLUMN_NAMES),
            "pass label_column (--label_column) with the column that holds the class ids",
        )
    return image_column, label_column


def encode_images(dataset: datasets.Dataset, image_column: str | None = None) -> datasets.Dataset:
    """``dataset`` with a column of pixel arrays, or a named column of image paths or encoded bytes, made into a
    ``datasets.Image`` column; any other dataset as it is.

    That column is ``image_column`` unless it is an image column already, else (no ``image_column``, and no image
    column in the dataset) the one column of 2-D or 3-D number arrays. Each array becomes a lossless PNG
    (:func:`~hf_faa.data.images.array_to_image`: ``[H, W]``, ``[H, W, C]`` or ``[C, H, W]``; uint8 kept, other
    number types scaled to 8 bits); paths and bytes are cast to ``datasets.Image()`` as they are.

    Raises:
        ValueError: an array that does not have an image's shape.
    """
    columns = describe_columns(dataset)
    if image_column is None and not any(column.kind == IMAGE for column in columns.values()):
        arrays = [name for name, column in columns.items() if column.kind == ARRAY]
        image_column = arrays[0] if len(arrays) == 1 else None
    if image_column is None or image_column not in columns:
        return dataset
    column, feature = columns[image_column], dataset.features[image_column]
    if column.kind == ARRAY:
        logger.info(f"Read the pixel arrays of column {image_column!r} ({column.description}) as images.")
        features = dataset.features.copy()
        features[image_column] = datasets.Image()
        return dataset.map(
            lambda batch: {image_column: [array_to_image(values) for values in batch]},
            batched=True, input_columns=[image_column], features=features, desc=f"Reading {image_column!r} as images",
        )  # fmt: skip
    if isinstance(feature, datasets.Value) and _holds_paths_or_bytes(feature.pa_type):
        logger.info(f"Read column {image_column!r} ({column.description}) as image paths or bytes.")
        return dataset.cast_column(image_column, datasets.Image())
    return dataset


def _holds_paths_or_bytes(arrow_type: pa.DataType) -> bool:
    return any(is_type(arrow_type) for is_type in (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary,
                                                   pa.types.is_large_binary))  # fmt: skip


def encode_labels(
    dataset: datasets.Dataset, label_column: str | None = None, like: datasets.Dataset | None = None
) -> datasets.Dataset:
    """``dataset`` with a label column that does not hold class ids made into one; any other dataset as it is.

    That column is ``label_column``, else (no ``label_column``, and no ClassLabel or integer label column to find)
    the first column named as in :data:`LABEL_COLUMN_NAMES`. Class names (strings, or booleans) become a
    ``ClassLabel`` of the sorted names (``Dataset.class_encode_column``), or ``like``'s ClassLabel, so that another
    split of the same data gets the same class ids. Whole numbers stored as floats (pandas stores an integer column
    with a missing value so) become integers; a missing value (null, or NaN, which becomes -1) reads as -1, no label.

    Raises:
        ValueError: a name that ``like``'s classes do not have, ``like``'s labels are not class names, or a float
            label that is not a whole number.
    """
    columns = describe_columns(dataset)
    if label_column is None and _detect_label_column(columns) is None:
        named = [name for name in LABEL_COLUMN_NAMES if name in columns and columns[name].kind in (NAMES, FLOAT)]
        label_column = named[0] if named else None
    if label_column is None or label_column not in columns:
        return dataset
    if columns[label_column].kind == FLOAT:
        return _whole_number_labels(dataset, label_column)
    if columns[label_column].kind != NAMES:
        return dataset
    if dataset.features[label_column].dtype == "bool":  # the names class_encode_column would give: "False", "True"
        dataset = _relabelled(dataset, label_column, datasets.Value("string"), str)
    if like is None:
        encoded = dataset.class_encode_column(label_column)
        names = encoded.features[label_column].names
        logger.info(f"Encoded the class names of column {label_column!r} as ids 0-{len(names) - 1}: "
                    f"{', '.join(names[:10])}{', ...' if len(names) > 10 else ''}.")  # fmt: skip
        return encoded
    classes = like.features[label_column]
    if not isinstance(classes, datasets.ClassLabel):
        raise ValueError(
            f"Column {label_column!r} holds class names in this split but {_feature_column(classes).description} in "
            "the training split; give both splits the same kind of labels."
        )
    unknown = sorted(set(dataset.unique(label_column)) - set(classes.names) - {None})
    if unknown:
        raise ValueError(
            f"Column {label_column!r} of this split holds class names the training split does not have "
            f"({', '.join(map(repr, unknown[:5]))}); every class of an evaluation split must also be in the training "
            "split."
        )
    return dataset.cast_column(label_column, classes)


def _whole_number_labels(dataset: datasets.Dataset, label_column: str) -> datasets.Dataset:
    """A float label column of whole numbers as int64 (NaN as -1); a clear error for any other number."""
    values = column_values(dataset, label_column).astype(np.float64)
    known = values[~np.isnan(values)]
    fractional = known[known != np.round(known)]
    if fractional.size:
        raise ValueError(
            f"Column {label_column!r} holds numbers that are not class ids ({', '.join(map(str, fractional[:5]))}): "
            "labels must be whole numbers 0, 1, 2, ... or class names. A column of measurements is a regression "
            "target, which this project does not search for; pass --label_column with a column of classes."
        )
    logger.info(f"Read the whole numbers of float column {label_column!r} as class ids (a missing value: no label).")
    whole = datasets.Value("int64")
    return _relabelled(dataset, label_column, whole, lambda value: -1 if np.isnan(value) else int(value))


def _relabelled(
    dataset: datasets.Dataset, label_column: str, feature: datasets.Value, relabel: Callable[[Any], Any]
) -> datasets.Dataset:
    """``dataset`` with ``relabel`` applied to every present value of ``label_column``, now of type ``feature``;
    a missing value (null) stays missing."""
    features = dataset.features.copy()
    features[label_column] = feature
    return dataset.map(
        lambda batch: {label_column: [None if value is None else relabel(value) for value in batch]},
        batched=True, input_columns=[label_column], features=features, desc=f"Reading {label_column!r}",
    )  # fmt: skip


def _detect_image_column(columns: dict[str, Column]) -> str:
    image_columns = [name for name, column in columns.items() if column.kind == IMAGE]
    if len(image_columns) == 1:
        return image_columns[0]
    if image_columns:
        raise _column_error(
            columns,
            f"found several image columns ({', '.join(image_columns)})",
            "pass image_column (--image_column) to choose one",
        )
    arrays = [name for name, column in columns.items() if column.kind == ARRAY]
    if arrays:
        raise _column_error(
            columns,
            f"found no image column, only pixel arrays ({', '.join(arrays)})",
            f"read one as images first, dataset = hf_faa.data.encode_images(dataset, {arrays[0]!r}) (the scripts "
            "do this themselves where one column holds pixel arrays; with several, pass --image_column)",
        )
    raise _column_error(
        columns,
        "found no image column (no column has a datasets.Image feature or holds images or pixel arrays)",
        "cast the column that holds the images with dataset.cast_column(name, datasets.Image()), "
        "or pass image_column (--image_column)",
    )


def _detect_label_column(columns: dict[str, Column]) -> str | None:
    class_label_columns = [name for name, column in columns.items() if column.kind == CLASS_LABEL]
    if len(class_label_columns) == 1:
        return class_label_columns[0]
    if class_label_columns:
        preferred = [name for name in LABEL_COLUMN_NAMES if name in class_label_columns]
        if not preferred:
            raise _column_error(
                columns,
                f"found several ClassLabel columns ({', '.join(class_label_columns)})",
                "pass label_column (--label_column) to choose one",
            )
        return preferred[0]
    return next((name for name in LABEL_COLUMN_NAMES if name in columns and columns[name].kind == INTEGER), None)


def _check_column(columns: dict[str, Column], name: str, role: str, kinds: tuple[str, ...]) -> None:
    option = f"{role}_column (--{role}_column)"
    if name not in columns:
        raise _column_error(columns, f"{role} column {name!r} is not in the dataset", f"pass {option} with one of them")
    if columns[name].kind in kinds:
        return
    holds = columns[name].description
    if role == "image" and columns[name].kind == ARRAY:
        raise _column_error(
            columns,
            f"column {name!r} holds pixel arrays ({holds}), not images",
            f"read it as images first, dataset = hf_faa.data.encode_images(dataset, {name!r}) (the scripts do this "
            "themselves)",
        )
    if role == "image":
        raise _column_error(
            columns,
            f"column {name!r} is not an image column (it holds {holds})",
            f"pass {option} with an image column, or cast this one with "
            f"dataset.cast_column({name!r}, datasets.Image()) if it holds image paths or bytes",
        )
    raise _column_error(
        columns,
        f"column {name!r} cannot be the label column: it holds {holds}, and labels must be a ClassLabel or integers",
        f"pass {option} with a ClassLabel or integer column, or encode this one with "
        f"dataset.class_encode_column({name!r})",
    )


def _column_error(columns: dict[str, Column], problem: str, fix: str) -> ValueError:
    listed = ", ".join(f"{name} ({column.description})" for name, column in columns.items())
    return ValueError(f"{problem[0].upper()}{problem[1:]}. The dataset's columns: {listed}. To fix it, {fix}.")


def num_classes(dataset: datasets.Dataset, label_column: str | None) -> int:
    """The number of classes: ``ClassLabel.num_classes``, else ``max + 1`` over the label column
    (0 for no label column or no rows)."""
    if label_column is None:
        return 0
    feature = dataset.features[label_column]
    if isinstance(feature, datasets.ClassLabel):
        return feature.num_classes
    labels = column_values(dataset, label_column)
    return int(labels.max()) + 1 if labels.size else 0


def class_names(dataset: datasets.Dataset, label_column: str | None) -> list[str]:
    """The ``ClassLabel`` names, else ``"0"``, ``"1"``, ... for ``num_classes`` classes."""
    if label_column is not None and isinstance(dataset.features[label_column], datasets.ClassLabel):
        return list(dataset.features[label_column].names)
    return [str(index) for index in range(num_classes(dataset, label_column))]


def column_values(dataset: datasets.Dataset, column: str) -> np.ndarray:
    """One scalar column as an array ``[len(dataset)]``, read through Arrow (fast, no decoding); a missing value
    (null) of an integer or ClassLabel column reads as -1, the ``datasets`` convention for no label."""
    values = dataset.select_columns([column]).with_format("arrow")[:][column]
    return (pc.fill_null(values, -1) if pa.types.is_integer(values.type) else values).to_numpy()
