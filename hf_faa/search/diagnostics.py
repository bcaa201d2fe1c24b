"""Is the search learning? Diagnostics logged with every logging step: how far each parameter group
has moved from its initial value, how strongly the policy augments, and how much of the policy's
gradient is signal rather than noise; and, at the end, a verdict in words (learned, stalled, collapsed).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..policy import PARAMETER_NAMES, FasterAutoAugmentPolicy

# An image counts as changed when its mean absolute pixel change exceeds half an 8-bit level.
CHANGED_PIXEL_CHANGE = 0.5 / 255
# Verdict thresholds. A search has collapsed when its policy keeps less than this share of the initial
# augmentation strength; it has stalled when no parameter group moved by more than STALLED_DRIFT (RMS,
# in parameter units: probabilities and magnitudes live in [0, 1]).
COLLAPSED_STRENGTH_RATIO = 0.25
STALLED_DRIFT = 0.02


def augmentation_strength(original: Tensor, augmented: Tensor) -> Tensor:
    """Mean absolute pixel change per image ``[B]`` between float images ``[B, C, H, W]`` in [0, 1]
    (differentiable in ``augmented``)."""
    return (augmented - original).abs().flatten(1).mean(1)


def parameter_drift(policy: FasterAutoAugmentPolicy, initial: dict[str, Tensor]) -> dict[str, float]:
    """Root-mean-square distance of each parameter group from its ``initial`` value."""
    return {
        name: float((getattr(policy, name).detach().cpu() - initial[name].cpu()).pow(2).mean().sqrt())
        for name in PARAMETER_NAMES
    }


class GradientNoise:
    """Signal-to-noise ratio of the policy's gradient over a window of steps, per parameter group:
    for every parameter ``|mean over steps| / std over steps``, averaged over the group's parameters.
    Near 0: the gradient is noise; 1 and above: it points the same way step after step."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.steps = 0
        self.sums: dict[str, Tensor] = {}
        self.squares: dict[str, Tensor] = {}

    @torch.no_grad()
    def update(self, policy: FasterAutoAugmentPolicy) -> None:
        """Record the gradients the policy holds now (call after backward, before ``zero_grad``)."""
        for name in PARAMETER_NAMES:
            gradient = getattr(policy, name).grad
            if gradient is None:
                continue
            gradient = gradient.detach().float().flatten().cpu()
            self.sums[name] = self.sums.get(name, torch.zeros_like(gradient)) + gradient
            self.squares[name] = self.squares.get(name, torch.zeros_like(gradient)) + gradient.square()
        self.steps += 1

    def ratios(self) -> dict[str, float]:
        """Per group SNR over the steps since the last :meth:`reset` (empty before two steps)."""
        if self.steps < 2:
            return {}
        ratios = {}
        for name, total in self.sums.items():
            mean = total / self.steps
            variance = (self.squares[name] / self.steps - mean.square()).clamp_min(0) * self.steps / (self.steps - 1)
            moving = variance > 0  # parameters that never get a gradient (excluded ops) carry no evidence
            if moving.any():
                ratios[name] = float((mean[moving].abs() / variance[moving].sqrt()).mean())
        return ratios


def window_diagnostics(
    policy: FasterAutoAugmentPolicy, initial: dict[str, Tensor], noises: list[GradientNoise]
) -> dict[str, float]:
    """The diagnostics of one logging window, as flat tracker keys: ``drift/<group>``,
    ``gradient_snr/<group>`` (the mean over ``noises``, one per search of an ensemble) and ``rate/<operation>``."""
    record = {f"drift/{name}": value for name, value in parameter_drift(policy, initial).items()}
    ratios = [noise.ratios() for noise in noises]
    for name in PARAMETER_NAMES:
        values = [ratio[name] for ratio in ratios if name in ratio]
        if values:
            record[f"gradient_snr/{name}"] = sum(values) / len(values)
    record.update({f"rate/{name}": rate for name, rate in policy.operation_rates().items()})
    return record


def search_verdict(records: list[dict[str, Any]], initial_strength: float | None) -> tuple[str, str]:
    """``(word, sentence)``: did the search learn, stall or collapse? ``records`` are the log's."""
    if not records:
        return "unknown", "No step was logged, so nothing can be said about the search."
    final = records[-1]
    strength = final.get("augmentation_strength")
    drift = max((value for key, value in final.items() if key.startswith("drift/")), default=0.0)
    if initial_strength and strength is not None and strength < COLLAPSED_STRENGTH_RATIO * initial_strength:
        return "collapsed", (
            f"The search collapsed towards no augmentation: the policy changes images by {strength:.4f} per pixel, "
            f"against {initial_strength:.4f} at the start. Raise --min_strength_ratio to keep a floor."
        )
    if drift < STALLED_DRIFT:
        return "stalled", (
            f"The search stalled: no parameter group moved by more than {drift:.3f} (RMS) from its start, so the "
            "policy is close to its initial one. Search longer (--max_steps) or with a larger --policy_learning_rate."
        )
    return "learned", (
        f"The search learned: parameters moved by up to {drift:.3f} (RMS) from their start and the policy changes "
        f"images by {strength:.4f} per pixel (start: {initial_strength or 0:.4f})."
    )
