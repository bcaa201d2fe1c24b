"""Tests for hf_faa.suite: the suite datasets build offline, balanced, 32x32 and deterministic, survive
save_to_disk, and their classes differ in the statistic that is meant to carry the label."""

from __future__ import annotations

import io
import sys
from collections import Counter

import datasets
import numpy as np
import pytest
from PIL import Image

from hf_faa import suite
from hf_faa.data import load_image_dataset, prepare_dataset

TEXTURE_CLASSES = ["brick", "grass", "gravel", "camera", "cell", "clock"]
PHOTO_CLASSES = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina"]
EXPOSURE_CLASSES = [f"mean{mean}-contrast{contrast}" for contrast in (0.5, 1.0) for mean in (90, 128, 166)]
EXPOSURE_SOURCES = ["brick", "grass", "gravel"]
TINT_CLASSES = ["red", "yellow", "green", "cyan", "blue", "magenta"]
MARKER_CLASSES = [f"{exposure}-{side}" for exposure in EXPOSURE_CLASSES for side in ("left", "right")]
# name -> (image mode, class names)
PATCH_DATASETS = {
    "textures": ("L", TEXTURE_CLASSES),
    "photo-patches": ("RGB", PHOTO_CLASSES),
    "exposure": ("L", EXPOSURE_CLASSES),
    "tinted": ("RGB", TINT_CLASSES),
    "exposure-marker": ("L", MARKER_CLASSES),
}


@pytest.fixture(scope="module")
def built() -> dict[str, datasets.Dataset]:
    """Each patch dataset, seed 0, built once for the module."""
    return {name: suite.build_suite_dataset(name) for name in PATCH_DATASETS}


def image_bytes(dataset: datasets.Dataset) -> list[bytes]:
    return [image["bytes"] for image in dataset.cast_column("image", datasets.Image(decode=False))["image"]]


def pixels(dataset: datasets.Dataset) -> np.ndarray:
    """float64 [N, 32, 32] (L) or [N, 32, 32, 3] (RGB)."""
    return np.stack([np.asarray(image) for image in dataset["image"]]).astype(np.float64)


def nearest_means(features: np.ndarray, means: np.ndarray) -> np.ndarray:
    """The index of the nearest class mean [K, F] to each row of ``features`` [N, F], int [N] (squared distances
    expanded, so that no [N, K, F] array is built: 1.7 GB for the letters' pixels)."""
    distances = (features**2).sum(axis=1)[:, None] - 2 * features @ means.T + (means**2).sum(axis=1)[None]
    return np.argmin(distances, axis=1)


def nearest_mean_accuracy(features: np.ndarray, labels: np.ndarray, means: np.ndarray) -> float:
    """Accuracy of assigning each row of ``features`` [N, F] to the nearest class mean [K, F]."""
    return float((nearest_means(features, means) == labels).mean())


def test_the_suite_has_nine_described_datasets():
    assert list(suite.SUITE_DATASETS) == [
        "mnist", "textures", "photo-patches", "exposure", "tinted", "optdigits", "photo-digits", "exposure-marker",
        "letters",
    ]  # fmt: skip
    assert all(isinstance(text, str) and text for text in suite.SUITE_DATASETS.values())


def test_mnist_is_the_embedded_dataset():
    dataset = suite.build_suite_dataset("mnist")
    embedded = load_image_dataset()
    assert dataset.features == embedded.features
    assert list(dataset.features) == ["image", "label"]
    assert image_bytes(dataset) == image_bytes(embedded)
    assert Counter(dataset["label"]) == {label: 500 for label in range(10)}


