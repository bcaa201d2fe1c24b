"""PIL versions of the operations, one image at a time: the reference the batched ops are tested
against, and the per-image baseline the benchmarks compare with (what torchvision/timm do). A test
oracle, so it lives with the tests and is not shipped in the package.

``PIL_OPERATIONS[name](image, value)`` takes the op's *native* parameter, the ``value`` that
``OPERATIONS[name].function`` receives (signed where the op is signed).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from hf_faa.ops import OPERATIONS
from hf_faa.ops.cutout import CUTOUT_FILL
from hf_faa.preset_tables import AUTOAUGMENT_LEVEL_DENOMINATOR_TORCHVISION, AUTOAUGMENT_POLICIES, AUTOAUGMENT_RANGES


def _affine(image: Image.Image, coefficients: tuple[float, ...]) -> Image.Image:
    return image.transform(image.size, Image.AFFINE, coefficients, Image.BILINEAR)


def _solarize(image: Image.Image, fraction: float) -> Image.Image:
    # our op inverts levels >= 256·(1 − fraction); PIL inverts levels >= its integer threshold
    return ImageOps.solarize(image, math.ceil(256 * (1 - fraction)))


def _posterize(image: Image.Image, bits_removed: float) -> Image.Image:
    bits_kept = 8 - round(bits_removed)
    return ImageOps.posterize(image, bits_kept) if bits_kept >= 1 else Image.new(image.mode, image.size)


def _enhance(enhancer: type) -> Callable[[Image.Image, float], Image.Image]:
    return lambda image, change: enhancer(image).enhance(1 + change)


def _cutout(image: Image.Image, side_fraction: float) -> Image.Image:
    width, height = image.size
    centre_x, centre_y = random.random() * width, random.random() * height
    half_width, half_height = side_fraction * width / 2, side_fraction * height / 2
    image = image.copy()
    fill = round(CUTOUT_FILL * 255)
    box = (round(centre_x - half_width), round(centre_y - half_height),
           round(centre_x + half_width) - 1, round(centre_y + half_height) - 1)  # fmt: skip
    if box[2] >= box[0] and box[3] >= box[1]:
        ImageDraw.Draw(image).rectangle(box, fill=fill if image.mode == "L" else (fill,) * 3)
    return image


PIL_OPERATIONS: dict[str, Callable[[Image.Image, float], Image.Image]] = {
    "ShearX": lambda image, factor: _affine(image, (1, factor, 0, 0, 1, 0)),
    "ShearY": lambda image, factor: _affine(image, (1, 0, 0, factor, 1, 0)),
    "TranslateX": lambda image, fraction: _affine(image, (1, 0, fraction * image.size[0], 0, 1, 0)),
    "TranslateY": lambda image, fraction: _affine(image, (1, 0, 0, 0, 1, fraction * image.size[1])),
    "Rotate": lambda image, degrees: image.rotate(degrees, resample=Image.BILINEAR),
    "HorizontalFlip": lambda image, _: ImageOps.mirror(image),
    "VerticalFlip": lambda image, _: ImageOps.flip(image),
    "Invert": lambda image, _: ImageOps.invert(image),
    "Solarize": _solarize,
    "Posterize": _posterize,
    "Contrast": _enhance(ImageEnhance.Contrast),
    "Saturate": _enhance(ImageEnhance.Color),
    "Brightness": _enhance(ImageEnhance.Brightness),
    "Sharpness": _enhance(ImageEnhance.Sharpness),
    "AutoContrast": lambda image, _: ImageOps.autocontrast(image),
    "Equalize": lambda image, _: ImageOps.equalize(image),
    "Cutout": _cutout,
}


class PilAutoAugment:
    """Per-image AutoAugment with PIL, the way torchvision/timm apply it: one image at a time, a random
    sub-policy of a published table, each op with its probability at its level (``level / 9`` of the
    range, random sign for signed ops). The per-image baseline of the benchmarks."""

    def __init__(self, table: str = "cifar10", seed: int = 0) -> None:
        self.random = random.Random(seed)
        self.sub_policies = [
            [
                (
                    PIL_OPERATIONS[name],
                    probability,
                    AUTOAUGMENT_RANGES.get(name, (0.0, 0.0))[1] * level / AUTOAUGMENT_LEVEL_DENOMINATOR_TORCHVISION,
                    OPERATIONS[name].signed,
                )
                for name, probability, level in sub_policy
            ]
            for sub_policy in AUTOAUGMENT_POLICIES[table]
        ]

    def __call__(self, image: Image.Image) -> Image.Image:
        for operation, probability, value, signed in self.random.choice(self.sub_policies):
            if self.random.random() < probability:
                sign = self.random.choice((-1, 1)) if signed else 1
                image = operation(image, sign * value)
        return image
