"""How much of the label an image's intensity histograms alone carry: whether the tone ops can change it.

The tone ops (Brightness, Contrast, Solarize, Equalize, ...) map each pixel's intensity to another and leave the
shapes in the image where they were. Where the label lies in the shapes (digits), they change nothing the label
depends on, and the operation check's classifiers, trained on a few hundred images, mistake their own fragility
to an unseen tone for a change of label. Where it lies in the intensities (an exposure, a hue, a texture's colours),
they can destroy it. A linear classifier on each image's per-channel histograms tells the two apart: on the
evaluation suite it read 3-28% of the way from chance to every label on the three digit datasets and 50-93% on the
four others (docs/search-research.md, session 29).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

HISTOGRAM_BINS = 32
# The data's range of mean intensities: these quantiles of its images' means (1% of them may lie outside at each end).
INTENSITY_RANGE_QUANTILES = (0.01, 0.99)
# The logistic regression: an L2 penalty on its weights, and L-BFGS iterations from zero (deterministic).
HISTOGRAM_WEIGHT_DECAY = 1e-2
HISTOGRAM_ITERATIONS = 200


def intensity_histograms(images: Tensor) -> Tensor:
    """Each image's per-channel histogram over :data:`HISTOGRAM_BINS` equal intensity bins, as shares of its pixels:
    floats in [0, 1] ``[N, C, H, W]`` -> ``[N, C * HISTOGRAM_BINS]``."""
    bins = (images * HISTOGRAM_BINS).long().clamp_(0, HISTOGRAM_BINS - 1).flatten(2)
    counts = torch.zeros(*bins.shape[:2], HISTOGRAM_BINS, device=images.device)
    counts.scatter_add_(2, bins, torch.ones_like(bins, dtype=counts.dtype))
    return (counts / bins.shape[2]).flatten(1)


def histogram_accuracy(
    train: tuple[Tensor, Tensor], held_out: tuple[Tensor, Tensor], num_classes: int
) -> float:  # fmt: skip
    """Accuracy on ``held_out`` (images, floats in [0, 1] ``[N, C, H, W]``, and labels ``[N]``) of a multinomial
    logistic regression on the :func:`intensity_histograms` of ``train``'s images, each feature standardised over
    ``train``."""
    features, held_out_features = intensity_histograms(train[0]), intensity_histograms(held_out[0])
    mean, std = features.mean(0), features.std(0) + 1e-6
    features, held_out_features = (features - mean) / std, (held_out_features - mean) / std
    weights = torch.zeros(features.shape[1], num_classes, device=features.device, requires_grad=True)
    bias = torch.zeros(num_classes, device=features.device, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], max_iter=HISTOGRAM_ITERATIONS)

    def loss() -> Tensor:
        optimizer.zero_grad()
        value = F.cross_entropy(features @ weights + bias, train[1]) + HISTOGRAM_WEIGHT_DECAY * weights.square().sum()
        value.backward()
        return value

    with torch.enable_grad():  # the check may run under no_grad
        optimizer.step(loss)
    with torch.no_grad():
        return float((held_out_features @ weights + bias).argmax(1).eq(held_out[1]).float().mean())


def intensity_range(reference: Tensor) -> tuple[float, float]:
    """The range of the mean intensities of ``reference`` (floats in [0, 1] ``[M, C, H, W]``): their
    :data:`INTENSITY_RANGE_QUANTILES`."""
    low, high = reference.mean((1, 2, 3)).quantile(torch.tensor(INTENSITY_RANGE_QUANTILES, device=reference.device))
    return float(low), float(high)


def within_intensity_range(images: Tensor, bounds: tuple[float, float]) -> Tensor:
    """Whether each of ``images`` (floats in [0, 1] ``[N, C, H, W]``) has a mean intensity within ``bounds`` (an
    :func:`intensity_range`): ``[N]`` bools."""
    means = images.mean((1, 2, 3))
    return (means >= bounds[0]) & (means <= bounds[1])