def test_optdigits_are_scikit_learns_digits_as_8x8_grey_levels_in_a_seeded_order():
    from sklearn.datasets import load_digits

    digits = load_digits()
    dataset = suite.build_suite_dataset("optdigits", seed=0)
    assert dataset.features == datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=[str(digit) for digit in range(10)])}
    )
    opened = [Image.open(io.BytesIO(data)) for data in image_bytes(dataset)]
    assert {(image.format, image.size, image.mode) for image in opened} == {("PNG", (8, 8), "L")}
    assert Counter(dataset["label"]) == Counter(digits.target.tolist())
    assert dataset["label"][:20] != digits.target[:20].tolist()  # shuffled
    images = pixels(dataset)  # every digit is there once, its ink counts 0..16 scaled to 0..255
    expected = np.rint(digits.images * 255 / 16)
    by_bytes = {row.tobytes(): label for row, label in zip(expected, digits.target, strict=True)}
    assert len(by_bytes) == len(expected)  # no two of the 1,797 digits are pixel for pixel the same
    assert all(by_bytes[image.tobytes()] == label for image, label in zip(images, dataset["label"], strict=True))
    again, other = suite.build_suite_dataset("optdigits", seed=0), suite.build_suite_dataset("optdigits", seed=1)
    assert image_bytes(again) == image_bytes(dataset) and image_bytes(other) != image_bytes(dataset)
    assert sorted(image_bytes(other)) == sorted(image_bytes(dataset))
    assert "CC BY 4.0" in dataset.info.license


def test_optdigits_flips_destroy_the_labels():
    dataset = suite.build_suite_dataset("optdigits")
    digits, labels = pixels(dataset), np.array(dataset["label"])
    images = digits.reshape(len(dataset), -1)
    means = np.stack([images[labels == label].mean(axis=0) for label in range(10)])
    flipped = digits[:, :, ::-1].reshape(len(dataset), -1)  # HorizontalFlip
    assert nearest_mean_accuracy(images, labels, means) > 0.85
    assert nearest_mean_accuracy(flipped, labels, means) < 0.5


def test_missing_scikit_learn_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        suite.build_suite_dataset("optdigits")


@pytest.mark.parametrize("name", PATCH_DATASETS)
def test_patch_dataset_features_and_balanced_classes(built, name):
    dataset = built[name]
    _, classes = PATCH_DATASETS[name]
    assert dataset.features == datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=classes)}
    )
    assert Counter(dataset["label"]) == {label: suite.PATCHES_PER_CLASS for label in range(len(classes))}
    assert len(set(dataset["label"][: 10 * len(classes)])) == len(classes)  # rows are shuffled, not by class


@pytest.mark.parametrize("name", PATCH_DATASETS)
def test_patch_images_are_32x32_png_in_the_mode(built, name):
    mode, _ = PATCH_DATASETS[name]
    opened = [Image.open(io.BytesIO(data)) for data in image_bytes(built[name])]
    assert {(image.format, image.size, image.mode) for image in opened} == {("PNG", (32, 32), mode)}


@pytest.mark.parametrize("name", PATCH_DATASETS)
def test_same_seed_same_bytes_other_seed_other_patches(built, name):
    first = image_bytes(built[name])
    again = suite.build_suite_dataset(name, seed=0)
    assert image_bytes(again) == first
    assert again["label"] == built[name]["label"]
    other = suite.build_suite_dataset(name, seed=1)
    shared = set(image_bytes(other)) & set(first)
    assert len(shared) < 0.8 * len(first)  # other patches, not the same ones reordered
    # the same positions recur (a seed draws from a grid with twice the positions it needs), except in tinted,
    # where each patch's tint strength is drawn anew
    assert (len(shared) > 0) == (name != "tinted")
    assert Counter(other["label"]) == Counter(built[name]["label"])


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="'cifar10'") as raised:
        suite.build_suite_dataset("cifar10")
    assert all(repr(name) in str(raised.value) for name in suite.SUITE_DATASETS)


def test_missing_scikit_image_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(ImportError, match="pip install scikit-image"):
        suite.build_suite_dataset("textures")
    assert suite.build_suite_dataset("mnist").num_rows == 5000  # needs no scikit-image


