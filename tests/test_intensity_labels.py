"""The operation check's histogram classifier: whether an image's intensities alone carry its label."""

import pytest
import torch

from hf_faa.search.intensity_labels import (
    HISTOGRAM_BINS,
    histogram_accuracy,
    intensity_histograms,
    intensity_range,
    within_intensity_range,
)


def test_intensity_histograms_are_each_channels_shares_of_pixels_per_bin():
    images = torch.zeros(2, 3, 4, 4)
    images[0, 1, :2] = 1.0  # half of channel 1 in the top bin
    images[1, :, 0, 0] = 0.5  # one pixel of each channel in the middle bin
    histograms = intensity_histograms(images).view(2, 3, HISTOGRAM_BINS)
    assert histograms.sum(-1).eq(1).all()
    assert histograms[0, 1, -1] == 0.5 and histograms[0, 1, 0] == 0.5 and histograms[0, 0, 0] == 1
    assert histograms[1, :, HISTOGRAM_BINS // 2].eq(1 / 16).all()


def _bars(count: int, label_in: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy 16x16 images of a bar, horizontal or vertical: the label is the bar's direction (``"shape"``: the
    intensity histograms are alike) or its brightness (``"intensity"``: both directions at random)."""
    draws = torch.Generator().manual_seed(seed)
    labels = torch.randint(2, (count,), generator=draws)
    images = torch.rand(count, 1, 16, 16, generator=draws) * 0.3
    positions = torch.randint(16, (count,), generator=draws)
    vertical = labels.bool() if label_in == "shape" else torch.rand(count, generator=draws) < 0.5
    brightness = 0.9 if label_in == "shape" else 0.5 + 0.4 * labels
    for index in range(count):
        bar = images[index, 0, :, positions[index]] if vertical[index] else images[index, 0, positions[index]]
        bar.fill_(brightness if label_in == "shape" else float(brightness[index]))
    return images, labels


@pytest.mark.parametrize(("label_in", "low", "high"), [("intensity", 0.95, 1.0), ("shape", 0.3, 0.7)])
def test_a_classifier_of_the_histograms_reads_labels_in_the_intensities_not_in_the_shapes(label_in, low, high):
    accuracy = histogram_accuracy(_bars(200, label_in, 0), _bars(200, label_in, 1), num_classes=2)
    assert low <= accuracy <= high


def test_the_data_s_intensity_range_leaves_out_a_hundredth_at_each_end():
    reference = torch.linspace(0, 1, 101)[:, None, None, None].expand(101, 3, 2, 2)  # mean intensities 0, 0.01, ...
    images = torch.tensor([0.0, 0.005, 0.011, 0.5, 0.989, 0.995, 1.0])[:, None, None, None].expand(7, 3, 2, 2)
    bounds = intensity_range(reference)
    assert within_intensity_range(images, bounds).tolist() == [False, False, True, True, True, False, False]
