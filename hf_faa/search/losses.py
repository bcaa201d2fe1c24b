"""The Faster AutoAugment objectives: a WGAN-GP critic between augmented and real images, and the
policy's loss (fool the critic while keeping labels recognisable).

All images here are critic inputs: normalised to [-1, 1] with :func:`normalize`, real and augmented
alike (the official code normalises the two halves differently, which the critic can exploit).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call


def normalize(images: Tensor) -> Tensor:
    """[0, 1] -> [-1, 1] (mean 0.5, std 0.5 per channel), ``[B, C, H, W]``."""
    return images * 2 - 1


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor, norm: str = "image") -> Tensor:
    """WGAN-GP penalty ``E[(‖∇ D(x̂)‖ − 1)²]`` at ``x̂ = α·real + (1 − α)·fake``, ``α ~ U(0, 1)`` per image.

    ``norm="image"`` takes the gradient's norm over each whole image (Gulrajani et al., 2017);
    ``"channel"`` over the channels of each pixel, averaged over pixels (the official FAA code).
    ``critic(x)`` must return ``(scores [B], ...)``. Returns a scalar that keeps its graph.
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)[0]
    (gradient,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    if norm == "image":
        lengths = gradient.flatten(1).norm(2, dim=1)
    else:
        lengths = gradient.norm(2, dim=1)
    return ((lengths - 1) ** 2).mean()


# Where the strength floor applies (--strength_floor_scope): see strength_shortfall.
STRENGTH_FLOOR_SCOPES = ("batch", "image", "capped")
# scope "capped": an image's strength counts towards the batch's mean up to this many floors
STRENGTH_CAP_RATIO = 2.0


def critic_loss(
    real_scores: Tensor,
    fake_scores: Tensor,
    real_logits: Tensor,
    real_labels: Tensor,
    penalty: Tensor,
    classification_weight: float,
    penalty_weight: float,
) -> Tensor:
    """``w_cls·CE(real) − E[D(real)] + E[D(augmented)] + w_gp·GP``: the class head learns on real images only."""
    wasserstein = real_scores.float().mean() - fake_scores.float().mean()
    classification = F.cross_entropy(real_logits.float(), real_labels)
    return classification_weight * classification - wasserstein + penalty_weight * penalty


def policy_loss(fake_scores: Tensor, fake_logits: Tensor, labels: Tensor, classification_weight: float) -> Tensor:
    """``w_cls·CE(augmented) − E[D(augmented)]``: look real to the critic, stay classifiable."""
    return classification_weight * F.cross_entropy(fake_logits.float(), labels) - fake_scores.float().mean()


def strength_shortfall(strength: Tensor, floor: float, scope: str = "batch") -> Tensor:
    """How far per-image strengths ``[B]`` fall short of ``floor``: a scalar, 0 above it.

    ``scope="batch"``: ``max(0, floor − mean(strength))``, so strongly changed images make up for unchanged
    ones. ``"image"``: ``mean(max(0, floor − strength))``, so every image must reach the floor and a stage
    spent on an op that changes nothing (AutoContrast on digits that already span 0-255) costs the policy.
    ``"capped"``: the batch's mean of strengths capped at :data:`STRENGTH_CAP_RATIO` floors, so a few
    drastic changes (Invert on digits) cannot make up for many unchanged images.
    """
    strength = strength.float()
    if scope == "image":
        return (floor - strength).clamp_min(0).mean()
    if scope == "capped":
        strength = strength.clamp_max(STRENGTH_CAP_RATIO * floor)
    return (floor - strength.mean()).clamp_min(0)


def accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """Share of correct argmax predictions, a scalar tensor."""
    return (logits.argmax(-1) == labels).float().mean()


def judge_gradient(judge: nn.Module, images: Tensor, labels: Tensor, create_graph: bool = False) -> Tensor:
    """The gradient of ``judge``'s cross-entropy on ``images`` ``[B, C, H, W]`` (critic inputs) with respect
    to all its parameters, flattened to ``[P]``; with ``create_graph`` it can itself be differentiated
    (with respect to the images, and so the policy that made them).

    It is taken at detached copies of the parameters, so a backward through it never adds to the judge's
    own ``.grad`` (which its optimiser may be accumulating over several batches)."""
    parameters = {name: parameter.detach().requires_grad_(True) for name, parameter in judge.named_parameters()}
    loss = F.cross_entropy(functional_call(judge, parameters, (images,)).float(), labels)
    gradients = torch.autograd.grad(loss, list(parameters.values()), create_graph=create_graph)
    return torch.cat([gradient.flatten() for gradient in gradients])


def validation_alignment(judge: nn.Module, augmented: Tensor, labels: Tensor, validation_gradient: Tensor) -> Tensor:
    """Cosine between ``judge``'s gradient on the augmented images ``[B, C, H, W]`` and its gradient on
    held-out real images (``validation_gradient`` ``[P]``, from :func:`judge_gradient`): a scalar that keeps its
    graph to the augmented images.

    One step of training on augmented images that points where the held-out loss falls is one that helps
    the judge generalise: the one-step (identity-Hessian) approximation of the validation hypergradient
    of MADAO (Hataya et al., 2022), normalised as DeepAA's gradient matching (Zheng et al., 2022) is, so that
    ops which destroy labels cannot win by large gradients.
    """
    augmented_gradient = judge_gradient(judge, augmented, labels, create_graph=True)
    return F.cosine_similarity(augmented_gradient, validation_gradient.detach(), dim=0)