@pytest.mark.parametrize("name", PATCH_DATASETS)
def test_save_to_disk_round_trip_loads_in_hf_faa(built, name, tmp_path):
    folder = tmp_path / name
    built[name].save_to_disk(str(folder))
    loaded = datasets.load_from_disk(str(folder))
    assert loaded.features == built[name].features
    assert image_bytes(loaded) == image_bytes(built[name])
    assert loaded["label"] == built[name]["label"]
    assert loaded.info.license == built[name].info.license
    mode, classes = PATCH_DATASETS[name]
    prepared = prepare_dataset(str(folder), image_size=32)
    assert (prepared.mode, prepared.class_names) == (mode, classes)
    assert prepared.dataset[0]["pixel_values"].shape == (prepared.num_channels, 32, 32)


def test_texture_patches_are_native_resolution_crops(built):
    import skimage.data

    source = skimage.data.brick()  # 512x512, cut without resizing
    windows = np.lib.stride_tricks.sliding_window_view(source, (32, 32))  # [481, 481, 32, 32], a view
    by_first_row = {}
    for row in range(windows.shape[0]):
        for column in range(windows.shape[1]):
            by_first_row.setdefault(windows[row, column, 0].tobytes(), []).append((row, column))
    brick = built["textures"].filter(lambda label: label == TEXTURE_CLASSES.index("brick"), input_columns="label")
    patches = [np.asarray(image) for image in brick["image"]]
    assert len({patch.tobytes() for patch in patches}) == len(patches) == suite.PATCHES_PER_CLASS
    for patch in patches:  # every patch is some 32x32 window of the source, pixel for pixel
        corners = by_first_row.get(patch[0].tobytes(), [])
        assert any(np.array_equal(windows[row, column], patch) for row, column in corners)


def test_texture_classes_differ_in_grain_and_orientation(built):
    images, labels = pixels(built["textures"]), np.array(built["textures"]["label"])
    across = np.abs(np.diff(images, axis=2)).mean(axis=(1, 2))  # horizontal neighbours, [N]
    down = np.abs(np.diff(images, axis=1)).mean(axis=(1, 2))
    gradient = {name: (across + down)[labels == label].mean() for label, name in enumerate(TEXTURE_CLASSES)}
    assert gradient["grass"] > 10 * gradient["cell"]  # coarse grain vs smooth phase image
    assert gradient["gravel"] > 2 * gradient["brick"]
    anisotropy = {
        name: across[labels == label].mean() / down[labels == label].mean()
        for label, name in enumerate(TEXTURE_CLASSES)
    }
    assert anisotropy["brick"] > 1.5  # brick rows: a 90-degree rotation changes the statistic
    assert 0.8 < anisotropy["grass"] < 1.25


def test_photo_patch_classes_differ_in_colour_and_inversion_destroys_it(built):
    images, labels = pixels(built["photo-patches"]), np.array(built["photo-patches"]["label"])
    colours = images.mean(axis=(1, 2))  # [N, 3]
    means = np.stack([colours[labels == label].mean(axis=0) for label in range(len(PHOTO_CLASSES))])
    assert np.linalg.norm(means[:, None] - means[None], axis=-1).max() > 100  # hubble (dark) vs IHC (light)
    chance = 1 / len(PHOTO_CLASSES)
    assert nearest_mean_accuracy(colours, labels, means) > 3 * chance
    assert nearest_mean_accuracy(255 - colours, labels, means) < chance


def test_exposure_classes_differ_in_mean_and_contrast_and_inversion_destroys_them(built):
    images, labels = pixels(built["exposure"]), np.array(built["exposure"]["label"])
    statistics = np.stack([images.mean(axis=(1, 2)), images.std(axis=(1, 2))], axis=1)  # [N, 2]
    means = np.stack([statistics[labels == label].mean(axis=0) for label in range(len(EXPOSURE_CLASSES))])
    for label, (mean, _) in enumerate(suite.EXPOSURES):
        assert abs(means[label, 0] - mean) < 4  # the patches of each class centre on its grey level
    assert np.all(means[3:, 1] > 1.6 * means[:3, 1])  # contrast 1 vs 0.5 at the same grey level
    assert nearest_mean_accuracy(statistics, labels, means) > 0.85
    inverted = np.stack([255 - statistics[:, 0], statistics[:, 1]], axis=1)  # Invert swaps dark and bright
    assert nearest_mean_accuracy(inverted, labels, means) < 0.45  # only the mid-grey classes survive


