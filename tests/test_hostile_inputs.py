"""Hostile images and datasets: each gets a clear error, or is skipped and counted; never a crash deep
inside torch, never a silent wrong label."""

from __future__ import annotations

import io
import logging

import datasets
import numpy as np
import pyarrow as pa
import pytest
import torch
from PIL import Image

from hf_faa.data import class_names, collate_valid, decode_image, prepare_dataset
from hf_faa.training import DataArguments, load_splits


def encode(image: Image.Image, image_format: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def photo(size: tuple[int, int] = (64, 64)) -> Image.Image:
    return Image.effect_noise(size, 60).convert("RGB")


def animated_gif() -> bytes:
    frames = [Image.new("P", (8, 8), index) for index in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


DECODABLE = {  # name: (encoded image, mean value of the decoded 8x8 RGB result)
    "1x1 pixel": (encode(Image.new("RGB", (1, 1), (10, 20, 30))), 20.0),
    "20,000 pixels wide": (encode(Image.new("L", (20_000, 3), 7)), 7.0),
    "CMYK JPEG": (encode(Image.new("CMYK", (16, 16), (0, 0, 0, 0)), "JPEG"), 255.0),
    "16-bit TIFF (top 8 bits)": (encode(Image.fromarray(np.full((8, 8), 40_000, np.uint16)), "TIFF"), 156.0),
    "float TIFF in [0, 1]": (encode(Image.fromarray(np.full((8, 8), 0.5, np.float32)), "TIFF"), 128.0),
    "animated GIF (first frame)": (animated_gif(), 0.0),
}
UNDECODABLE = {
    "truncated PNG": encode(photo())[:300],
    "truncated JPEG": encode(photo(), "JPEG")[:300],
    # 400 megapixels: beyond twice PIL's MAX_IMAGE_PIXELS, PIL raises DecompressionBombError before decoding
    "decompression bomb": encode(Image.new("1", (20_000, 20_000))),
    "not an image": b"GIF89a but not really",
}


@pytest.mark.parametrize("name", DECODABLE)
def test_odd_but_valid_images_decode(name):
    encoded, mean = DECODABLE[name]
    out = decode_image({"bytes": encoded, "path": None}, "RGB", 8)
    assert out.shape == (3, 8, 8) and out.dtype == torch.uint8
    assert out.float().mean().item() == pytest.approx(mean, abs=1.5)


@pytest.mark.parametrize("name", UNDECODABLE)
def test_broken_images_and_bombs_are_skipped(name):
    assert decode_image({"bytes": UNDECODABLE[name], "path": None}, "RGB", 8) is None


def test_exif_rotated_jpeg_is_turned_upright_as_datasets_does():
    stored = Image.new("RGB", (20, 10), (255, 0, 0))
    stored.paste((0, 0, 255), (0, 0, 10, 10))  # left half blue as stored
    exif = Image.Exif()
    exif[Image.ExifTags.Base.Orientation] = 6  # displayed rotated 90° clockwise: blue on top
    encoded = encode(stored, "JPEG", exif=exif, quality=95)
    ours = decode_image({"bytes": encoded, "path": None}, "RGB", None)
    assert ours.shape == (3, 20, 10)
    assert ours[2, 2, 5] > 200 and ours[0, 17, 5] > 200  # blue top, red bottom
    theirs = datasets.Image().decode_example({"bytes": encoded, "path": None})
    assert torch.equal(ours, torch.from_numpy(np.array(theirs)).permute(2, 0, 1))


def saved_dataset(tmp_path, images: list[bytes | None], labels: list[int], names: list[str] | None = None) -> str:
    """A save_to_disk folder. The table is built in Arrow directly, as another tool could write it: datasets'
    own constructors refuse a ClassLabel value out of range, files written elsewhere need not. A None image is a
    null cell (a missing image)."""
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=names) if names else datasets.Value("int64")}
    )
    cells = [None if image is None else {"bytes": image, "path": None} for image in images]
    table = pa.table({"image": cells, "label": labels},
                     schema=features.arrow_schema)  # fmt: skip
    datasets.Dataset(table, info=datasets.DatasetInfo(features=features)).save_to_disk(str(tmp_path / "data"))
    return str(tmp_path / "data")


def test_hostile_and_missing_images_in_a_dataset_are_skipped_and_counted(tmp_path):
    images = [encode(photo((12, 12))) for _ in range(6)] + list(UNDECODABLE.values()) + [None]
    prepared = prepare_dataset(
        saved_dataset(tmp_path, images, [index % 2 for index in range(len(images))]), image_size=8
    )
    batch = collate_valid([prepared.dataset[index] for index in range(len(images))])
    assert batch["pixel_values"].shape == (6, 3, 8, 8) and int(batch["num_skipped"]) == len(UNDECODABLE) + 1


