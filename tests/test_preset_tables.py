"""Shape, vocabulary and spot checks of the published policy tables in ``hf_faa.preset_tables``."""

from __future__ import annotations

import pytest

from hf_faa import preset_tables as pt

ALLOWED_OPERATIONS = {
    "ShearX",
    "ShearY",
    "TranslateX",
    "TranslateY",
    "Rotate",
    "HorizontalFlip",
    "VerticalFlip",
    "Invert",
    "Solarize",
    "Posterize",
    "Contrast",
    "Saturate",
    "Brightness",
    "Sharpness",
    "AutoContrast",
    "Equalize",
    "Cutout",
}

DATASETS = ("cifar10", "svhn", "imagenet")


def test_autoaugment_has_the_three_published_tables():
    assert set(pt.AUTOAUGMENT_POLICIES) == set(DATASETS)
    assert pt.AUTOAUGMENT_LEVELS == 10
    assert pt.AUTOAUGMENT_LEVEL_DENOMINATOR_TF == 10
    assert pt.AUTOAUGMENT_LEVEL_DENOMINATOR_TORCHVISION == 9


@pytest.mark.parametrize("dataset", DATASETS)
def test_autoaugment_table_shape_and_values(dataset):
    table = pt.AUTOAUGMENT_POLICIES[dataset]
    assert isinstance(table, tuple)
    assert len(table) == 25
    for sub_policy in table:
        assert isinstance(sub_policy, tuple) and len(sub_policy) == 2
        for entry in sub_policy:
            assert isinstance(entry, tuple) and len(entry) == 3
            name, probability, level = entry
            assert name in ALLOWED_OPERATIONS, name
            assert isinstance(probability, float) and 0.0 <= probability <= 1.0
            assert isinstance(level, int) and not isinstance(level, bool)
            assert 0 <= level < pt.AUTOAUGMENT_LEVELS
            # every op with a magnitude has a published range
            assert name in pt.MAGNITUDE_FREE_OPERATIONS or name in pt.AUTOAUGMENT_RANGES, name


def test_autoaugment_uses_our_names():
    names = {e[0] for table in pt.AUTOAUGMENT_POLICIES.values() for sp in table for e in sp}
    assert "Color" not in names and "Saturate" in names
    assert "Cutout" not in names  # none of the published tables uses Cutout


# Spot checks against tensorflow/models official/vision/ops/augment.py (policy_reduced_cifar10,
# policy_svhn, policy_reduced_imagenet), torchvision AutoAugment and DeepVoltaire/AutoAugment.
SPOT_CHECKS = [
    ("cifar10", 0, (("Invert", 0.1, 7), ("Contrast", 0.2, 6))),
    ("cifar10", 5, (("ShearY", 0.2, 7), ("Posterize", 0.3, 7))),
    ("cifar10", 13, (("Brightness", 0.9, 6), ("Saturate", 0.2, 8))),  # kakaobrain has Color level 6
    ("cifar10", 19, (("Brightness", 0.1, 3), ("Saturate", 0.7, 0))),
    ("cifar10", 24, (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, 1))),
    ("svhn", 0, (("ShearX", 0.9, 4), ("Invert", 0.2, 3))),
    ("svhn", 15, (("Invert", 0.8, 5), ("TranslateY", 0.0, 2))),
    ("svhn", 24, (("ShearX", 0.7, 2), ("Invert", 0.1, 5))),
    ("imagenet", 0, (("Posterize", 0.4, 8), ("Rotate", 0.6, 9))),
    ("imagenet", 10, (("Rotate", 0.8, 8), ("Saturate", 0.4, 0))),
    ("imagenet", 18, (("ShearX", 0.6, 5), ("Equalize", 1.0, 9))),
    ("imagenet", 24, (("Equalize", 0.8, 8), ("Equalize", 0.6, 3))),
]


@pytest.mark.parametrize(("dataset", "index", "expected"), SPOT_CHECKS)
def test_autoaugment_spot_checks(dataset, index, expected):
    assert pt.AUTOAUGMENT_POLICIES[dataset][index] == expected


def test_imagenet_table_repeats_as_published():
    table = pt.AUTOAUGMENT_POLICIES["imagenet"]
    assert table[20:25] == (table[4], table[1], table[13], table[14], table[2])


@pytest.mark.parametrize(
    "ranges",
    [pt.AUTOAUGMENT_RANGES, pt.RANDAUGMENT_RANGES, pt.TRIVIALAUGMENT_RANGES],
    ids=["autoaugment", "randaugment", "trivialaugment"],
)
def test_range_tables(ranges):
    assert set(ranges) <= ALLOWED_OPERATIONS
    assert not set(ranges) & pt.MAGNITUDE_FREE_OPERATIONS
    for name, (low, high) in ranges.items():
        assert isinstance(low, float) and isinstance(high, float), name
        assert 0.0 == low < high, name


def test_published_range_values():
    aa = pt.AUTOAUGMENT_RANGES
    assert aa["ShearX"] == aa["ShearY"] == (0.0, 0.3)
    assert aa["TranslateX"] == aa["TranslateY"] == (0.0, 150.0 / 331.0)
    assert aa["Rotate"] == (0.0, 30.0)
    for name in ("Saturate", "Contrast", "Brightness", "Sharpness"):
        assert aa[name] == (0.0, 0.9)
    assert aa["Posterize"] == (0.0, 4.0)
    assert aa["Solarize"] == (0.0, 1.0)

    ta = pt.TRIVIALAUGMENT_RANGES
    assert ta["ShearX"] == ta["ShearY"] == (0.0, 0.99)
    assert ta["TranslateX"] == ta["TranslateY"] == (0.0, 1.0)
    assert ta["Rotate"] == (0.0, 135.0)
    for name in ("Saturate", "Contrast", "Brightness", "Sharpness"):
        assert ta[name] == (0.0, 0.99)
    assert ta["Posterize"] == (0.0, 6.0)
    assert ta["Solarize"] == (0.0, 1.0)


def test_randaugment_and_trivialaugment_settings():
    for ops, ranges in (
        (pt.RANDAUGMENT_OPERATIONS, pt.RANDAUGMENT_RANGES),
        (pt.TRIVIALAUGMENT_OPERATIONS, pt.TRIVIALAUGMENT_RANGES),
    ):
        assert len(ops) == len(set(ops)) == 13  # 14 with Identity
        assert set(ops) <= ALLOWED_OPERATIONS
        assert "Identity" not in ops and "Invert" not in ops and "Cutout" not in ops
        assert set(ranges) == set(ops) - pt.MAGNITUDE_FREE_OPERATIONS
    assert pt.RANDAUGMENT_INCLUDES_IDENTITY is True
    assert pt.TRIVIALAUGMENT_INCLUDES_IDENTITY is True
    assert pt.RANDAUGMENT_RANGES == pt.AUTOAUGMENT_RANGES
    assert (pt.RANDAUGMENT_NUM_OPS, pt.RANDAUGMENT_MAGNITUDE) == (2, 9)
    assert pt.RANDAUGMENT_MAGNITUDE_BINS == 31
    assert 0 <= pt.RANDAUGMENT_MAGNITUDE < pt.RANDAUGMENT_MAGNITUDE_BINS
    assert pt.TRIVIALAUGMENT_NUM_OPS == 1
    assert pt.TRIVIALAUGMENT_MAGNITUDE_BINS == 31
    assert pt.TRIVIALAUGMENT_SAMPLES_MAGNITUDE_UNIFORMLY is True