def test_exposure_classes_share_their_textures(built):
    images, labels = pixels(built["exposure"]), np.array(built["exposure"]["label"])
    contrast = np.array([contrast for _, contrast in suite.EXPOSURES])[labels]
    grain = np.abs(np.diff(images, axis=2)).mean(axis=(1, 2))  # horizontal neighbours, [N]
    raw = [grain[labels == label].mean() for label in range(len(EXPOSURE_CLASSES))]
    assert min(raw[3:]) > 1.6 * max(raw[:3])  # contrast scales the grain ...
    texture = [(grain / contrast)[labels == label].mean() for label in range(len(EXPOSURE_CLASSES))]
    assert max(texture) < 1.15 * min(texture)  # ... and with it undone, every class holds the same textures
    assert built["exposure"].info.license.startswith("brick: CC0")


def mark_regions(images: np.ndarray) -> np.ndarray:
    """Grayscale images [N, 32, 32] -> the mean grey level where exposure-marker's mark sits on the left and on the
    right, [N, 2]."""
    rows = images[:, 32 - suite.MARK_MARGIN - suite.MARK_SIZE : 32 - suite.MARK_MARGIN]
    left = rows[:, :, suite.MARK_MARGIN : suite.MARK_MARGIN + suite.MARK_SIZE]
    right = rows[:, :, 32 - suite.MARK_MARGIN - suite.MARK_SIZE : 32 - suite.MARK_MARGIN]
    return np.stack([left.mean(axis=(1, 2)), right.mean(axis=(1, 2))], axis=1)


def test_exposure_marker_labels_are_the_exposure_and_the_side_of_a_black_mark_that_flips_move(built):
    images, labels = pixels(built["exposure-marker"]), np.array(built["exposure-marker"]["label"])
    exposures, sides = np.divmod(labels, 2)
    marks = mark_regions(images)
    assert (marks[np.arange(len(labels)), sides] == 0).all()  # black on the label's side ...
    assert (marks[np.arange(len(labels)), 1 - sides] > 0).all()  # ... and texture on the other
    assert (np.argmin(mark_regions(images[:, :, ::-1]), axis=1) == 1 - sides).all()  # a horizontal flip moves it
    unmarked = np.ones((32, 32), dtype=bool)
    unmarked[32 - suite.MARK_MARGIN - suite.MARK_SIZE : 32 - suite.MARK_MARGIN] = False  # the rows of either mark
    grey_levels = images[:, unmarked].mean(axis=1)
    for exposure, (mean, _) in enumerate(suite.EXPOSURES):
        assert abs(grey_levels[exposures == exposure].mean() - mean) < 4  # elsewhere, exposure's patches
    assert built["exposure-marker"].info.license == built["exposure"].info.license


def chromaticity(images: np.ndarray) -> np.ndarray:
    """RGB images [N, 32, 32, 3] -> each image's channel means over their mean, [N, 3]: the tint, whatever the
    grey level of the texture under it."""
    colours = images.mean(axis=(1, 2))
    return colours / colours.mean(axis=1, keepdims=True)


