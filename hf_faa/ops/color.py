"""Pixel and colour operations, PIL's ``ImageOps``/``ImageEnhance`` semantics on float images.

Enhancement ops (contrast, saturate, brightness, sharpness) blend the image with a degenerate
version of itself by a per-sample ``factor`` ``[B]``: 1 is the identity, 0 the degenerate image,
above 1 extrapolates away from it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import constant, needs_gradient, per_sample, with_surrogate_gradient
from .lookup import level_ramp

# ITU-R 601-2 luma, the weights of PIL's convert("L") (the official code's 0.110 for blue is a typo).
GRAY_WEIGHTS = (0.299, 0.587, 0.114)

# Width, in intensity units, of the sigmoid that relaxes a hard threshold for the surrogate gradient.
SOFT_THRESHOLD_WIDTH = 0.02


def to_8bit_levels(images: Tensor) -> Tensor:
    """``[0, 1]`` floats -> nearest of the 256 levels an 8-bit image has, as integers in the float dtype."""
    return torch.round(images * 255)


def rgb_to_grayscale(images: Tensor) -> Tensor:
    """``[B, 3, H, W]`` -> luma ``[B, 1, H, W]``; a grayscale batch ``[B, 1, H, W]`` is returned as is."""
    if images.shape[1] == 1:
        return images
    batch, _, height, width = images.shape
    # a [3] x [B, 3, H·W] product: one pass over the image, where multiply-then-sum makes three
    luma = constant(GRAY_WEIGHTS, images.dtype, images.device) @ images.reshape(batch, 3, height * width)
    return luma.view(batch, 1, height, width)


def blend(degenerate: Tensor, images: Tensor, factor: Tensor) -> Tensor:
    """``degenerate + factor·(images − degenerate)`` with ``factor`` ``[B]`` (PIL ``Image.blend``)."""
    return torch.lerp(degenerate, images, per_sample(factor).to(images.dtype))


def brightness(images: Tensor, factor: Tensor) -> Tensor:
    """Scale intensities by ``factor`` ``[B]``: blend with black (PIL ``ImageEnhance.Brightness``)."""
    return images * per_sample(factor)


def mean_gray_level(images: Tensor) -> Tensor:
    """Each image's mean gray level rounded to 8 bits, as PIL's Contrast takes it: ``[B, 1, 1, 1]`` in [0, 1].

    Float or uint8 images (levels: the sums are exact); piecewise constant in the image, so no
    gradient flows through it. The luma of the channel means is the mean of the luma.
    """
    # summed in at least float32: no float16 overflow, and exact for 8-bit levels up to 256x256
    total_dtype = torch.promote_types(images.dtype, torch.float32)
    pixels = images.shape[-2] * images.shape[-1]
    channel_means = images.detach().sum(dim=(-2, -1), keepdim=True, dtype=total_dtype) / pixels
    if not images.is_floating_point():
        channel_means = channel_means / 255
    mean = to_8bit_levels(rgb_to_grayscale(channel_means)) / 255
    return mean.to(images.dtype if images.is_floating_point() else torch.float32)


def contrast(images: Tensor, factor: Tensor) -> Tensor:
    """Blend with the image's mean gray level (PIL ``ImageEnhance.Contrast``)."""
    return blend(mean_gray_level(images), images, factor)


def contrast_table(images: Tensor, factor: Tensor) -> Tensor:
    """:func:`contrast` as lookup tables ``[B, 1, 1, 256]`` for uint8 ``images``."""
    return blend(mean_gray_level(images), level_ramp(images), factor)


def saturate(images: Tensor, factor: Tensor) -> Tensor:
    """Blend with the grayscale image (PIL ``ImageEnhance.Color``); the identity on grayscale batches."""
    return blend(rgb_to_grayscale(images), images, factor)


def smoothed_interior(images: Tensor) -> Tensor:
    """PIL's ``ImageFilter.SMOOTH`` of the image's interior, ``[B, C, H - 2, W - 2]``.

    SMOOTH is the 3×3 kernel of ones with centre 5, divided by 13, i.e. (3×3 box sum + 4·centre) / 13;
    PIL leaves the one-pixel border unfiltered. Summed with shifted slices: on CPU this is an order
    of magnitude faster than a depthwise ``conv2d``.
    """
    row_sums = images[..., :-2, :] + images[..., 1:-1, :]
    row_sums += images[..., 2:, :]
    box_sums = row_sums[..., :-2] + row_sums[..., 1:-1]
    box_sums += row_sums[..., 2:]
    return box_sums.add_(images[..., 1:-1, 1:-1], alpha=4).div_(13)


def sharpness(images: Tensor, factor: Tensor) -> Tensor:
    """Blend with the smoothed image (PIL ``ImageEnhance.Sharpness``): factor < 1 blurs, > 1 sharpens."""
    if images.shape[-1] < 3 or images.shape[-2] < 3:
        return images  # no interior to smooth, as in PIL
    sharpened = images.clone()
    # blend(smoothed, interior, factor), computed in the smoothed tensor's memory
    weight = per_sample(factor).to(images.dtype)
    sharpened[..., 1:-1, 1:-1] = smoothed_interior(images).lerp_(images[..., 1:-1, 1:-1], weight)
    return sharpened


def invert(images: Tensor) -> Tensor:
    """``1 − images`` (PIL ``ImageOps.invert``)."""
    return 1 - images


def solarize(images: Tensor, threshold: Tensor) -> Tensor:
    """Invert every pixel ``>= threshold`` ``[B]`` (PIL ``ImageOps.solarize`` with ``threshold·255``).

    The image gradient is exact (±1 per pixel); the threshold gets the gradient of a sigmoid
    relaxation of the inversion mask.
    """
    threshold = per_sample(threshold)
    solarized = torch.where(images >= threshold, 1 - images, images)
    if not needs_gradient(threshold):
        return solarized
    fixed = images.detach()
    relaxed_mask = torch.sigmoid((fixed - threshold) / SOFT_THRESHOLD_WIDTH)
    return with_surrogate_gradient(solarized, fixed + relaxed_mask * (1 - 2 * fixed))


def _remove_low_bits(levels: Tensor, bits: Tensor) -> Tensor:
    """Zero the ``bits`` ``[B, 1, 1, 1]`` lowest bits of 8-bit ``levels``, returned in ``[0, 1]``."""
    step = torch.exp2(bits)
    return torch.floor(levels / step) * step / 255


def posterize(images: Tensor, bits_removed: Tensor) -> Tensor:
    """Keep the top ``8 − round(bits_removed)`` bits of each 8-bit level (PIL ``ImageOps.posterize``).

    ``bits_removed`` ``[B]`` in [0, 8]. Straight-through: the image gradient is the identity; the
    gradient to ``bits_removed`` is the slope between the two neighbouring integer bit counts.
    """
    bits = per_sample(bits_removed).clamp(0, 8)
    rounded_bits = torch.round(bits.detach())
    step = torch.exp2(rounded_bits)
    # _remove_low_bits(levels, rounded_bits), in the levels' memory
    posterized = to_8bit_levels(images.detach()).div_(step).floor_().mul_(step).div_(255)
    # zero bits removed is the identity, also for images between the 8-bit levels
    posterized = torch.where(rounded_bits > 0, posterized, images.detach())
    if not needs_gradient(images, bits):
        return posterized
    levels = to_8bit_levels(images.detach())
    fewer = torch.floor(bits.detach()).clamp(max=7)
    interpolated = torch.lerp(_remove_low_bits(levels, fewer), _remove_low_bits(levels, fewer + 1), bits - fewer)
    return with_surrogate_gradient(posterized, images, interpolated)
