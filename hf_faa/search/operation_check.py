"""Which searched operations work against what a classifier learns from the data: a post-search check.

The relaxed search judges the ops through a blend of all of them, so a label-destroying op (a flip on
digits, Equalize on colour-coded patches) can keep a few stages. This check applies each op on its own,
at the policy's magnitude for it (at the start's where the search shrank it to almost nothing:
:data:`COLLAPSED_MAGNITUDE_SHARE`), to training images, and asks small classifiers trained on the rest of
the search data whether a training step on those images points where a step on held-out real images
does: the cosine between a classifier's gradients on the two (the gradient matching of DeepAA, Zheng et
al., 2022; the one-step validation hypergradient of MADAO, Hataya et al., 2022), minus the same cosine for
unaugmented images. One classifier's verdict is noise (an op's difference moved by up to 1.0 between two
of them: docs/search-research.md, session 11), so each of :data:`FOLDS` folds of the images is held out
in turn from a classifier of its own, and an op whose median difference over the folds is below ``-margin``,
or under which the classifiers recognise under :data:`MIN_PRESERVATION_TO_STAY` of their held-out images, gets
apply probability 0 in every stage. The median, not the mean, because now and then one fold's classifier puts
every op far below unaugmented images (-0.6 to -1.4 for a shear, a translation and a rotation that the other
four put within 0.03 of them: docs/search-research.md, session 19). Ops the policy applies in under
:data:`MIN_CHECKED_RATE` of its stages are left as they are: switching them off would change next to nothing.
The classifiers train on images shifted by up to :data:`JUDGE_SHIFT` pixels (the official loader's crop), so
they do not read a small shift as a change of label. Classifiers that barely beat chance cannot judge anything; then
the check is skipped (:data:`NEAR_CHANCE_SHARE`).

The same classifiers also widen the policy's choice (``--selection_spread``). A search settles on a few ops by
the luck of its first batches, and on digits several harmless ops together train better than any one of them
(docs/search-research.md, sessions 14-16). So each stage can give a share of its selection to a uniform choice among
the ops that pass the check, train the classifiers much as real images do (a median gradient cosine at most
:data:`MAX_SPREAD_COSINE_DROP` below that of unaugmented images), keep most labels (each fold's classifier still
recognises its held-out images under the op: :data:`MIN_LABEL_PRESERVATION` of its accuracy on them unaugmented;
where the classifiers learned the data poorly, they are trained a few steps more with the op instead, and their
held-out loss must not rise more than :data:`MAX_TRAINED_LOSS_RISE` above the other candidates' median rise, nor may
they keep under :data:`MIN_PRESERVATION_TO_STAY` of their labels, as for an op that stays applied) and change
the images (a mean pixel change of at least :data:`MIN_SPREAD_STRENGTH` at the policy's magnitude); those ops keep at
least the magnitude they started the search with, since a search shrinks the magnitudes of the ops it hardly selects,
and are applied with probability at least :data:`SPREAD_APPLY_PROBABILITY` (RandAugment applies an op to nearly every
image; the searched policies applied about one op per image).

Where the label lies in the shapes, not in the intensities, the classifiers misjudge one kind of op: the tone ops
(:data:`TONE_OPERATIONS`), which remap each pixel's intensity and leave every shape where it was. Classifiers trained on
a few hundred digits keep 0.3-0.8 of their labels under Equalize, yet the digits train better with it (sessions 20 and
29). So each fold also fits a linear classifier to its images' per-channel intensity histograms
(:mod:`.intensity_labels`); where that reads under :data:`MAX_TONE_LABEL_SHARE` of what the fold classifiers read,
the tone ops that keep the data's tones (:data:`MIN_TONE_IN_RANGE` of their images with a mean intensity within the
data's range: not Invert on white digits on black) are judged by their pixel change alone.

Last, the same classifiers vote on how the saved policy draws its magnitudes (``--saved_magnitude_sampling auto``):
each spread op with a magnitude is applied at its final magnitude and at twice it, and when more than
:data:`UNIFORM_MAGNITUDE_VOTE` of them train the classifiers more like held-out images at twice the magnitude (the
median over the folds of the paired cosine change is above 0), each image's magnitude is drawn uniformly from 0 to
twice the searched one (TrivialAugment's draws, the same mean). Where geometric ops keep every label (the `tinted`
dataset of the suite) most of them do, and the draws gained there; on digits, photo patches, textures and exposure
none did, and the draws lost up to 0.9 points on digits (docs/search-research.md, session 24).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from ..ops import OPERATIONS
from ..policy import FasterAutoAugmentPolicy
from .base_augmentation import shifted
from .critic import WideResNetClassifier
from .diagnostics import augmentation_strength
from .intensity_labels import histogram_accuracy, intensity_range, within_intensity_range
from .losses import accuracy, judge_gradient, normalize

FOLDS = 5
MIN_CHECK_IMAGES = 2 * FOLDS  # each fold's classifier needs images to train on and to hold out
MIN_CHECKED_RATE = 0.005  # policy.operation_rates(): the share of stages that apply the op
# Each classifier: trained from scratch on the other folds, for ``steps`` steps (SearchConfig.operation_check_steps).
JUDGE_BATCH_SIZE = 32
JUDGE_LEARNING_RATE = 1e-3
# Each classifier's training images are shifted by up to this many pixels (a random crop of the reflect-padded image,
# the official loader's crop without its flip). Classifiers trained on a few hundred unshifted 8x8 digits kept only
# 0.71-0.92 of their accuracy under the small shears and translations, which train those digits well; with shifts
# 0.92-1.00 (docs/search-research.md, sessions 16-18).
JUDGE_SHIFT = 4
# An op's cosine is the mean over this many batches of JUDGE_BATCH_SIZE training images.
CHECK_BATCHES = 12
# An applied op under which the classifiers keep less than this share of their held-out accuracy is switched off
# whatever its cosine (AutoContrast on colour-coded photo patches keeps 0.46, at a cosine the shifted classifiers put
# at -0.05).
MIN_PRESERVATION_TO_STAY = 0.6
# --selection_spread: the ops a stage's uniform share may go to have a gradient cosine at most this far below that
# of unaugmented images (on the exposure dataset the ops that move its label, the translations' black fill,
# Brightness, Solarize and Contrast, fall 0.18-0.76 below, the shears, rotation and flips 0-0.13; on digits the
# flips 0.10-0.26, the shears, translations and rotation 0-0.24), keep this share of a fold classifier's held-out
# accuracy (Brightness on textures keeps 0.68-0.85 and trained them worse; the flips on digits 0.29-0.49, Invert
# 0.1-0.2) and change the images by at least this mean absolute pixel change (0-1 scale: AutoContrast and Posterize
# change digits by 0.001-0.004, a shear by 0.03-0.08). docs/search-research.md, sessions 16-18. The cosine bound
# was 0.1 until session 27: on digits drawn over photos (the suite's photo-digits) the classifiers put ShearY and
# Rotate, which keep 0.94 and 0.90 of the labels, 0.19 and 0.36 below unaugmented images (the flips, which destroy
# the label, only 0.10), and spreading over them too gained 1.44 points on that search (+0.49 over four); on the
# other suite datasets what 0.4 admits besides changed nothing measurable (-0.17 to +0.30 points).
MAX_SPREAD_COSINE_DROP = 0.4
# The label bound was 0.9 until session 34: on exposure-marker (the exposure and a dark mark's side together) the
# classifiers kept 0.90-0.94 of their labels under Contrast, which moves the exposure's contrast, and VerticalFlip,
# which moves the mark to the top; with them spread over, the search scored 0.69 and 0.92 points below no augmentation
# on two of three draws; at 0.92 Contrast left both spreads and VerticalFlip the first, and those searches scored 1.35
# and 1.96 points higher. Of the suite's 21 other saved searches 0.92 changed four: textures +1.53 [+0.30, +2.76] and
# +0.43 [-1.56, +2.42], exposure +0.17 [-0.58, +0.93], tinted -0.01 [-0.83, +0.81] (docs/search-research.md, session
# 34).
MIN_LABEL_PRESERVATION = 0.92
MIN_SPREAD_STRENGTH = 0.01
# The table tests an op whose searched magnitude collapsed, under this share of the start's, at the start's magnitude,
# the least the spread gives it: at the collapsed magnitude the op changes almost nothing, so it passes every label test
# vacuously and fails the spread's pixel change. On mnist's fifth draw the search had shrunk ShearX, ShearY and
# TranslateX to 0.00-0.04 where they are selected, and the spread left out the three ops that suit digits best (0.72
# points under RandAugment); tested at the start's magnitude they joined it, +0.78 [+0.28, +1.28] points. Of the other
# saved searches this changed the tests of six (Cutout on exposure-marker, Posterize, TranslateY on exposure) and
# none of their verdicts (docs/search-research.md, session 37).
COLLAPSED_MAGNITUDE_SHARE = 0.2
# Classifiers that learned the data poorly lose labels under any op they were not trained with. On photo-digits
# (median held-out accuracy 0.5-0.6; 0.8 or more on every other suite dataset) they kept 0.73-0.88 of the labels under
# the shears, translations and rotation, with which the classifier downstream trained 1-4 points better, and
# 0.38-0.54 under the flips, Solarize and Invert, which destroy the label (docs/search-research.md, session 27). Below
# this median held-out accuracy, the spread's label test is a training test instead: each fold's classifier trains
# TRAINING_TEST_STEPS more steps with the op applied to TRAINING_TEST_SHARE of each batch, and the same steps on the
# same batches without it; an op whose held-out loss rise (the median over the folds) is more than MAX_TRAINED_LOSS_RISE
# above the median rise of the candidates is left out. On photo-digits (three check seeds, and three searches) the
# flips raised it by 0.08-0.24, Solarize by 0.09-0.15 and Equalize by 0.20-0.31, the shears, rotation and TranslateX by
# -0.05 to +0.03, the candidates' median by 0.00-0.03; on mnist and exposure, where the classifiers judge well anyway,
# the same test told the same ops apart. The median, not 0: on photo patches every op raised it, the label-keeping
# geometric ops by 0.07-0.15, AutoContrast, Equalize and Invert, which destroy the colour label, by 0.22-0.35
# (docs/search-research.md, session 28). That margin is thin: on three draws of photo-digits the flips rose by
# 0.08-0.20 against limits of 0.06-0.11, and on one HorizontalFlip came in 0.006 under it (session 31). So an op must
# also keep MIN_PRESERVATION_TO_STAY of the labels, as one that stays applied must: on four draws the classifiers kept
# 0.37-0.49 of them under the flips and 0.60-0.98 under the shears, translations and rotation (0.73 or more but for
# TranslateY on one draw, which its cosine kept out of the spread there; session 32).
WELL_TRAINED_ACCURACY = 0.8
TRAINING_TEST_STEPS = 60
TRAINING_TEST_SHARE = 0.5
MAX_TRAINED_LOSS_RISE = 0.05
# The spread ops' apply probability in every stage, at least (RandAugment's 13/14 is about 0.93).
SPREAD_APPLY_PROBABILITY = 0.9
# Classifiers that barely beat chance judge nothing: on a probe where they recognised 27% of 4 classes, label
# preservation came out above 1 (AutoContrast 1.31) and the spread admitted both flips, which changed that label
# (docs/search-research.md, session 22). With a median held-out accuracy below chance plus this share of the way
# from chance to 100%, the check is skipped.
NEAR_CHANCE_SHARE = 0.1
# --saved_magnitude_sampling auto: magnitudes are drawn uniformly when more than this share of the spread ops with a
# magnitude train the classifiers more like held-out images at twice their magnitude. On the suite's searches the
# share was 0.44-0.86 on `tinted` (five searches) and 0 on the five other datasets (docs/search-research.md,
# session 24).
UNIFORM_MAGNITUDE_VOTE = 0.5
# Where the images' intensity histograms alone read less than this share of what the classifiers read of the labels
# (each from chance: intensity_labels.histogram_accuracy against the fold classifier's held-out accuracy, the median
# over the folds), the label lies in the shapes, and the tone ops, which only remap each pixel's intensity, are judged
# by their pixel change alone, if they keep the tones the data has (at least MIN_TONE_IN_RANGE of their images with a
# mean intensity within the data's range: intensity_labels.within_intensity_range): neither switched off nor kept out
# of the spread by the classifiers' cosines, labels or training test. On the suite the share was 0.00-0.04 on
# photo-digits, 0.21 on optdigits, 0.25 on mnist, 0.54 on tinted and 0.83-1.04 on textures, photo patches and
# exposure; where the rule applied it gained photo-digits 1.50 points over three searches (Invert, Solarize and
# Equalize joined the spread), optdigits 0.20 and mnist -0.04. The range test keeps Invert off white-on-black digits
# (none of its images in range; adding it cost mnist 0.11 and optdigits 0.39 points), not off digits drawn over
# photos (0.79 in range; +0.4 to +1.3 points). docs/search-research.md, session 29. The bound was 0.4 until session
# 33: on patches labelled by their exposure and by the side of a dark mark together, the histograms read 0.39 of the
# label on one draw, and the exempt Invert, Brightness and Equalize, under which the classifiers kept 0.13-0.14 of
# their labels, were spread over: 7.75 points below no augmentation (0.44 on the other draw: not exempt, 3.05 above
# it). Over the saved searches of sessions 30-33 the share was -0.06 to 0.04 on photo-digits and 0.20 or more on
# every other dataset; the digits' exemption had gained nothing measurable (mnist +0.09 [-0.20, +0.38], optdigits
# +0.07 [-0.22, +0.35] over three search seeds; with it gone, -0.05 [-0.25, +0.15] over their six draws' searches).
MAX_TONE_LABEL_SHARE = 0.15
MIN_TONE_IN_RANGE = 0.5
TONE_OPERATIONS = ("Invert", "Brightness", "Contrast", "Saturate", "Solarize", "Posterize", "AutoContrast", "Equalize")
# The rows of judge_table()'s table.
COSINE, PRESERVATION, STRENGTH, ACCURACY, HISTOGRAM_ACCURACY, IN_RANGE = range(6)
TABLE_ROWS = 6
OperationSetting = tuple[str, float, tuple[float, float] | None]  # an op's name, magnitude, the policy's value range


@dataclass
class OperationCheck:
    """Per fold classifier: each tested op's cosine minus that of unaugmented images and its label preservation
    (held-out accuracy under the op / unaugmented); each tested op's mean pixel change; the ops switched off and
    spread over."""

    differences: dict[str, list[float]]
    switched_off: list[str]
    skipped: str = ""  # why nothing was checked (empty when it ran)
    precision: str = "fp32"  # the classifiers' ("bf16": bf16 autocast and channels_last)
    preservation: dict[str, list[float]] = field(default_factory=dict)
    strength: dict[str, float] = field(default_factory=dict)
    in_range: dict[str, float] = field(default_factory=dict)  # per tested op: its IN_RANGE share, the mean over folds
    spread_share: float = 0.0  # --selection_spread
    spread_over: list[str] = field(default_factory=list)
    classifier_accuracy: float = 1.0  # the fold classifiers' median held-out accuracy (median_accuracy)
    tone_label_share: float = 1.0  # what the intensity histograms read of the labels, as a share (tone_label_share)
    # per spread candidate: the median over the folds of the held-out loss rise when the classifiers train with it
    # (empty where they learned the data well enough for the label preservation to judge: needs_training_test)
    trained_loss_rise: dict[str, float] = field(default_factory=dict)
    # per spread op with a magnitude: the median over the folds of its cosine's change from its final magnitude to
    # twice it (empty without the vote of --saved_magnitude_sampling auto)
    doubled_cosine_change: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_table(
        cls, tested: list[str], checked: list[str], table: Tensor, margin: float, num_classes: int,
        spread_share: float = 0.0, precision: str = "fp32",
    ) -> OperationCheck:  # fmt: skip
        """The verdict on the full table of :func:`judge_table` for data of ``num_classes`` classes: the ``checked``
        ops (those the policy applies, a subset of ``tested``) whose median cosine difference is below ``-margin`` or
        whose mean label preservation is below :data:`MIN_PRESERVATION_TO_STAY` are switched off, the
        :meth:`tone_exempt` ops aside; with a ``spread_share``, the :meth:`spread_candidates` that keep most labels
        (or are tone-exempt) are the ones to spread over. Where the classifiers learned the data poorly
        (:meth:`needs_training_test`) the spread stays empty until :meth:`judge_by_training` decides it."""
        check = cls(
            dict(zip(tested, table[COSINE].t().tolist(), strict=True)), [], precision=precision,
            spread_share=spread_share, preservation=dict(zip(tested, table[PRESERVATION].t().tolist(), strict=True)),
            strength=dict(zip(tested, table[STRENGTH].mean(0).tolist(), strict=True)),
            in_range=dict(zip(tested, table[IN_RANGE].mean(0).tolist(), strict=True)),
            classifier_accuracy=median_accuracy(table), tone_label_share=tone_label_share(table, num_classes),
        )  # fmt: skip
        differences, preservation, exempt = check.median_differences(), check.mean_preservation(), check.tone_exempt()
        check.switched_off = [
            name for name in checked if name not in exempt
            and (differences[name] < -margin or preservation[name] < MIN_PRESERVATION_TO_STAY)
        ]  # fmt: skip
        if spread_share > 0 and not check.needs_training_test():
            check.spread_over = [
                name for name in check.spread_candidates()
                if name in exempt or preservation[name] >= MIN_LABEL_PRESERVATION
            ]  # fmt: skip
        return check

    def tone_exempt(self) -> list[str]:
        """The tested :data:`TONE_OPERATIONS` that keep the data's tones (:data:`MIN_TONE_IN_RANGE`), judged by their
        pixel change alone, where the label lies in the shapes (a :attr:`tone_label_share` under
        :data:`MAX_TONE_LABEL_SHARE`); else none."""
        if self.tone_label_share >= MAX_TONE_LABEL_SHARE:
            return []
        return [
            name for name in self.differences if name in TONE_OPERATIONS and self.in_range[name] >= MIN_TONE_IN_RANGE
        ]

    def spread_candidates(self) -> list[str]:
        """The tested ops that pass every test of the spread but the label test: not switched off, a median cosine at
        most :data:`MAX_SPREAD_COSINE_DROP` below that of unaugmented images (the :meth:`tone_exempt` ops aside), a
        pixel change of at least :data:`MIN_SPREAD_STRENGTH`."""
        differences, exempt = self.median_differences(), self.tone_exempt()
        return [
            name for name in self.differences
            if name not in self.switched_off and (name in exempt or differences[name] >= -MAX_SPREAD_COSINE_DROP)
            and self.strength[name] >= MIN_SPREAD_STRENGTH
        ]  # fmt: skip

    def label_tested_candidates(self) -> list[str]:
        """The :meth:`spread_candidates` whose labels are tested: all but the :meth:`tone_exempt` ops."""
        exempt = self.tone_exempt()
        return [name for name in self.spread_candidates() if name not in exempt]

    def needs_training_test(self) -> bool:
        """Whether the spread's label test is :func:`trained_loss_rises`, not the label preservation: with a spread,
        where the classifiers' median held-out accuracy is below :data:`WELL_TRAINED_ACCURACY`."""
        return self.spread_share > 0 and self.classifier_accuracy < WELL_TRAINED_ACCURACY

    def judge_by_training(self, rises: dict[str, float]) -> None:
        """Spread over the :meth:`label_tested_candidates` whose held-out loss ``rises`` (per candidate, the median
        over the folds of :func:`trained_loss_rises`) are at most :data:`MAX_TRAINED_LOSS_RISE` above the candidates'
        median rise and under which the classifiers keep at least :data:`MIN_PRESERVATION_TO_STAY` of their labels (as
        an op must to stay applied), and over the :meth:`tone_exempt` candidates."""
        self.trained_loss_rise = rises
        limit = typical_rise(rises) + MAX_TRAINED_LOSS_RISE
        exempt, preservation = self.tone_exempt(), self.mean_preservation()
        self.spread_over = [
            name for name in self.spread_candidates()
            if name in exempt or (rises[name] <= limit and preservation[name] >= MIN_PRESERVATION_TO_STAY)
        ]  # fmt: skip

    def median_differences(self) -> dict[str, float]:
        return {name: float(torch.tensor(values).median()) for name, values in self.differences.items()}

    def mean_preservation(self) -> dict[str, float]:
        return {name: sum(values) / len(values) for name, values in self.preservation.items()}

    def doubled_magnitude_votes(self) -> tuple[int, int]:
        """How many of the voting ops train more like held-out images at twice their magnitude, and how many voted."""
        changes = self.doubled_cosine_change.values()
        return sum(change > 0 for change in changes), len(changes)

    def votes_for_uniform_magnitudes(self) -> bool:
        """Whether more than :data:`UNIFORM_MAGNITUDE_VOTE` of the voting ops train more like held-out images at
        twice their magnitude."""
        agreeing, voters = self.doubled_magnitude_votes()
        return voters > 0 and agreeing > UNIFORM_MAGNITUDE_VOTE * voters

    def as_dict(self) -> dict[str, object]:
        if self.skipped:
            return {"cosine_minus_unaugmented": {}, "switched_off": [], "skipped": self.skipped}
        return {
            "cosine_minus_unaugmented": {name: round(value, 4) for name, value in self.median_differences().items()},
            "label_preservation": {name: round(value, 4) for name, value in self.mean_preservation().items()},
            "pixel_change": {name: round(value, 4) for name, value in self.strength.items()},
            "in_intensity_range": {name: round(value, 4) for name, value in self.in_range.items()},
            "switched_off": self.switched_off,
            "selection_spread": self.spread_share,
            "spread_over": self.spread_over,
            "classifier_accuracy": round(self.classifier_accuracy, 4),
            "tone_label_share": round(self.tone_label_share, 4),
            "tone_exempt": self.tone_exempt(),
            "trained_loss_rise": {name: round(value, 4) for name, value in self.trained_loss_rise.items()},
            "doubled_magnitude_cosine_change": {
                name: round(value, 4) for name, value in self.doubled_cosine_change.items()
            },
            "precision": self.precision,
        }


