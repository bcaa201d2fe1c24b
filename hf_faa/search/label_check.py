"""Which operations destroy labels, measured one by one as the saved policy would apply them.

The relaxed search mixes every op into one image (``x + Σ w·gate·(op(x) − x)``), so while the
selection is spread out the label judge sees a blend that stays close to ``x``: an op that
destroys labels on this data (Invert or a flip on digits) costs the policy little there, and then
changes whole images once the policy is sampled. The check below applies each op on its own, at
the magnitude the policy would use, and asks the judge how much of its confidence in the true
labels survives.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..ops import OPERATIONS
from ..policy import FasterAutoAugmentPolicy


@torch.no_grad()
def label_destruction(
    policy: FasterAutoAugmentPolicy,
    judge: Callable[[Tensor], Tensor],
    images: Tensor,
    labels: Tensor,
    magnitude_scale: float = 1.0,
) -> Tensor:
    """How much each op of ``policy`` destroys the labels of ``images`` ``[B, C, H, W]`` (floats in [0, 1],
    labels ``[B]``), in the judge's eyes: ``[num_operations]`` in [0, 1], ``1 − q_op / q_real`` clamped, where
    ``q`` is the judge's mean probability of the true class on the op's images and on the originals.

    Each op runs at its magnitude averaged over the stages that apply it (weighted by how often each
    does), times ``magnitude_scale`` (the saved policy's). ``judge`` maps images in [0, 1] to class
    logits ``[n, num_classes]``; all ops' images go through it in one batch.
    """
    rates = policy.selection_weights() * policy.probabilities.clamp(0, 1)  # [S, K, N]
    magnitudes = (rates * policy.magnitudes.clamp(0, 1)).sum((0, 1)) / rates.sum((0, 1)).clamp_min(1e-12)
    batch = images.shape[0]
    changed = [
        OPERATIONS[name](images, (magnitude_scale * magnitude).expand(batch), value_range=policy.value_range(name))
        for name, magnitude in zip(policy.operations, magnitudes, strict=True)
    ]
    logits = judge(torch.cat([images, *changed]))
    true_class = torch.softmax(logits.float(), -1).gather(1, labels.repeat(len(changed) + 1)[:, None])
    confidence = true_class.view(len(changed) + 1, batch).mean(1)  # [1 + N]: the originals, then each op
    return (1 - confidence[1:] / confidence[0].clamp_min(1e-12)).clamp(0, 1)


def label_destruction_penalty(policy: FasterAutoAugmentPolicy, destruction: Tensor) -> Tensor:
    """The expected label destruction of one stage: ``Σ_op rate_op · destruction_op``, with ``rate`` the op's
    share of stages (selection weight × apply probability, averaged over sub-policies and stages); a scalar
    differentiable in the policy's logits and probabilities (``destruction`` ``[N]`` is a constant)."""
    probabilities = policy.probabilities.clamp(0, 1)
    rates = (policy.selection_weights() * probabilities).mean((0, 1))
    return (rates * destruction.to(rates.dtype)).sum()