def test_unlabelled_rows_are_left_out_and_counted(tmp_path):
    images = [encode(Image.new("L", (8, 8), value)) for value in range(8)]
    labels = [0, 1, -1, 0, 1, -1, 0, 1]  # -1: datasets' "no label"
    prepared = prepare_dataset(saved_dataset(tmp_path, images, labels, names=["a", "b"]), image_size=8)
    assert prepared.unlabelled_rows == 2 and len(prepared.dataset) == 6
    kept = [prepared.dataset[index] for index in range(6)]
    assert [row["labels"] for row in kept] == [0, 1, 0, 1, 0, 1]
    assert [int(row["pixel_values"][0, 0, 0]) for row in kept] == [0, 1, 3, 4, 6, 7]  # the labelled images
    splits = load_splits(DataArguments(dataset_name=str(tmp_path / "data"), eval_fraction=0.5))  # training too
    assert sorted(list(splits.train["label"]) + list(splits.evaluation["label"])) == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize(
    ("labels", "names", "message"),
    [
        ([0, 1, 7, 1], ["a", "b"], r"1 label\(s\) in column 'label' are outside the 2 classes 0..1 \(e.g. \[7\]\)"),
        ([0, -5, 1, 1], None, r"outside the 2 classes 0..1 \(e.g. \[-5\]\)"),
        ([0, 0, 0, 0], ["only"], r"has 1 class\(es\) in column 'label'.*needs at least 2"),
        ([-1, -1, -1, -1], ["a", "b"], "every label in column 'label' is -1"),
    ],
)
def test_impossible_labels_are_clear_errors(tmp_path, labels, names, message):
    images = [encode(Image.new("L", (8, 8))) for _ in labels]
    with pytest.raises(ValueError, match=message):
        prepare_dataset(saved_dataset(tmp_path, images, labels, names), image_size=8)


def test_a_dataset_smaller_than_one_batch_per_process_is_a_clear_error(tmp_path):
    images = [encode(Image.new("L", (8, 8))) for _ in range(6)]
    with pytest.raises(ValueError, match="has 6 rows, but at least 16 are needed"):
        prepare_dataset(saved_dataset(tmp_path, images, [0, 1] * 3), image_size=8, min_samples=16)


def test_a_class_with_a_single_row_trains_untested_in_a_hold_out(tmp_path, caplog):
    """A long-tailed dataset's one-row class cannot be on both sides of a stratified hold-out (datasets refuses
    the split); its row trains, the others split as they would without it, and a warning names the class."""
    images = [encode(Image.new("L", (8, 8), value)) for value in range(21)]
    labels = [0, 1] * 10 + [2]
    folder = saved_dataset(tmp_path, images, labels, ["a", "b", "rare"])
    with caplog.at_level(logging.WARNING, logger="hf_faa"):
        splits = load_splits(DataArguments(dataset_name=folder, eval_fraction=0.5))
    assert "1 class(es) with a single row (rare) train but are not tested" in caplog.text
    pixel = [np.asarray(image)[0, 0] for image in splits.train["image"]]
    assert len(splits.train) == 11 and len(splits.evaluation) == 10 and 20 in pixel
    assert sorted(splits.evaluation["label"]) == [0] * 5 + [1] * 5
    common = saved_dataset(tmp_path / "common", images[:20], labels[:20], ["a", "b"])  # the same rows but the rare one
    without = load_splits(DataArguments(dataset_name=common, eval_fraction=0.5))
    assert list(splits.evaluation["image"]) == list(without.evaluation["image"])


def test_integer_labels_give_every_side_every_class(tmp_path):
    """An integer label column becomes a ClassLabel of the whole split's classes: a training side whose largest id
    is smaller than the test side's still gets a model head for every class (evaluate.py stopped with 'Target 6 is
    out of bounds' in the test loss), and the hold-out is stratified."""
    images = [encode(Image.new("L", (8, 8), value)) for value in range(40)]
    folder = saved_dataset(tmp_path, images, [index % 4 for index in range(40)])  # an int64 label column
    splits = load_splits(DataArguments(dataset_name=folder, eval_fraction=0.5, max_train_samples=3))
    assert len(set(splits.train["label"])) == 3 and class_names(splits.train, "label") == ["0", "1", "2", "3"]
    assert sorted(splits.evaluation["label"]) == [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5


@pytest.mark.parametrize(("eval_fraction", "message"), [(0.85, "leaves 3 training rows for 4 classes"),
                                                        (0.1, "leaves 2 test rows for 4 classes")])  # fmt: skip
def test_a_hold_out_too_small_for_every_class_is_a_clear_error(tmp_path, eval_fraction, message):
    images = [encode(Image.new("L", (8, 8))) for _ in range(20)]
    data_args = DataArguments(dataset_name=saved_dataset(tmp_path, images, [0, 1, 2, 3] * 5, ["a", "b", "c", "d"]),
                              eval_fraction=eval_fraction)  # fmt: skip
    with pytest.raises(ValueError, match=f"{message}, and a stratified split needs at least one per class"):
        load_splits(data_args)
    data_args.eval_fraction = 0.8  # 4 training rows, 16 test rows: one of each class on both sides is enough
    assert [len(split) for split in load_splits(data_args)[:2]] == [4, 16]