def median_accuracy(table: Tensor) -> float:
    """The fold classifiers' median held-out accuracy on unaugmented images, from a :func:`judge_table` ``table``."""
    return float(table[ACCURACY, :, 0].median())


def tone_label_share(table: Tensor, num_classes: int) -> float:
    """The median over the folds of a :func:`judge_table` ``table`` of what the intensity histograms read of the
    labels, as a share of what the fold classifier reads (each accuracy measured from chance, 1 / ``num_classes``)."""
    chance = 1 / num_classes
    read = (table[ACCURACY, :, 0] - chance).clamp_min(1e-6)  # near_chance() skips the check before it could be 0
    return float(((table[HISTOGRAM_ACCURACY, :, 0] - chance) / read).median())


def tone_clause(tone_label_share: float, tone_exempt: list[str]) -> str:
    """Why the ``tone_exempt`` ops (:meth:`OperationCheck.tone_exempt`) were judged by their pixel change alone, as a
    sentence: empty where none were."""
    if not tone_exempt:
        return ""
    return (
        f"The images' intensity histograms alone read {tone_label_share:.0%} of what the classifiers read of the "
        f"labels (under {MAX_TONE_LABEL_SHARE:.0%}: the label lies in the shapes), so the tone ops that keep the "
        f"data's tones (at least {MIN_TONE_IN_RANGE:.0%} of their images with a mean intensity within the data's "
        f"range) were judged by their pixel change alone: {', '.join(tone_exempt)}."
    )


