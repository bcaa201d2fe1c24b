"""Batched, differentiable image operations and their registry.

``OPERATIONS[name](images, magnitude, generator=None)``: images float ``[B, C, H, W]`` in [0, 1]
(``C`` = 1 or 3), magnitude ``[B]`` in [0, 1]; returns the same shape, dtype and device, in [0, 1].
uint8 images in [0, 255] work too (no gradient), rounded to 8 bits after the op as in PIL.
Magnitude 0 is the identity for every op that has a magnitude. Value ranges are those of the
official Faster AutoAugment code (shear 0.3, translate 0.45, rotate 30°, enhance factor 1 ± 1),
with its bugs fixed: TranslateX exists, Posterize really posterizes, Solarize and Posterize grow
stronger with the magnitude. Elastic, Simard et al.'s distortion for handwriting, is not in the official
code's set: alone, at their scale, it trained a classifier of 500 MNIST digits better than RandAugment,
and one of 179 8x8 optdigits worse (docs/search-research.md, session 45).
"""

from __future__ import annotations

from torch import Tensor

from .base import Operation, check_images, check_magnitude, random_signs, with_surrogate_gradient
from .color import (
    brightness,
    contrast,
    contrast_table,
    invert,
    posterize,
    rgb_to_grayscale,
    saturate,
    sharpness,
    solarize,
)
from .cutout import cutout, random_cutout
from .elastic import elastic, random_elastic
from .geometric import (
    affine_warp,
    horizontal_flip,
    rotate,
    rotate_matrix,
    shear_x,
    shear_x_matrix,
    shear_y,
    shear_y_matrix,
    translate_x,
    translate_x_matrix,
    translate_y,
    translate_y_matrix,
    vertical_flip,
)
from .histogram import autocontrast, autocontrast_tables, equalize, equalize_tables
from .lookup import apply_lookup_tables, to_uint8


def _enhance(function):
    """Adapt an enhancement ``function(images, factor)`` to take the signed change ``factor − 1``."""

    def enhance(images: Tensor, change: Tensor) -> Tensor:
        return function(images, 1 + change)

    enhance.__name__ = function.__name__
    return enhance


def _solarize_fraction(images: Tensor, fraction: Tensor) -> Tensor:
    """Solarize the top ``fraction`` ``[B]`` of the intensity range: 0 inverts nothing, 1 everything."""
    return solarize(images, (1 - fraction) * 256 / 255)


_ENHANCE_RANGE = (0.0, 1.0)
_contrast_table = _enhance(contrast_table)

OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("ShearX", shear_x, (0.0, 0.3), "shear factor", signed=True, affine_matrix=shear_x_matrix),
        Operation("ShearY", shear_y, (0.0, 0.3), "shear factor", signed=True, affine_matrix=shear_y_matrix),
        Operation(
            "TranslateX", translate_x, (0.0, 0.45), "fraction of width", signed=True, affine_matrix=translate_x_matrix
        ),
        Operation(
            "TranslateY", translate_y, (0.0, 0.45), "fraction of height", signed=True, affine_matrix=translate_y_matrix
        ),
        Operation("Rotate", rotate, (0.0, 30.0), "degrees", signed=True, affine_matrix=rotate_matrix),
        Operation("HorizontalFlip", horizontal_flip, bounded=True),
        Operation("VerticalFlip", vertical_flip, bounded=True),
        Operation("Invert", invert, pointwise=True, bounded=True),
        Operation(
            "Solarize", _solarize_fraction, (0.0, 1.0), "fraction of intensities inverted", pointwise=True, bounded=True
        ),
        Operation("Posterize", posterize, (0.0, 8.0), "bits removed", pointwise=True, bounded=True),
        Operation(
            "Contrast", _enhance(contrast), _ENHANCE_RANGE, "|factor - 1|", signed=True, lookup_table=_contrast_table
        ),
        Operation("Saturate", _enhance(saturate), _ENHANCE_RANGE, "|factor - 1|", signed=True, color_only=True),
        Operation("Brightness", _enhance(brightness), _ENHANCE_RANGE, "|factor - 1|", signed=True, pointwise=True),
        Operation("Sharpness", _enhance(sharpness), _ENHANCE_RANGE, "|factor - 1|", signed=True),
        Operation("AutoContrast", autocontrast, lookup_table=autocontrast_tables, bounded=True),
        Operation("Equalize", equalize, lookup_table=equalize_tables, bounded=True),
        Operation("Cutout", random_cutout, (0.0, 0.5), "side as a fraction of the image", random=True, bounded=True),
        # Simard et al.'s scale for digits (34 pixels of 28) at magnitude 0.5
        Operation("Elastic", random_elastic, (0.0, 2.4), "field scale as a fraction of the image side", random=True),
    )
}

# A policy's and the search's default set: every op but Elastic, which a search takes with --operations.
DEFAULT_OPERATIONS: tuple[str, ...] = tuple(name for name in OPERATIONS if name != "Elastic")

__all__ = [
    "OPERATIONS",
    "DEFAULT_OPERATIONS",
    "Operation",
    "affine_warp",
    "apply_lookup_tables",
    "autocontrast",
    "brightness",
    "check_images",
    "check_magnitude",
    "contrast",
    "cutout",
    "elastic",
    "equalize",
    "horizontal_flip",
    "invert",
    "posterize",
    "random_cutout",
    "random_elastic",
    "random_signs",
    "rgb_to_grayscale",
    "rotate",
    "saturate",
    "sharpness",
    "shear_x",
    "shear_y",
    "solarize",
    "to_uint8",
    "translate_x",
    "translate_y",
    "vertical_flip",
    "with_surrogate_gradient",
]
