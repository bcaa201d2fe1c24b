"""A ``transformers`` image classifier as the search's label judge (``--classifier_model_name_or_path``): the
search's critic inputs resized and normalised as the model's image processor prepares images, so a pretrained
network sees what it was trained on, and the policy's gradient still flows through the resizing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class PretrainedJudge(nn.Module):
    """``judge(images)``: class logits ``[B, num_classes]`` of critic inputs ``[B, C, H, W]`` in [-1, 1] (C = 1 or
    3; a grayscale batch is repeated over the model's three channels), resized (bilinear) to ``size`` and
    normalised by ``mean`` and ``std``, for ``model``, a ``transformers`` image classifier.

    Its state dict is the model's own (``model.``-prefixed): ``mean`` and ``std`` are not saved.
    """

    def __init__(self, model: nn.Module, size: tuple[int, int], mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.model = model
        self.size = tuple(size)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        pixels = (images + 1) / 2  # the critic's [-1, 1] back to [0, 1], where processors normalise from
        if pixels.shape[1] == 1 and self.mean.shape[1] == 3:
            pixels = pixels.expand(-1, 3, -1, -1)
        if tuple(pixels.shape[-2:]) != self.size:
            pixels = F.interpolate(pixels, size=self.size, mode="bilinear", align_corners=False)
        return self.model(pixel_values=(pixels - self.mean) / self.std).logits

    def extra_repr(self) -> str:
        return f"size={self.size}"


def load_pretrained_judge(model_name_or_path: str, class_names: list[str]) -> PretrainedJudge:
    """The classifier at ``model_name_or_path`` (Hub id or local folder, with its image processor's settings), its
    head made for ``class_names``, as a :class:`PretrainedJudge` at its processor's input size and normalisation.

    Raises:
        ValueError: the model or its image processor cannot be loaded, or the processor names no input size.
    """
    # here, not at the top: transformers' auto classes take seconds to import, which only this option should cost
    from ..training import pretrained_classifier

    try:
        model, processor = pretrained_classifier(model_name_or_path, class_names)
    except OSError as error:  # transformers' "not a local folder and not a valid model identifier", and offline mode
        raise ValueError(
            f"Cannot load the label judge --classifier_model_name_or_path {model_name_or_path!r}: {error}"
        ) from None
    channels = getattr(model.config, "num_channels", 3)
    if processor.do_normalize:
        mean, std = _per_channel(processor.image_mean, channels), _per_channel(processor.image_std, channels)
    else:
        mean, std = [0.0] * channels, [1.0] * channels
    return PretrainedJudge(model, _input_size(processor, model_name_or_path), mean, std)


def _per_channel(values: float | Sequence[float], channels: int) -> list[float]:
    return [float(values)] * channels if isinstance(values, int | float) else [float(value) for value in values]


def _input_size(processor: Any, model_name_or_path: str) -> tuple[int, int]:
    """The ``(height, width)`` that ``processor`` gives a square image: its crop when it crops, else its resize."""
    cropped = getattr(processor, "crop_size", None) if getattr(processor, "do_center_crop", False) else None
    for size in (cropped, getattr(processor, "size", None)):
        # a processor's sizes are SizeDicts (None where unset); getattr also reads None for a size it lacks
        height, width, shortest = (getattr(size, key, None) for key in ("height", "width", "shortest_edge"))
        if height and width:
            return int(height), int(width)
        if shortest:
            return int(shortest), int(shortest)
    raise ValueError(
        f"The image processor of {model_name_or_path!r} names no input size (height and width, or shortest_edge); "
        "give the model folder a preprocessor_config.json with one."
    )