def test_tinted_classes_differ_in_hue_and_inversion_and_autocontrast_destroy_it(built):
    images, labels = pixels(built["tinted"]), np.array(built["tinted"]["label"])
    tints = chromaticity(images)
    means = np.stack([tints[labels == label].mean(axis=0) for label in range(len(TINT_CLASSES))])
    assert np.argmax(means[TINT_CLASSES.index("red")]) == 0 and np.argmin(means[TINT_CLASSES.index("cyan")]) == 0
    assert np.abs(means - 1).max() < 0.15  # faint: no channel strays more than 15% from the grey level
    chance = 1 / len(TINT_CLASSES)
    assert nearest_mean_accuracy(tints, labels, means) > 0.9
    assert nearest_mean_accuracy(chromaticity(255 - images), labels, means) < chance  # each hue to its complement
    low, high = images.min(axis=(1, 2), keepdims=True), images.max(axis=(1, 2), keepdims=True)
    stretched = (images - low) / np.maximum(high - low, 1) * 255  # AutoContrast: each channel to 0..255
    assert nearest_mean_accuracy(chromaticity(stretched), labels, means) < 2 * chance


def test_tinted_classes_share_their_textures(built):
    images, labels = pixels(built["tinted"]), np.array(built["tinted"]["label"])
    grey = images.mean(axis=-1)  # [N, 32, 32]
    grain = np.abs(np.diff(grey, axis=2)).mean(axis=(1, 2))
    per_class = [grain[labels == label].mean() for label in range(len(TINT_CLASSES))]
    assert max(per_class) < 1.1 * min(per_class)  # every hue holds the same six textures, as many of each
    assert built["tinted"].info.license.startswith("brick: CC0")


@pytest.fixture(scope="module")
def photo_digits() -> datasets.Dataset:
    return suite.build_suite_dataset("photo-digits")


def assert_seeded_32x32_pngs(dataset: datasets.Dataset, name: str, mode: str) -> None:
    """``dataset``, suite dataset ``name`` of seed 0, holds 32x32 PNGs in ``mode``; seed 0 builds it again byte for
    byte, and seed 1 shares none of its images."""
    opened = [Image.open(io.BytesIO(data)) for data in image_bytes(dataset)[:100]]
    assert {(image.format, image.size, image.mode) for image in opened} == {("PNG", (32, 32), mode)}
    again, other = (suite.build_suite_dataset(name, seed=seed) for seed in (0, 1))
    assert image_bytes(again) == image_bytes(dataset) and again["label"] == dataset["label"]
    assert not set(image_bytes(other)) & set(image_bytes(dataset))


def test_photo_digits_are_the_embedded_digits_in_32x32_rgb_pngs_in_a_seeded_order(photo_digits):
    embedded = load_image_dataset()
    assert photo_digits.features == embedded.features
    assert Counter(photo_digits["label"]) == Counter(embedded["label"])
    assert photo_digits["label"][:20] != embedded["label"][:20]  # shuffled
    assert_seeded_32x32_pngs(photo_digits, "photo-digits", "RGB")  # other crops under every digit for another seed
    assert "CC BY-SA 3.0" in photo_digits.info.license and "astronaut" in photo_digits.info.license


def rows_with_labels(images: np.ndarray, labels: list[int]) -> list[tuple[bytes, int]]:
    """Each image's bytes with its label, sorted: the dataset's rows whatever their order."""
    return sorted(zip((image.tobytes() for image in images), labels, strict=True))


@pytest.mark.parametrize("photo_level", [0, 255])
def test_photo_digits_draw_each_digit_as_the_photo_inverted_where_the_ink_is(monkeypatch, photo_level):
    """Over a black photo each image is its padded digit in every channel; over a white one, the digit inverted."""
    monkeypatch.setattr(suite, "_load_source", lambda *_: np.full((40, 50, 3), photo_level, dtype=np.uint8))
    built = suite.build_suite_dataset("photo-digits")
    embedded = load_image_dataset()
    digits = np.pad(np.stack([np.asarray(image) for image in embedded["image"]]), ((0, 0), (2, 2), (2, 2)))
    drawn = pixels(built).astype(np.uint8)
    assert np.array_equal(drawn[..., 0], drawn[..., 2])
    expected = digits if photo_level == 0 else 255 - digits
    assert rows_with_labels(drawn[..., 0], built["label"]) == rows_with_labels(expected, embedded["label"])


