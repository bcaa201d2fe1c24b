"""Published augmentation-policy tables (AutoAugment, RandAugment, TrivialAugment, elastic distortion) as plain data.

This module only holds constants. The numbers are published facts, written out here with the
sources they came from and the places where sources disagree. No code was taken from those sources.

Operation names follow :mod:`hf_faa.ops`: PIL/AutoAugment ``"Color"`` is called ``"Saturate"``
here; every other name is unchanged.

Sources
-------
[AA]     Cubuk et al., "AutoAugment: Learning Augmentation Policies from Data", arXiv:1805.09501.
         The appendix lists the CIFAR-10 ("reduced CIFAR-10"), SVHN and ImageNet policies, 25
         sub-policies each. Its operation table gives the magnitude ranges for 331x331 images:
         ShearX/Y [-0.3, 0.3], TranslateX/Y [-150, 150] px, Rotate [-30, 30] deg,
         Solarize [0, 256] threshold, Posterize [4, 8] bits, Color/Contrast/Brightness/Sharpness
         [0.1, 1.9], Cutout [0, 60] px. Each range is split into 10 uniformly spaced values.
[TF-M]   tensorflow/models ``official/vision/ops/augment.py``, ``AutoAugment.policy_reduced_cifar10``,
         ``policy_svhn`` and ``policy_reduced_imagenet``. Their docstrings say "Result is from the
         AutoAugment paper". This is the Google transcription of the [AA] tables. **Primary
         source for the tables below.**
[TF-R]   tensorflow/models ``research/autoaugment`` (``policies.py``, ``augmentation_transforms.py``):
         the AutoAugment authors' CIFAR code. ``good_policies()`` holds 95 CIFAR sub-policies.
         Four of its five-sub-policy blocks (exp0_0, exp1_0, exp2_0, exp0_1) are sub-policies
         1-15 and 21-25 of the published CIFAR-10 table. The file also gives the level-to-argument
         formulas, with ``PARAMETER_MAX = 10``.
[TPU]    tensorflow/tpu ``models/official/efficientnet/autoaugment.py``: ``_MAX_LEVEL = 10.``,
         RandAugment reference code, and ``policy_v0`` (a *different* ImageNet policy, not used here).
[TV]     pytorch/vision ``torchvision/transforms/autoaugment.py``: ``AutoAugment`` (all 3 tables,
         ``None`` magnitude for magnitude-free ops), ``RandAugment``, ``TrivialAugmentWide``.
[TIMM]   huggingface/pytorch-image-models ``timm/data/auto_augment.py``:
         ``auto_augment_policy_original`` (the [AA] ImageNet table) and ``rand_augment_transform``.
[DV]     DeepVoltaire/AutoAugment ``autoaugment.py``: an independent PyTorch transcription of the
         three [AA] tables. Torchvision's magnitude ranges match it.
[KB]     kakaobrain/fast-autoaugment ``FastAutoAugment/archive.py``: ``autoaug_paper_cifar10``.
[RA]     Cubuk et al., "RandAugment: Practical automated data augmentation with a reduced search
         space", arXiv:1909.13719. It uses 14 ops: identity, autoContrast, equalize, rotate,
         solarize, color, posterize, contrast, brightness, sharpness, shear-x/y, translate-x/y.
[TA]     Müller & Hutter, "TrivialAugment: Tuning-free Yet State-of-the-Art Data Augmentation",
         arXiv:2103.10158; reference code automl/trivialaugment ``aug_lib.py`` ("wide" space).
[ED]     Simard, Steinkraus & Platt, "Best Practices for Convolutional Neural Networks Applied to Visual
         Document Analysis", ICDAR 2003: displacement fields smoothed by a Gaussian of 4 pixels and scaled by
         34 pixels, on 28x28 digits, for every training image.

Agreement between sources (checked entry by entry)
--------------------------------------------------
* CIFAR-10: [TF-M], [TV], [DV] and [TF-R] (20 of 25 entries) agree on every operation,
  probability and level. [TV] stores ``None`` for the magnitude-free ops. [KB] differs in one
  entry: sub-policy 14 has ``("Color", 0.2, 6)`` where all other sources have
  ``("Color", 0.2, 8)``. We use 8.
* SVHN: [TF-M], [TV] and [DV] agree on every entry.
* ImageNet: [TF-M], [TV], [TIMM] (``original``) and [DV] agree on every entry. The table has
  duplicate sub-policies: entries 21-25 repeat entries 5, 2, 14, 15 and 3. This matches the
  paper. [DV]'s docstring "best 24 Sub-policies" is a typo; its list has 25 entries.
* The paper tables also give a level for magnitude-free ops (AutoContrast, Equalize, Invert).
  [TF-M], [TF-R], [TIMM] and [DV] keep those levels, and so do we. The levels have no effect.

Level / magnitude conventions (important when building presets)
--------------------------------------------------------------
AutoAugment levels are integers 0..9 (``AUTOAUGMENT_LEVELS = 10`` discrete values). Two
conventions are in use:

* TF reference ([TF-R] ``PARAMETER_MAX = 10``, [TPU]/[TF-M] ``_MAX_LEVEL = 10``; [TIMM]
  ``_LEVEL_DENOM = 10``): ``arg = level / 10 * max``. Level 9 gives 0.9 of the maximum; the
  maximum itself would be level 10, which the published tables never use.
* Torchvision / [DV]: ``arg = torch.linspace(low, high, 10)[level]``, i.e.
  ``low + (high - low) * level / 9``. Level 9 gives the maximum.

``AUTOAUGMENT_RANGES`` is in torchvision/[DV] units: (value at level 0, value at level 9),
signed ops get a random sign. Per-op differences from the TF reference:

* Shear: both use a shear factor of at most 0.3. TF: ``level/10*0.3``. TV: ``level/9*0.3``. TV
  calls ``F.affine`` with ``shear = degrees(atan(factor))`` to match PIL's ``(1, factor, 0, ...)``.
* Translate: [AA] gives 150 px on 331 px images, and [TV]/[DV] use ``150/331`` of the image size.
  [TF-R] (the CIFAR code) uses ``int(level/10*10)`` px on 32 px images, which is at most 10/32 =
  0.3125 of the size. [TPU] AutoAugment uses ``translate_const = 250`` px.
  [TIMM] relative mode uses ``0.45`` of the size.
* Rotate: at most 30 degrees everywhere. TF: ``int(level/10*30)``. TV: ``level/9*30``.
* Color/Contrast/Brightness/Sharpness: TF maps a level to the factor ``level/10*1.8 + 0.1``,
  unsigned. Level 0 then gives factor 0.1, a strong change, and level 5 is the identity. TV/[DV]
  use ``1 ± level/9*0.9``, so level 0 is the identity. **These are different transforms for the
  same table entry.** For example, ImageNet ``("Color", 0.4, 0)`` nearly desaturates in TF but
  does nothing in TV. We use the TV form (``|factor - 1|`` in (0, 0.9), signed), as
  :mod:`hf_faa.ops` does.
* Posterize (number of bits kept, ``bits``):
  [AA] table: ``[4, 8]`` bits, direction not stated;
  [TF-R]: ``bits = 4 - int(level/10*4)``, i.e. 4 -> 1 bit kept at levels 0..9, 0 at level 10.
  tensorflow/models issue #9770 calls this a typo against the paper's 4..8.
  [TPU]/[TF-M]: ``bits = int(level/10*4)``, i.e. 0..4, weaker as the level rises;
  [TIMM] ``PosterizeOriginal``: ``int(level/10*4) + 4``, i.e. 4..8, weaker as the level rises;
  [TV]/[DV]: ``bits = 8 - round(level * 4/9)``, i.e. 8 -> 4, stronger as the level rises.
  We follow [TV]/[DV]: bits *removed* in (0, 4).
* Solarize (pixels >= threshold are inverted): [TF-R]: ``threshold = 256 - int(level/10*256)``,
  stronger as the level rises. [TPU]/[TF-M]: ``threshold = int(level/10*256)``, weaker as the level
  rises. [TV]: ``linspace(255, 0, 10)[level]`` on uint8. [DV]: ``linspace(256, 0, 10)``. We follow
  [TV]/[TF-R]: the *fraction of the intensity range inverted* is in (0, 1)
  (``threshold = 1 - fraction`` on a [0, 1] image).
* Cutout: none of the three published tables uses it, so it has no entry here. [AA]'s search space
  allows [0, 60] px at 331 px; [TF-R] uses ``int(level/10*20)`` px on 32 px images.

RandAugment
-----------
[RA]/[TV] ops: ``RANDAUGMENT_OPERATIONS`` plus Identity, each chosen with probability 1/14.
Ops are drawn with replacement, ``N`` per image, and each is applied with probability 1 at one
shared magnitude ``M``. [TV] defaults: ``num_ops=2``, ``magnitude=9``, ``num_magnitude_bins=31``,
so ``arg = linspace(low, high, 31)[M]``, i.e. ``M/30`` of the AutoAugment maximum. M=9 is therefore
0.3 of the maximum. Signed ops get a random sign. The ranges are the same as AutoAugment's.
The magnitude scale is ambiguous across sources:

* [RA] §4.1 sweeps ``M`` over 0..30 (cited by torchvision maintainers in
  facebookresearch/pytorchvideo#168). tensorflow/tpu#614 notes the paper body uses 30 and its
  appendix 20.
* [TPU] divides by ``_MAX_LEVEL = 10`` without clipping, so M > 10 goes past the AutoAugment
  maxima. The [RA] authors report M up to 28 on ImageNet (tensorflow/tpu#642). [TPU]'s op list
  differs from the paper: no Identity, plus Invert, Cutout and SolarizeAdd. It applies each op
  with probability U(0.2, 0.8) and uses ``translate_const = 100`` px.
* [TIMM] clips M to 10 by default (``M/10`` of max; default M = 10). Its op list has no Identity
  and adds Invert and SolarizeAdd, each applied with probability 0.5.
* The [TA] code's RandAugment uses ``M in [0, 30]``, i.e. ``M/30``, like [TV].

The default N=2, M=9 is the [RA] ImageNet ResNet-50 setting that [TV] adopts.

TrivialAugment (wide)
---------------------
[TA] ``aug_lib.py`` (``set_augmentation_space('wide_standard', 31)``) and [TV]
``TrivialAugmentWide`` agree on these points:

* the 14 ops (``TRIVIALAUGMENT_OPERATIONS`` plus Identity; no Invert, no Cutout);
* one op per image, chosen uniformly and applied with probability 1;
* a magnitude bin drawn uniformly per image from 31 bins (``random.randint(0, 30)`` in [TA],
  ``torch.randint(31)`` in [TV]);
* Translate: at most 32 *pixels* (``int(level/30*32)`` in [TA], ``linspace(0, 32, 31)`` in [TV]),
  whatever the image size. 32 px is the full width of a 32 px CIFAR image, so we store the range
  as a fraction ``(0, 1.0)``. On larger images an absolute 32 px is a smaller fraction.

They differ in the enhance ops: [TA] uses the unsigned factor ``0.01 + level/30*1.99`` in
[0.01, 2.0]; [TV] uses ``1 ± level/30*0.99`` in [0.01, 1.99]. We use the TV form.

Posterize keeps ``8 - int(level/30*6)`` bits in [TA] and ``8 - round(level/5)`` bits in [TV], i.e.
it removes 0..6 bits. Solarize uses ``threshold = 256 - int(level/30*256)`` in [TA] and
``linspace(255, 0, 31)`` in [TV], i.e. it inverts a fraction 0..1 of the range. Shear is at most
0.99 and Rotate at most 135 degrees. Only the geometric ops get an extra sign coin-flip in [TA];
[TV] also signs the enhance ops.
"""

