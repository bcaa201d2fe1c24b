"""The official search loader's base augmentation (``--base_augmentation``): small random shifts of every
search image, a random crop of the reflect-padded image, and with ``crop-flip`` a horizontal flip of half of
them, as the official code's CIFAR-10 loader does before each batch is split into its real and augmented
halves. The critic then sees shifted real images and does not learn to flag a small translation as fake."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

BASE_AUGMENTATIONS = ("none", "crop", "crop-flip")
# The official loader (homura's CIFAR-10 dataset) pads by 4 pixels (reflect) and crops back to the image size.
BASE_SHIFT = 4


def shifted(images: Tensor, pad: int, draws: torch.Generator | None = None) -> Tensor:
    """``images`` ``[N, C, H, W]``, each moved by up to ``pad`` pixels along each axis: a random ``H x W`` crop of
    the reflect-padded image (``pad`` 0: as they are). ``draws`` is a CPU generator (None: the global one)."""
    if pad == 0:
        return images
    count, _, height, width = images.shape
    padded = F.pad(images, [pad] * 4, mode="reflect")
    offsets = torch.randint(2 * pad + 1, (2, count, 1), generator=draws).to(images.device)
    rows = offsets[0] + torch.arange(height, device=images.device)  # [N, H]
    columns = offsets[1] + torch.arange(width, device=images.device)  # [N, W]
    crops = padded[torch.arange(count, device=images.device)[:, None, None], :, rows[:, :, None], columns[:, None, :]]
    return crops.permute(0, 3, 1, 2)  # advanced indexing put the channels last: [N, H, W, C]


def base_augmented(images: Tensor, kind: str) -> Tensor:
    """Float images ``[N, C, H, W]`` after the base augmentation ``kind`` (one of :data:`BASE_AUGMENTATIONS`),
    drawn from the global random generator."""
    if kind == "none":
        return images
    images = shifted(images, BASE_SHIFT)
    if kind == "crop-flip":
        flips = (torch.rand(images.shape[0]) < 0.5).to(images.device)
        images = torch.where(flips[:, None, None, None], images.flip(-1), images)
    return images