def test_photo_digit_colours_say_nothing_about_the_label_and_flips_destroy_it(photo_digits):
    images, labels = pixels(photo_digits), np.array(photo_digits["label"])
    colours = chromaticity(images)
    colour_means = np.stack([colours[labels == label].mean(axis=0) for label in range(10)])
    assert nearest_mean_accuracy(colours, labels, colour_means) < 0.2  # chance is 0.1
    # the ink shows as the photo inverted: its strokes are where neighbouring pixels differ most
    edges = np.abs(np.diff(images, axis=2)).mean(axis=-1).reshape(len(labels), -1)
    edge_means = np.stack([edges[labels == label].mean(axis=0) for label in range(10)])
    flipped = np.abs(np.diff(images[:, :, ::-1], axis=2)).mean(axis=-1).reshape(len(labels), -1)
    assert nearest_mean_accuracy(edges, labels, edge_means) > 0.7  # 0.77
    assert nearest_mean_accuracy(flipped, labels, edge_means) < 0.35  # 0.28: 0, 1 and 8 survive a flip


@pytest.fixture(scope="module")
def letters() -> datasets.Dataset:
    return suite.build_suite_dataset("letters")


def test_letters_are_26_balanced_classes_of_32x32_grayscale_pngs_in_a_seeded_order(letters):
    assert letters.features == datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=list("abcdefghijklmnopqrstuvwxyz"))}
    )
    assert Counter(letters["label"]) == {label: suite.PATCHES_PER_CLASS for label in range(26)}
    assert len(set(letters["label"][:260])) == 26  # rows are shuffled, not by class
    assert_seeded_32x32_pngs(letters, "letters", "L")  # other drawings of every letter for another seed
    assert "Bitstream Vera" in letters.info.license and "SIL Open Font License" in letters.info.license


def test_letters_are_light_strokes_on_black_that_a_horizontal_flip_turns_into_their_mirror_letters(letters):
    images, labels = pixels(letters), np.array(letters["label"])
    assert np.median(images) < 10 and 0.03 < (images > 100).mean() < 0.15  # a little ink on a black ground
    flat = images.reshape(len(labels), -1)
    means = np.stack([flat[labels == label].mean(axis=0) for label in range(26)])
    assert nearest_mean_accuracy(flat, labels, means) > 0.25  # 0.33 on seed 0; chance is 1/26
    mirrors = {"b": "d", "d": "b", "p": "q", "q": "p"}
    index = {letter: suite.LETTERS.index(letter) for letter in mirrors}
    rows = np.isin(labels, list(index.values()))
    nearest = nearest_means(images[rows, :, ::-1].reshape(rows.sum(), -1), means)
    mirrored = np.array([index[mirrors[suite.LETTERS[label]]] for label in labels[rows]])
    assert (nearest == mirrored).mean() > 0.25  # 0.38: b reads as d, p as q ...
    assert (nearest == labels[rows]).mean() < 0.05  # 0.02: ... and hardly ever as itself


def test_missing_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        suite.build_suite_dataset("letters")


def test_suite_sources_name_every_image_and_a_licence():
    text = suite.suite_sources()
    assert "CC BY-SA 3.0" in text
    assert "CC BY 4.0" in text
    assert "SIL Open Font License" in text
    for name in ["mnist", "optdigits", "photo-digits", "letters", *PATCH_DATASETS, *TEXTURE_CLASSES, *PHOTO_CLASSES]:
        assert f"- {name}:" in text
    source_lines = [line for line in text.splitlines() if line.startswith("  - ")]
    assert len(source_lines) == 2 * len(TEXTURE_CLASSES) + 2 * len(PHOTO_CLASSES) + 2 * len(EXPOSURE_SOURCES)
    assert all("public domain" in line or "CC0" in line or "copyright" in line for line in source_lines)