def typical_rise(rises: dict[str, float]) -> float:
    """The median of the spread candidates' held-out loss ``rises`` (0 without any)."""
    return float(torch.tensor(list(rises.values())).median()) if rises else 0.0


def training_test_clause(classifier_accuracy: float, trained_loss_rise: dict[str, float]) -> str:
    """How the spread's label test was made, as a clause: empty for the label preservation, else why and with what
    held-out loss rises (:meth:`OperationCheck.judge_by_training`)."""
    if not trained_loss_rise:
        return ""
    rises = ", ".join(f"{name} {rise:+.3f}" for name, rise in trained_loss_rise.items())
    return (
        f"; as the check's classifiers learned the data poorly (median held-out accuracy {classifier_accuracy:.0%}), "
        f"they were trained with each candidate instead, and those that raised their held-out loss by more than "
        f"{MAX_TRAINED_LOSS_RISE:g} above the candidates' median ({typical_rise(trained_loss_rise):+.3f}), or kept "
        f"under {MIN_PRESERVATION_TO_STAY:.0%} of their labels, were left out ({rises})"
    )


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` is a CPU with bfloat16 instructions (AVX512-BF16 or AMX-BF16), where the check's
    classifiers train faster in bf16 autocast and channels_last than in float32."""
    get_capabilities = getattr(torch.cpu, "get_capabilities", None)  # absent from older torch: float32 there
    if device.type != "cpu" or get_capabilities is None:
        return False
    capabilities = get_capabilities()
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def near_chance(table: Tensor, num_classes: int) -> str:
    """Why the classifiers of a :func:`judge_table` ``table`` are too weak to judge the ops (empty when they are
    not): their median held-out accuracy is below chance (1 / ``num_classes``) plus :data:`NEAR_CHANCE_SHARE` of the
    way to 100%."""
    accuracy, chance = median_accuracy(table), 1 / num_classes
    if accuracy >= chance + NEAR_CHANCE_SHARE * (1 - chance):
        return ""
    return (
        f"its classifiers recognised {accuracy:.0%} of their held-out images, near chance for {num_classes} classes "
        f"({chance:.0%}), so their verdicts would be noise; the policy is kept as searched"
    )


def checked_operations(policy: FasterAutoAugmentPolicy) -> list[str]:
    """The ops ``policy`` applies in at least :data:`MIN_CHECKED_RATE` of its stages."""
    return [name for name, rate in policy.operation_rates().items() if rate >= MIN_CHECKED_RATE]


def tested_operations(policy: FasterAutoAugmentPolicy, spread_share: float) -> list[str]:
    """The ops the check tests for label preservation and pixel change: every op when a ``spread_share`` of the
    selection may go to any of them, else :func:`checked_operations`."""
    return list(policy.operations) if spread_share > 0 else checked_operations(policy)


@dataclass
class FoldJudge:
    """One fold's classifier, trained on the other folds, with what an op's images are compared against."""

    fold: int
    seed: int  # of the classifier's initialisation and of every draw that tests an op
    judge: WideResNetClassifier
    train: tuple[Tensor, Tensor]  # images (floats in [0, 1]) and labels
    held_out: tuple[Tensor, Tensor]
    reference: Tensor  # the classifier's gradient on the held-out images
    unaugmented_cosine: float  # the mean cosine of its gradients on unaugmented training batches with reference
    accuracy: float  # on the held-out images, unaugmented
    histogram_accuracy: float  # on the held-out images, of intensity_labels.histogram_accuracy
    bf16: bool


def fold_judges(
    images: Tensor, labels: Tensor, num_classes: int, seed: int, steps: int, depth: int = 10, widen_factor: int = 1,
    rank: int = 0, world_size: int = 1, bf16: bool = False,
) -> list[FoldJudge]:  # fmt: skip
    """This process's share of the :data:`FOLDS` fold classifiers (every ``world_size``-th from ``rank``) on
    ``images`` (uint8 ``[N, C, H, W]``, ``N >= MIN_CHECK_IMAGES``) with ``labels`` ``[N]``: each a
    WideResNet-``depth``-``widen_factor`` trained for ``steps`` steps on images shifted by up to :data:`JUDGE_SHIFT`
    pixels, seeded from ``seed`` and the fold alone; with ``bf16`` the classifiers run in bf16 autocast and
    channels_last (the ops in float32)."""
    images = images.float() / 255
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed)).to(labels.device)
    folds = order.tensor_split(FOLDS)
    judges = []
    for fold in range(rank, FOLDS, world_size):
        held_out = folds[fold]
        train = order[~torch.isin(order, held_out)]
        train_images, train_labels = images[train], labels[train]
        held_out_images, held_out_labels = images[held_out], labels[held_out]
        judge = _trained_judge(train_images, train_labels, num_classes, depth, widen_factor, steps, seed + fold, bf16)
        reference = _gradient(judge, held_out_images, held_out_labels, bf16)
        judges.append(FoldJudge(
            fold, seed + fold, judge, (train_images, train_labels), (held_out_images, held_out_labels), reference,
            _mean_cosine(judge, train_images, train_labels, reference, None, seed + fold, bf16),
            _accuracy(judge, held_out_images, held_out_labels, bf16),
            histogram_accuracy((train_images, train_labels), (held_out_images, held_out_labels), num_classes), bf16,
        ))  # fmt: skip
    return judges


def operation_settings(
    policy: FasterAutoAugmentPolicy, operations: list[str], magnitude_factor: float = 1.0, magnitude_floor: float = 0.0
) -> list[OperationSetting]:
    """Each of ``operations`` as the check applies it: at ``magnitude_factor`` times its magnitude in ``policy``
    (averaged over the stages, weighted by selection), at least ``magnitude_floor`` and at most 1, with the policy's
    value range."""
    magnitudes = {row["operation"]: row["magnitude"] or 0.0 for row in policy.summarize()}
    return [
        (name, min(max(magnitudes[name] * magnitude_factor, magnitude_floor), 1.0), policy.value_range(name))
        for name in operations
    ]


def checked_settings(
    policy: FasterAutoAugmentPolicy, operations: list[str], start_magnitude: float
) -> list[OperationSetting]:
    """Each of ``operations`` as the check's :func:`judge_table` tests it: at its magnitude in ``policy``
    (:func:`operation_settings`), or at ``start_magnitude`` where that collapsed below
    :data:`COLLAPSED_MAGNITUDE_SHARE` of it."""
    collapsed = COLLAPSED_MAGNITUDE_SHARE * start_magnitude
    return [
        (name, start_magnitude if value_range is not None and magnitude < collapsed else magnitude, value_range)
        for name, magnitude, value_range in operation_settings(policy, operations)
    ]


def cosine_changes(judges: list[FoldJudge], settings: list[OperationSetting]) -> Tensor:
    """Per fold and op setting (:func:`operation_settings`) ``[FOLDS, len(settings)]``: the op's cosine minus that of
    unaugmented images (:data:`CHECK_BATCHES` gradients per op and fold, on the batches and draws of the fold's seed).
    The folds of other processes' ``judges`` stay 0."""
    changes = torch.zeros(FOLDS, len(settings))
    for fold in judges:
        train_images, train_labels = fold.train
        for column, setting in enumerate(settings):
            cosine = _mean_cosine(fold.judge, train_images, train_labels, fold.reference, setting, fold.seed, fold.bf16)
            changes[fold.fold, column] = cosine - fold.unaugmented_cosine
    return changes


def judge_table(judges: list[FoldJudge], settings: list[OperationSetting]) -> Tensor:
    """Per fold and op setting (:func:`operation_settings`), ``[TABLE_ROWS, FOLDS, len(settings)]``: [COSINE] the op's
    cosine minus that of unaugmented images (:func:`cosine_changes`); [PRESERVATION] the fold classifier's accuracy on
    its held-out images under the op over its accuracy on them unaugmented; [STRENGTH] the op's mean absolute pixel
    change on those images; [IN_RANGE] the share of them the op leaves with a mean intensity within the range of the
    fold's training images; [ACCURACY] the fold classifier's accuracy on them unaugmented and [HISTOGRAM_ACCURACY]
    that of a classifier of their intensity histograms (both in every column). The folds of other processes'
    ``judges`` stay 0, so summing the tables of all processes gives the full one."""
    table = torch.zeros(TABLE_ROWS, FOLDS, len(settings))
    table[COSINE] = cosine_changes(judges, settings)
    for fold in judges:
        held_out_images, held_out_labels = fold.held_out
        table[ACCURACY, fold.fold] = fold.accuracy
        table[HISTOGRAM_ACCURACY, fold.fold] = fold.histogram_accuracy
        # a classifier that gets none of its held-out images right keeps a ratio, not a division by zero
        held_out_accuracy = max(fold.accuracy, 1 / len(held_out_labels))
        data_range = intensity_range(fold.train[0])
        for column, setting in enumerate(settings):
            draws = torch.Generator(held_out_images.device).manual_seed(fold.seed)
            augmented = _applied(setting, held_out_images, draws)
            preserved = _accuracy(fold.judge, augmented, held_out_labels, fold.bf16) / held_out_accuracy
            table[PRESERVATION, fold.fold, column] = preserved
            table[STRENGTH, fold.fold, column] = augmentation_strength(held_out_images, augmented).mean()
            table[IN_RANGE, fold.fold, column] = within_intensity_range(augmented, data_range).float().mean()
    return table


def doubled_cosine_changes(judges: list[FoldJudge], policy: FasterAutoAugmentPolicy, operations: list[str]) -> Tensor:
    """Per fold and each of ``operations`` ``[FOLDS, len(operations)]``: its :func:`cosine_changes` at twice its
    magnitude in ``policy`` minus that at its magnitude, on the same batches and draws (other processes' folds: 0).
    Only the cosines: the vote reads nothing else of the judges' tables."""
    base, doubled = (cosine_changes(judges, operation_settings(policy, operations, factor)) for factor in (1.0, 2.0))
    return doubled - base


def trained_loss_rises(judges: list[FoldJudge], settings: list[OperationSetting], steps: int) -> Tensor:
    """Per fold and op setting (:func:`operation_settings`) ``[FOLDS, len(settings)]``: the fold classifier's loss on
    its held-out images after ``steps`` more training steps with the op applied to :data:`TRAINING_TEST_SHARE` of each
    batch, minus that after the same steps on the same batches without it. The folds of other processes' ``judges``
    stay 0."""
    rises = torch.zeros(FOLDS, len(settings))
    for fold in judges:
        control = _held_out_loss_after(fold, steps, None)
        for column, setting in enumerate(settings):
            rises[fold.fold, column] = _held_out_loss_after(fold, steps, setting) - control
    return rises


@torch.no_grad()
def switch_off_(policy: FasterAutoAugmentPolicy, operations: list[str]) -> FasterAutoAugmentPolicy:
    """Set the apply probability of each of ``operations`` to 0 in every stage, in place; returns the policy."""
    for name in operations:
        policy.probabilities[..., policy.operations.index(name)] = 0
    return policy


@torch.no_grad()
def spread_selection_(
    policy: FasterAutoAugmentPolicy, operations: list[str], share: float, magnitude_floor: float = 0.0,
    probability_floor: float = 0.0,
) -> FasterAutoAugmentPolicy:  # fmt: skip
    """Give ``share`` of each stage's op selection to a uniform choice among ``operations``, in place: the selection
    weights become ``(1 - share) * w + share / len(operations)`` on each of them, and their magnitudes and apply
    probabilities are raised to at least ``magnitude_floor`` and ``probability_floor`` in every stage; returns the
    policy."""
    if not operations or share == 0:
        return policy
    columns = [policy.operations.index(name) for name in operations]
    uniform = torch.zeros(len(policy.operations), device=policy.logits.device)
    uniform[columns] = 1 / len(operations)
    weights = (1 - share) * policy.selection_weights() + share * uniform
    # selection_weights() is softmax(logits / temperature); the floor keeps the logits finite where a weight underflowed
    policy.logits.copy_(weights.clamp_min(torch.finfo(weights.dtype).tiny).log() * policy.temperature)
    policy.magnitudes[..., columns] = policy.magnitudes[..., columns].clamp(min=magnitude_floor)
    policy.probabilities[..., columns] = policy.probabilities[..., columns].clamp(min=probability_floor)
    return policy


@torch.no_grad()
def uniform_magnitudes_(policy: FasterAutoAugmentPolicy) -> FasterAutoAugmentPolicy:
    """Make ``policy`` draw each image's magnitude uniformly from 0 to twice its magnitude (at most 1), in place: the
    same mean where twice it stays below 1; returns the policy."""
    policy.magnitudes.mul_(2).clamp_(max=1)
    policy.magnitude_sampling = "uniform"
    return policy


def _judge_autocast(device: torch.device, bf16: bool) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def _judge_inputs(images: Tensor, bf16: bool) -> Tensor:
    """Floats in [0, 1] -> a classifier's inputs: normalised, and channels_last with ``bf16``."""
    inputs = normalize(images)
    return inputs.contiguous(memory_format=torch.channels_last) if bf16 else inputs


def _gradient(judge: WideResNetClassifier, images: Tensor, labels: Tensor, bf16: bool) -> Tensor:
    """:func:`judge_gradient` on ``images`` (floats in [0, 1]), in the check's precision."""
    with _judge_autocast(images.device, bf16):
        return judge_gradient(judge, _judge_inputs(images, bf16), labels)


def _trained_judge(
    images: Tensor, labels: Tensor, num_classes: int, depth: int, widen_factor: int, steps: int, seed: int,
    bf16: bool = False,
) -> WideResNetClassifier:  # fmt: skip
    """A classifier trained on ``images`` (floats in [0, 1]) for ``steps`` steps, in eval mode."""
    with torch.random.fork_rng(devices=[]):  # a seeded initialisation that leaves the caller's RNG alone
        torch.manual_seed(seed)
        judge = WideResNetClassifier(num_classes, images.shape[1], depth, widen_factor).to(images.device)
    if bf16:
        judge = judge.to(memory_format=torch.channels_last)
    return _trained_(judge, images, labels, steps, seed, bf16)


def _trained_(
    judge: WideResNetClassifier, images: Tensor, labels: Tensor, steps: int, seed: int, bf16: bool,
    operation: OperationSetting | None = None,
) -> WideResNetClassifier:  # fmt: skip
    """``judge`` trained in place for ``steps`` steps (a new Adam) on shifted batches of ``images`` (floats in
    [0, 1]), drawn from ``seed`` alone; ``operation`` applied to :data:`TRAINING_TEST_SHARE` of each batch (which
    images, and the op's own draws, come from a second generator, so the batches are those without it). Returns it in
    eval mode."""
    judge.train()
    optimizer = torch.optim.Adam(judge.parameters(), lr=JUDGE_LEARNING_RATE)
    draws = torch.Generator().manual_seed(seed)
    operation_draws = torch.Generator(images.device).manual_seed(seed)
    for _ in range(steps):
        rows = torch.randint(len(labels), (JUDGE_BATCH_SIZE,), generator=draws).to(labels.device)
        batch = shifted(images[rows], JUDGE_SHIFT, draws)
        if operation is not None:
            augmented = torch.rand(len(rows), generator=operation_draws, device=batch.device) < TRAINING_TEST_SHARE
            batch = torch.where(augmented[:, None, None, None], _applied(operation, batch, operation_draws), batch)
        with _judge_autocast(images.device, bf16):
            loss = F.cross_entropy(judge(_judge_inputs(batch, bf16)), labels[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return judge.eval()


def _mean_cosine(
    judge: WideResNetClassifier, images: Tensor, labels: Tensor, reference: Tensor,
    operation: OperationSetting | None, seed: int, bf16: bool = False,
) -> float:  # fmt: skip
    """Mean over :data:`CHECK_BATCHES` batches of ``images`` of the cosine between ``judge``'s gradient on the
    batch and ``reference``; ``operation`` (name, magnitude, the policy's value range) is applied to each batch
    first (None: as it is). The batches and draws depend on ``seed`` alone, so every op of a fold is tested on
    the same images."""
    draws = torch.Generator(device=images.device).manual_seed(seed)
    total = 0.0
    for _ in range(CHECK_BATCHES):
        rows = torch.randint(len(labels), (JUDGE_BATCH_SIZE,), generator=draws, device=images.device)
        batch = images[rows] if operation is None else _applied(operation, images[rows], draws)
        total += float(F.cosine_similarity(_gradient(judge, batch, labels[rows], bf16), reference, dim=0))
    return total / CHECK_BATCHES


def _applied(operation: OperationSetting, images: Tensor, draws: torch.Generator) -> Tensor:
    """``operation`` (name, magnitude, the policy's value range) applied to every one of ``images``."""
    name, magnitude, value_range = operation
    magnitudes = images.new_full((len(images),), magnitude)
    return OPERATIONS[name](images, magnitudes, generator=draws, value_range=value_range)


def _held_out_loss_after(fold: FoldJudge, steps: int, operation: OperationSetting | None) -> float:
    """The loss on its held-out images of a copy of ``fold``'s classifier trained ``steps`` more steps (with
    ``operation``: :func:`_trained_`)."""
    judge = _trained_(copy.deepcopy(fold.judge), *fold.train, steps, fold.seed, fold.bf16, operation)
    return _loss(judge, *fold.held_out, fold.bf16)


@torch.no_grad()
def _loss(judge: WideResNetClassifier, images: Tensor, labels: Tensor, bf16: bool) -> float:
    """``judge``'s cross-entropy on ``images`` (floats in [0, 1])."""
    with _judge_autocast(images.device, bf16):
        return float(F.cross_entropy(judge(_judge_inputs(images, bf16)).float(), labels))


@torch.no_grad()
def _accuracy(judge: WideResNetClassifier, images: Tensor, labels: Tensor, bf16: bool) -> float:
    """``judge``'s accuracy on ``images`` (floats in [0, 1])."""
    with _judge_autocast(images.device, bf16):
        return float(accuracy(judge(_judge_inputs(images, bf16)), labels))
