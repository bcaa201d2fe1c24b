"""Images in, uint8 tensors out: decoding of any PIL mode into ``"L"`` or ``"RGB"`` at a given size, and
the one rule for undecodable images (left out, and counted by whoever drops them)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from PIL import Image, ImageOps

IMAGE_MODES = {"L": 1, "RGB": 3}  # output mode -> number of channels
SINGLE_CHANNEL_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
# What PIL raises for bytes that are not an image, truncated or corrupt files, missing files
# and decompression bombs.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
# Full-scale values tried, smallest first, when mapping 32-bit integer or float pixels to 8 bit.
_NOMINAL_RANGES = (1.0, 255.0, 65535.0)
_ARRAY_CHANNELS = (1, 3, 4)  # of a pixel array: gray, RGB, RGBA

ImageInput = Image.Image | dict[str, Any] | str | Path | bytes


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


def decode_image(image: ImageInput | None, mode: str, size: int | None) -> torch.Tensor | None:
    """Decode one image into a uint8 tensor.

    Args:
        image: a PIL image, a ``{"bytes": ..., "path": ...}`` dict (what ``datasets.Image(decode=False)``
            gives; bytes are used when present), a file path, encoded bytes, or None (a missing image).
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


def decode_images(images: list[ImageInput], mode: str | None, size: int | None) -> tuple[list[torch.Tensor], list[int]]:
    """Decode a batch with :func:`decode_image`, leaving out the undecodable images (the caller counts
    and reports them). ``mode=None`` decodes single-channel PIL images as ``"L"``, others as ``"RGB"``.

    Returns:
        ``(decoded, kept)``: the uint8 ``[C, H, W]`` tensors of the decodable images and their
        positions in ``images``.
    """
    decoded = [decode_image(image, mode or _natural_mode(image), size) for image in images]
    kept = [index for index, image in enumerate(decoded) if image is not None]
    return [decoded[index] for index in kept], kept


def decode_once(dataset: datasets.Dataset, image_column: str, mode: str, size: int | None) -> datasets.Dataset:
    """``dataset`` with each image of ``image_column`` decoded by :func:`decode_image` once and kept in memory
    as a lossless PNG in ``mode`` at ``size``: for many passes over images larger than ``size`` (training
    epochs, runs over seeds), which would otherwise decode and resize every source image on each pass.

    Decoding the result with the same ``mode`` and ``size`` gives the same pixels as decoding the source
    (nothing is left to convert or resize), so lazy decoders (:class:`~hf_faa.data.DecodeTransform`,
    :class:`hf_faa.PolicyTransform`) run on it unchanged. Images reach :func:`decode_image` as the dataset
    hands them over: decoded by ``datasets`` as ``set_transform`` sees them, or encoded when the column is
    cast to ``datasets.Image(decode=False)`` first. Undecodable and missing images become missing (None).
    """

    def decode(batch: dict[str, list]) -> dict[str, list]:
        images = [decode_image(image, mode, size) for image in batch[image_column]]
        return {image_column: [None if image is None else tensor_to_pil(image) for image in images]}

    features = dataset.features.copy()
    features[image_column] = datasets.Image()
    return dataset.map(decode, batched=True, features=features, keep_in_memory=True,
                       desc=f"Decoding {len(dataset)} images once")  # fmt: skip


def array_to_image(values: Any) -> Image.Image | None:
    """Pixel values ``[H, W]``, ``[H, W, C]`` or ``[C, H, W]`` (C = 1, 3 or 4; nested lists or an array of any
    number type) -> an ``"L"``, ``"RGB"`` or ``"RGBA"`` PIL image; None (a missing image) stays None. uint8 values
    are kept; any other number type is scaled to 8 bits as 32-bit images decode (:func:`decode_image`).

    Raises:
        ValueError: values of another shape, naming it.
    """
    if values is None:
        return None
    array = np.asarray(values)
    if array.ndim == 3 and array.shape[-1] not in _ARRAY_CHANNELS and array.shape[0] in _ARRAY_CHANNELS:
        array = array.transpose(1, 2, 0)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in _ARRAY_CHANNELS)):
        raise ValueError(
            f"An array of shape {list(np.shape(values))} is not an image: pixel arrays must be [H, W], [H, W, C] or "
            "[C, H, W] with C = 1, 3 or 4 channels."
        )
    return Image.fromarray(array if array.dtype == np.uint8 else _rescale_to_uint8(array))


def _natural_mode(image: ImageInput) -> str:
    return "L" if isinstance(image, Image.Image) and image.mode in SINGLE_CHANNEL_MODES else "RGB"


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """uint8 ``[C, H, W]`` (C = 1 or 3) -> PIL image, as a per-image Dataset transform converts."""
    array = image.permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image -> uint8 ``[C, H, W]``."""
    array = np.asarray(image)
    return torch.from_numpy(array.reshape(*array.shape[:2], -1).copy()).permute(2, 0, 1)


def _open_image(image: ImageInput | None) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, dict):
        image = image.get("bytes") or image.get("path")
    if image is None:  # a missing image (null in the column), or a dict with neither bytes nor a path
        raise ValueError("no image")
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
    """32-bit integer or float pixels [H, W] (or [H, W, C]) -> uint8 of the same shape (see :func:`decode_image`)."""
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