from __future__ import annotations

Entry = tuple[str, float, int]
SubPolicy = tuple[Entry, Entry]

# Operations that take no magnitude. Their levels in the tables below are published but have no effect.
MAGNITUDE_FREE_OPERATIONS: frozenset[str] = frozenset(
    {"AutoContrast", "Equalize", "Invert", "HorizontalFlip", "VerticalFlip"}
)

# ---------------------------------------------------------------------------------------------
# AutoAugment
# ---------------------------------------------------------------------------------------------

AUTOAUGMENT_LEVELS = 10
"""Number of discrete magnitude levels in the AutoAugment search space; tables use 0..9."""

AUTOAUGMENT_LEVEL_DENOMINATOR_TF = 10
"""TF reference: ``arg = level / 10 * max`` ([TF-R] ``PARAMETER_MAX``, [TPU] ``_MAX_LEVEL``)."""

AUTOAUGMENT_LEVEL_DENOMINATOR_TORCHVISION = AUTOAUGMENT_LEVELS - 1
"""Torchvision / DeepVoltaire: ``arg = low + (high - low) * level / 9`` (``linspace`` over 10 bins)."""

# (operation, probability, level) pairs; published order. Transcribed from [TF-M]; see module docstring.
AUTOAUGMENT_POLICIES: dict[str, tuple[SubPolicy, ...]] = {
    # [AA] "policy learned on reduced CIFAR-10"; [TF-M] policy_reduced_cifar10.
    "cifar10": (
        (("Invert", 0.1, 7), ("Contrast", 0.2, 6)),
        (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
        (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
        (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.5, 8), ("Equalize", 0.9, 2)),
        (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
        (("Saturate", 0.4, 3), ("Brightness", 0.6, 7)),
        (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
        (("Equalize", 0.6, 5), ("Equalize", 0.5, 1)),
        (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
        (("Saturate", 0.7, 7), ("TranslateX", 0.5, 8)),
        (("Equalize", 0.3, 7), ("AutoContrast", 0.4, 8)),
        (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
        # [KB] autoaug_paper_cifar10 has ("Color", 0.2, 6) here; [TF-M], [TF-R], [TV], [DV] have 8.
        (("Brightness", 0.9, 6), ("Saturate", 0.2, 8)),
        (("Solarize", 0.5, 2), ("Invert", 0.0, 3)),
        (("Equalize", 0.2, 0), ("AutoContrast", 0.6, 0)),
        (("Equalize", 0.2, 8), ("Equalize", 0.6, 4)),
        (("Saturate", 0.9, 9), ("Equalize", 0.6, 6)),
        (("AutoContrast", 0.8, 4), ("Solarize", 0.2, 8)),
        (("Brightness", 0.1, 3), ("Saturate", 0.7, 0)),
        (("Solarize", 0.4, 5), ("AutoContrast", 0.9, 3)),
        (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.9, 2), ("Solarize", 0.8, 3)),
        (("Equalize", 0.8, 8), ("Invert", 0.1, 3)),
        (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, 1)),
    ),
    # [AA] "policy learned on SVHN"; [TF-M] policy_svhn.
    "svhn": (
        (("ShearX", 0.9, 4), ("Invert", 0.2, 3)),
        (("ShearY", 0.9, 8), ("Invert", 0.7, 5)),
        (("Equalize", 0.6, 5), ("Solarize", 0.6, 6)),
        (("Invert", 0.9, 3), ("Equalize", 0.6, 3)),
        (("Equalize", 0.6, 1), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("AutoContrast", 0.8, 3)),
        (("ShearY", 0.9, 8), ("Invert", 0.4, 5)),
        (("ShearY", 0.9, 5), ("Solarize", 0.2, 6)),
        (("Invert", 0.9, 6), ("AutoContrast", 0.8, 1)),
        (("Equalize", 0.6, 3), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("Solarize", 0.3, 3)),
        (("ShearY", 0.8, 8), ("Invert", 0.7, 4)),
        (("Equalize", 0.9, 5), ("TranslateY", 0.6, 6)),
        (("Invert", 0.9, 4), ("Equalize", 0.6, 7)),
        (("Contrast", 0.3, 3), ("Rotate", 0.8, 4)),
        (("Invert", 0.8, 5), ("TranslateY", 0.0, 2)),
        (("ShearY", 0.7, 6), ("Solarize", 0.4, 8)),
        (("Invert", 0.6, 4), ("Rotate", 0.8, 4)),
        (("ShearY", 0.3, 7), ("TranslateX", 0.9, 3)),
        (("ShearX", 0.1, 6), ("Invert", 0.6, 5)),
        (("Solarize", 0.7, 2), ("TranslateY", 0.6, 7)),
        (("ShearY", 0.8, 4), ("Invert", 0.8, 8)),
        (("ShearX", 0.7, 9), ("TranslateY", 0.8, 3)),
        (("ShearY", 0.8, 5), ("AutoContrast", 0.7, 3)),
        (("ShearX", 0.7, 2), ("Invert", 0.1, 5)),
    ),
    # [AA] "policy learned on ImageNet"; [TF-M] policy_reduced_imagenet; [TIMM] "original".
    # Entries 21-25 repeat entries 5, 2, 14, 15, 3 as published.
    "imagenet": (
        (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)),
        (("Equalize", 0.8, 8), ("Equalize", 0.6, 3)),
        (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
        (("Equalize", 0.4, 7), ("Solarize", 0.2, 4)),
        (("Equalize", 0.4, 4), ("Rotate", 0.8, 8)),
        (("Solarize", 0.6, 3), ("Equalize", 0.6, 7)),
        (("Posterize", 0.8, 5), ("Equalize", 1.0, 2)),
        (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
        (("Equalize", 0.6, 8), ("Posterize", 0.4, 6)),
        (("Rotate", 0.8, 8), ("Saturate", 0.4, 0)),
        (("Rotate", 0.4, 9), ("Equalize", 0.6, 2)),
        (("Equalize", 0.0, 7), ("Equalize", 0.8, 8)),
        (("Invert", 0.6, 4), ("Equalize", 1.0, 8)),
        (("Saturate", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Rotate", 0.8, 8), ("Saturate", 1.0, 2)),
        (("Saturate", 0.8, 8), ("Solarize", 0.8, 7)),
        (("Sharpness", 0.4, 7), ("Invert", 0.6, 8)),
        (("ShearX", 0.6, 5), ("Equalize", 1.0, 9)),
        (("Saturate", 0.4, 0), ("Equalize", 0.6, 3)),
        (("Equalize", 0.4, 7), ("Solarize", 0.2, 4)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)),
        (("Invert", 0.6, 4), ("Equalize", 1.0, 8)),
        (("Saturate", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Equalize", 0.8, 8), ("Equalize", 0.6, 3)),
    ),
}

# (value at level 0, value at the maximum level), torchvision / [DV] units and conventions; signed ops
# (shear, translate, rotate, enhance) take a random sign. Magnitude-free ops are absent.
AUTOAUGMENT_RANGES: dict[str, tuple[float, float]] = {
    "ShearX": (0.0, 0.3),  # shear factor (PIL affine coefficient)
    "ShearY": (0.0, 0.3),
    "TranslateX": (0.0, 150.0 / 331.0),  # fraction of width: [AA] 150 px at 331 px (TF-R CIFAR: 10/32)
    "TranslateY": (0.0, 150.0 / 331.0),  # fraction of height
    "Rotate": (0.0, 30.0),  # degrees
    "Saturate": (0.0, 0.9),  # |factor - 1| (TF: unsigned factor 0.1 + level/10 * 1.8)
    "Contrast": (0.0, 0.9),
    "Brightness": (0.0, 0.9),
    "Sharpness": (0.0, 0.9),
    "Posterize": (0.0, 4.0),  # bits removed: 8 kept at level 0, 4 kept at level 9 ([TV]/[DV])
    "Solarize": (0.0, 1.0),  # fraction of the intensity range inverted (threshold 256 -> 0)
}

# ---------------------------------------------------------------------------------------------
# RandAugment
# ---------------------------------------------------------------------------------------------

# [TV] RandAugment op list (= [RA] paper list), in torchvision order, minus "Identity" (see below).
RANDAUGMENT_OPERATIONS: tuple[str, ...] = (
    "ShearX",
    "ShearY",
    "TranslateX",
    "TranslateY",
    "Rotate",
    "Brightness",
    "Saturate",
    "Contrast",
    "Sharpness",
    "Posterize",
    "Solarize",
    "AutoContrast",
    "Equalize",
)
RANDAUGMENT_INCLUDES_IDENTITY = True
"""[RA]/[TV] also draw "Identity" (no-op), so each op has probability 1/14, not 1/13."""

# Same ranges as AutoAugment in [TV]: (value at M=0, value at M=30). Magnitude-free ops are absent.
RANDAUGMENT_RANGES: dict[str, tuple[float, float]] = AUTOAUGMENT_RANGES

RANDAUGMENT_NUM_OPS = 2
"""Default N ([RA] ImageNet ResNet-50 setting; [TV] default ``num_ops``)."""

RANDAUGMENT_MAGNITUDE = 9
"""Default M ([RA] ImageNet ResNet-50 setting; [TV] default ``magnitude``)."""

RANDAUGMENT_MAGNITUDE_BINS = 31
"""[TV] ``num_magnitude_bins``: M in 0..30, value = low + (high - low) * M / 30."""

# ---------------------------------------------------------------------------------------------
# TrivialAugment (wide)
# ---------------------------------------------------------------------------------------------

# [TA] "wide" op list (= [TV] TrivialAugmentWide), in torchvision order, minus "Identity".
TRIVIALAUGMENT_OPERATIONS: tuple[str, ...] = RANDAUGMENT_OPERATIONS
TRIVIALAUGMENT_INCLUDES_IDENTITY = True
"""[TA]/[TV] also draw "Identity", so each op has probability 1/14."""

TRIVIALAUGMENT_RANGES: dict[str, tuple[float, float]] = {
    "ShearX": (0.0, 0.99),  # shear factor
    "ShearY": (0.0, 0.99),
    "TranslateX": (0.0, 1.0),  # 32 px as a fraction of a 32 px CIFAR image ([TA]/[TV] use absolute 32 px)
    "TranslateY": (0.0, 1.0),
    "Rotate": (0.0, 135.0),  # degrees
    "Saturate": (0.0, 0.99),  # |factor - 1| ([TA]: unsigned factor 0.01..2.0)
    "Contrast": (0.0, 0.99),
    "Brightness": (0.0, 0.99),
    "Sharpness": (0.0, 0.99),
    "Posterize": (0.0, 6.0),  # bits removed: 8 kept at bin 0, 2 kept at bin 30
    "Solarize": (0.0, 1.0),  # fraction of the intensity range inverted
}

TRIVIALAUGMENT_NUM_OPS = 1
"""One op per image, applied with probability 1."""

TRIVIALAUGMENT_MAGNITUDE_BINS = 31
"""Bins 0..30; value = low + (high - low) * bin / 30."""

TRIVIALAUGMENT_SAMPLES_MAGNITUDE_UNIFORMLY = True
"""The magnitude bin is drawn uniformly per image ([TA] ``random.randint(0, 30)``, [TV] ``torch.randint(31)``)."""

# ---------------------------------------------------------------------------------------------
# Elastic distortion
# ---------------------------------------------------------------------------------------------

ELASTIC_MAGNITUDE = 0.5
"""[ED]'s scale, 34/28 of the side (about 1.2), on ``hf_faa.ops`` Elastic's value range of 0 to 2.4 of the side; its
smoothing, 4/28 of the side, is the op's own (``hf_faa.ops.elastic.FIELD_SMOOTHING``). Applied to every image."""
