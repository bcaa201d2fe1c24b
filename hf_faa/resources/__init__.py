"""Files shipped inside the package: the embedded MNIST-5k parquet (see README.md beside it)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from PIL import Image

DEFAULT_DATASET_FILE: Path = Path(__file__).resolve().parent / "mnist_5k.parquet"


def embedded_sample_images(count: int = 10) -> torch.Tensor:
    """The first image of each class of the embedded dataset, up to ``count``: uint8 ``[N, 1, 28, 28]``.

    Read straight from the parquet file (no ``datasets`` import), for model-card sample grids.
    """
    table = pq.read_table(DEFAULT_DATASET_FILE, columns=["image", "label"])
    labels = table.column("label").to_pylist()
    first_rows = sorted({label: row for row, label in reversed(list(enumerate(labels)))}.values())[:count]
    images = table.column("image").take(first_rows).to_pylist()
    arrays = [np.asarray(Image.open(io.BytesIO(image["bytes"])).convert("L")) for image in images]
    return torch.from_numpy(np.stack(arrays)).unsqueeze(1)
