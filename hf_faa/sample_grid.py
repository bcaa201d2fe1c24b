"""A picture of what a policy does: each sample image beside several augmented versions of it."""

from __future__ import annotations

import torch
from PIL import Image
from torch import nn

from .resources import embedded_sample_images

GRID_CELL_PIXELS = 96
GRID_GAP_PIXELS = 4
# At most this many rows (one image per class): every MNIST / CIFAR-10 class, a readable picture for more.
MAX_SAMPLE_ROWS = 16


def render_sample_grid(
    policy: nn.Module,
    images: torch.Tensor | None = None,
    num_augmentations: int = 6,
    seed: int = 0,
) -> Image.Image:
    """One row per image of ``images`` (uint8 ``[N, C, H, W]``; default: digits of the embedded dataset):
    the original, then ``num_augmentations`` augmented copies drawn by the policy in eval mode with a
    ``seed``-ed generator. Returns an RGB image."""
    if images is None:
        images = embedded_sample_images(MAX_SAMPLE_ROWS)
    generator = torch.Generator().manual_seed(seed)
    was_training = policy.training
    policy.eval()
    try:
        device = next(policy.parameters()).device
        batch = images.to(device)
        columns = [batch] + [policy(batch, generator=generator) for _ in range(num_augmentations)]
    finally:
        policy.train(was_training)

    step = GRID_CELL_PIXELS + GRID_GAP_PIXELS
    grid = Image.new("RGB", (len(columns) * step - GRID_GAP_PIXELS, len(batch) * step - GRID_GAP_PIXELS), "white")
    for column, augmented in enumerate(columns):
        for row, image in enumerate(augmented.cpu()):
            array = image.permute(1, 2, 0).expand(-1, -1, 3).numpy()
            cell = Image.fromarray(array).resize((GRID_CELL_PIXELS, GRID_CELL_PIXELS), Image.NEAREST)
            grid.paste(cell, (column * step, row * step))
    return grid
