"""The published policies (AutoAugment, RandAugment, TrivialAugment, and Simard et al.'s elastic distortion) as
FasterAutoAugmentPolicy objects, built from the tables in :mod:`hf_faa.preset_tables`."""

from __future__ import annotations

from pathlib import Path

import torch

from .. import preset_tables
from ..ops import OPERATIONS
from .constants import EXCLUDED_LOGIT
from .module import FasterAutoAugmentPolicy

PRESETS = (
    "autoaugment-cifar10", "autoaugment-svhn", "autoaugment-imagenet", "randaugment", "trivialaugment", "elastic",
)  # fmt: skip
PRESET_PREFIX = "preset:"


def preset_policy(name: str, num_ops: int | None = None, magnitude: int | None = None) -> FasterAutoAugmentPolicy:
    """See :meth:`FasterAutoAugmentPolicy.from_preset`."""
    if name.startswith("autoaugment-") and name.removeprefix("autoaugment-") in preset_tables.AUTOAUGMENT_POLICIES:
        return autoaugment_preset(name.removeprefix("autoaugment-"))
    if name == "randaugment":
        num_ops = preset_tables.RANDAUGMENT_NUM_OPS if num_ops is None else num_ops
        magnitude = preset_tables.RANDAUGMENT_MAGNITUDE if magnitude is None else magnitude
        return uniform_preset(
            preset_tables.RANDAUGMENT_OPERATIONS,
            preset_tables.RANDAUGMENT_RANGES,
            num_ops=num_ops,
            magnitude=magnitude / (preset_tables.RANDAUGMENT_MAGNITUDE_BINS - 1),
            magnitude_sampling="fixed",
            source=f"RandAugment (N={num_ops}, M={magnitude})",
        )
    if name == "trivialaugment":
        return uniform_preset(
            preset_tables.TRIVIALAUGMENT_OPERATIONS,
            preset_tables.TRIVIALAUGMENT_RANGES,
            num_ops=preset_tables.TRIVIALAUGMENT_NUM_OPS,
            magnitude=1.0,
            magnitude_sampling="uniform",
            source="TrivialAugment (wide)",
        )
    if name == "elastic":
        return elastic_preset()
    raise _unknown_preset(name)


def _unknown_preset(name: str) -> ValueError:
    return ValueError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")


def check_policy_name(name: str | Path) -> None:
    """Raise ``ValueError`` for a name that cannot be a policy, before anything is loaded or searched: a preset
    name without its ``preset:`` prefix (which would be looked up on the Hub, with retries offline) or an unknown
    ``preset:<name>``."""
    if str(name) in PRESETS and not Path(name).exists():
        raise ValueError(f"{str(name)!r} is the name of a preset, not a folder or Hub repo id: write "
                         f"'{PRESET_PREFIX}{name}'.")  # fmt: skip
    preset = str(name).removeprefix(PRESET_PREFIX)
    if str(name).startswith(PRESET_PREFIX) and preset not in PRESETS:
        raise _unknown_preset(preset)


def load_policy(policy: FasterAutoAugmentPolicy | str | Path) -> FasterAutoAugmentPolicy:
    """A policy from anything a user may hand over: a policy (returned as is), ``"preset:<name>"``
    (see :meth:`FasterAutoAugmentPolicy.from_preset`), a local folder or a Hub repo id."""
    if isinstance(policy, FasterAutoAugmentPolicy):
        return policy
    check_policy_name(policy)
    if str(policy).startswith(PRESET_PREFIX):
        return FasterAutoAugmentPolicy.from_preset(str(policy).removeprefix(PRESET_PREFIX))
    return FasterAutoAugmentPolicy.from_pretrained(policy)


def autoaugment_preset(dataset: str) -> FasterAutoAugmentPolicy:
    """One sub-policy per published AutoAugment sub-policy; level L maps to magnitude L / 9 (torchvision)."""
    table = preset_tables.AUTOAUGMENT_POLICIES[dataset]
    operations = sorted({name for sub_policy in table for name, _, _ in sub_policy}, key=list(OPERATIONS).index)
    ranges = {
        name: list(preset_tables.AUTOAUGMENT_RANGES[name])
        for name in operations
        if name in preset_tables.AUTOAUGMENT_RANGES
    }
    policy = FasterAutoAugmentPolicy(
        operations=operations,
        num_sub_policies=len(table),
        operation_count=len(table[0]),
        temperature=1.0,
        magnitude_ranges=ranges,
        search_info={"source": f"AutoAugment {dataset} policy (Cubuk et al., 2019, arXiv:1805.09501)"},
    )
    with torch.no_grad():
        policy.logits.fill_(EXCLUDED_LOGIT)
        policy.magnitudes.zero_()
        policy.probabilities.zero_()
        for sub_index, sub_policy in enumerate(table):
            for stage, (name, probability, level) in enumerate(sub_policy):
                op = operations.index(name)
                policy.logits[sub_index, stage, op] = 0.0
                policy.probabilities[sub_index, stage, op] = probability
                policy.magnitudes[sub_index, stage, op] = (
                    level / preset_tables.AUTOAUGMENT_LEVEL_DENOMINATOR_TORCHVISION
                )
    return policy.eval()


def elastic_preset() -> FasterAutoAugmentPolicy:
    """Simard, Steinkraus and Platt's (2003) elastic distortion of every image, at their scale: one stage, one op."""
    policy = FasterAutoAugmentPolicy(
        operations=["Elastic"],
        num_sub_policies=1,
        operation_count=1,
        temperature=1.0,
        search_info={"source": "Elastic distortion (Simard, Steinkraus and Platt, 2003) on every image"},
    )
    with torch.no_grad():
        policy.logits.zero_()
        policy.magnitudes.fill_(preset_tables.ELASTIC_MAGNITUDE)
        policy.probabilities.fill_(1.0)
    return policy.eval()


def uniform_preset(operations, ranges, num_ops: int, magnitude: float, magnitude_sampling: str, source: str):
    """One sub-policy of ``num_ops`` stages, each picking an op uniformly, at one shared magnitude.

    RandAugment and TrivialAugment also draw an Identity op; here it is the apply-probability
    ``n/(n+1)``: P(identity) = 1/(n+1) and P(op) = (n/(n+1))·(1/n) = 1/(n+1), as in the original.
    """
    policy = FasterAutoAugmentPolicy(
        operations=list(operations),
        num_sub_policies=1,
        operation_count=num_ops,
        temperature=1.0,
        magnitude_sampling=magnitude_sampling,
        magnitude_ranges={name: list(bounds) for name, bounds in ranges.items()},
        search_info={"source": source},
    )
    with torch.no_grad():
        policy.logits.zero_()
        policy.magnitudes.fill_(magnitude)
        policy.probabilities.fill_(len(operations) / (len(operations) + 1))
    return policy.eval()
