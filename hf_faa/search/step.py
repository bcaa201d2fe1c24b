"""One search step: a critic (WGAN-GP) update on the real half and the augmented half of a batch, then
a policy update that fools the critic while keeping the augmented images classifiable (Hataya et al.,
2020, section 3)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from accelerate import Accelerator
from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..policy import FasterAutoAugmentPolicy
from .base_augmentation import base_augmented
from .config import SearchConfig
from .critic import WideResNetCritic
from .diagnostics import CHANGED_PIXEL_CHANGE, GradientNoise, augmentation_strength
from .losses import (
    accuracy,
    critic_loss,
    gradient_penalty,
    judge_gradient,
    normalize,
    policy_loss,
    strength_shortfall,
    validation_alignment,
)

# A step needs one real and one augmented image on every process; a batch left with fewer
# decodable images on any process is skipped by all of them (together, or DDP would hang).
MIN_IMAGES_PER_STEP = 2

# Weight of the penalty on the op selection's entropy below its floor (nats; --min_entropy_ratio).
ENTROPY_PENALTY_WEIGHT = 1.0

# Per-step metrics, in the order they are gathered across processes; a metric a search does not compute
# (validation_alignment without --validation_weight) is NaN and left out of the log.
METRICS = (
    "critic_loss",
    "policy_loss",
    "wasserstein",
    "gradient_penalty",
    "real_classification_loss",
    "real_accuracy",
    "augmented_classification_loss",
    "augmented_accuracy",
    "selection_entropy",
    "augmentation_strength",
    "changed_share",
    "validation_alignment",
)


@dataclass
class SearchState:
    """What one search step needs: the prepared models, optimisers and settings."""

    accelerator: Accelerator
    config: SearchConfig
    policy: torch.nn.Module  # prepared (possibly DDP-wrapped) FasterAutoAugmentPolicy
    critic: torch.nn.Module  # prepared WideResNetCritic
    critic_optimizer: torch.optim.Optimizer
    policy_optimizer: torch.optim.Optimizer
    classifier: torch.nn.Module | None = None  # prepared WideResNetClassifier (None: the critic's class head)
    classifier_optimizer: torch.optim.Optimizer | None = None
    strength_floor: float = 0.0  # the policy is penalised for augmenting less than this (mean |change|)
    gradient_noise: GradientNoise = field(default_factory=GradientNoise)
    # held-out real images for --validation_weight: uint8 [V, C, H, W] and labels [V] (None: no validation term)
    validation_images: Tensor | None = None
    validation_labels: Tensor | None = None
    # torch.compile of the unwrapped critic (--compile_critic), for the passes without a double backward
    compiled_critic: Callable[[Tensor], tuple[Tensor, Tensor]] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.config.compile_critic:
            self.compiled_critic = torch.compile(self.critic_module)

    @property
    def policy_module(self) -> FasterAutoAugmentPolicy:
        return self.accelerator.unwrap_model(self.policy)

    @property
    def critic_module(self) -> WideResNetCritic:
        return self.accelerator.unwrap_model(self.critic)

    @property
    def critic_update_passes(self) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
        """The critic for its update's real and augmented passes: compiled (``--compile_critic``) in a one-process
        search; with several processes the prepared (DDP) critic, whose forward prepares the gradients' sync."""
        if self.compiled_critic is not None and self.critic is self.critic_module:
            return self.compiled_critic
        return self.critic

    @property
    def policy_pass_critic(self) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
        """The critic for the policy's pass (its weights frozen, no sync): compiled with ``--compile_critic``."""
        return self.critic_module if self.compiled_critic is None else self.compiled_critic

    def models(self) -> list[torch.nn.Module]:
        return [model for model in (self.critic, self.policy, self.classifier) if model is not None]

    def critic_input(self, images: Tensor) -> Tensor:
        images = normalize(images)
        return images.contiguous(memory_format=torch.channels_last) if self.config.channels_last else images


def search_step(state: SearchState, images: Tensor, labels: Tensor, update_policy: bool = True) -> Tensor:
    """One critic update then (if ``update_policy``) one policy update on a batch ``[B, C, H, W]`` uint8
    with labels ``[B]``, after the ``--base_augmentation`` of the whole batch.

    The policy's relaxed forward runs once: its output feeds the critic step detached and the policy
    step with its graph (the official code runs it twice). The critic's gradient penalty is computed on the first
    ``--gradient_penalty_share`` of the pairs of real and augmented images. With a separate classifier, that classifier
    learns on the real half only, and judges (in eval mode) whether the augmented half keeps its
    labels; otherwise the critic's class head does. The policy's loss adds
    ``strength_penalty_weight ·`` the shortfall of the mean |augmented − original| below ``strength_floor``
    (of the batch's mean or of each image: ``--strength_floor_scope``), so it cannot escape the critic by not
    augmenting. With ``--validation_weight``, it also gains that weight times the cosine between the judge's
    gradients on the augmented half and on held-out real images (:func:`validation_alignment`). Returns the
    step's :data:`METRICS`.
    """
    config = state.config
    images = base_augmented(images.float() / 255, config.base_augmentation)
    half = images.shape[0] // 2
    to_augment, real = images[:half], images[half : 2 * half]
    augment_labels, real_labels = labels[:half], labels[half : 2 * half]

    with state.accelerator.accumulate(*state.models()):
        with torch.set_grad_enabled(update_policy):  # in the critic's warm-up, no policy graph is needed
            augmented = state.policy(to_augment)
        strength = augmentation_strength(to_augment, augmented)
        real_input, fake_input = state.critic_input(real), state.critic_input(augmented)

        real_scores, real_logits = state.critic_update_passes(real_input)
        fake_scores, _ = state.critic_update_passes(fake_input.detach())
        # the penalty's double backward is 1.6-1.7x slower on channels_last images than on contiguous ones (CPU,
        # WRN-40-2, fp32 and bf16), while the plain passes gain from channels_last: only those get it. Nor can
        # torch.compile take a double backward: the penalty's pass is always the eager critic's.
        pairs = max(1, round(config.gradient_penalty_share * half))  # the batch is shuffled: the first ones will do
        penalty = gradient_penalty(state.critic, real_input[:pairs].contiguous(), fake_input[:pairs].contiguous(),
                                   config.gradient_penalty_norm)  # fmt: skip
        loss_of_critic = critic_loss(real_scores, fake_scores, real_logits, real_labels, penalty,
                                     config.classification_weight, config.gradient_penalty_weight)  # fmt: skip
        state.accelerator.backward(loss_of_critic)
        state.critic_optimizer.step()
        state.critic_optimizer.zero_grad(set_to_none=True)
        if state.classifier is not None:
            real_logits = state.classifier(real_input)
            state.accelerator.backward(torch.nn.functional.cross_entropy(real_logits.float(), real_labels))
            state.classifier_optimizer.step()
            state.classifier_optimizer.zero_grad(set_to_none=True)

        # the policy step sees a fixed critic (and classifier): no gradient (and no DDP sync) for their weights
        critic_module = state.critic_module
        critic_module.requires_grad_(False)
        policy_scores, policy_logits = state.policy_pass_critic(fake_input)
        if state.classifier is not None:
            policy_logits = _judge_labels(state.accelerator.unwrap_model(state.classifier), fake_input)
        loss_of_policy = policy_loss(policy_scores, policy_logits, augment_labels, config.classification_weight)
        loss_of_policy = loss_of_policy + config.strength_penalty_weight * strength_shortfall(
            strength, state.strength_floor, config.strength_floor_scope
        )
        if config.min_entropy_ratio > 0:
            policy_module = state.policy_module
            entropy_floor = config.min_entropy_ratio * math.log(len(policy_module.operations))
            loss_of_policy = loss_of_policy + ENTROPY_PENALTY_WEIGHT * (
                entropy_floor - policy_module.selection_entropy()
            ).clamp_min(0)
        alignment = loss_of_critic.new_tensor(float("nan"))
        if config.validation_weight > 0:
            alignment = _validation_alignment(state, fake_input, augment_labels)
            loss_of_policy = loss_of_policy - config.validation_weight * alignment
        if update_policy:
            state.accelerator.backward(loss_of_policy)
            state.gradient_noise.update(state.policy_module)
            state.policy_optimizer.step()
            state.policy_optimizer.zero_grad(set_to_none=True)
            state.policy_module.clamp_parameters_()
        critic_module.requires_grad_(True)

    with torch.no_grad():
        real_classification = torch.nn.functional.cross_entropy(real_logits.float(), real_labels)
        augmented_classification = torch.nn.functional.cross_entropy(policy_logits.float(), augment_labels)
        values = (
            loss_of_critic,
            loss_of_policy,
            real_scores.float().mean() - fake_scores.float().mean(),
            penalty,
            real_classification,
            accuracy(real_logits, real_labels),
            augmented_classification,
            accuracy(policy_logits, augment_labels),
            state.policy_module.selection_entropy(),
            strength.mean(),
            (strength > CHANGED_PIXEL_CHANGE).float().mean(),
            alignment,
        )
        return torch.stack([value.detach().float() for value in values])


def _judge_labels(classifier: torch.nn.Module, images: Tensor) -> Tensor:
    """Class logits of ``images`` from a frozen ``classifier`` in eval mode (its BatchNorm statistics are
    those of real images, so a global colour or contrast shift is not normalised away)."""
    classifier.requires_grad_(False).eval()
    try:
        return classifier(images)
    finally:
        classifier.requires_grad_(True).train()


def _validation_alignment(state: SearchState, augmented: Tensor, labels: Tensor) -> Tensor:
    """:func:`validation_alignment` of the judge (in eval mode, as :func:`_judge_labels`) between the
    augmented half ``augmented`` (critic inputs) and a random batch of as many held-out images."""
    judge = state.accelerator.unwrap_model(state.classifier).eval()
    try:
        rows = torch.randperm(len(state.validation_labels))[: len(labels)].to(state.validation_labels.device)
        held_out = state.critic_input(state.validation_images[rows].float() / 255)
        reference = judge_gradient(judge, held_out, state.validation_labels[rows])
        # the policy's gradient differentiates the judge's gradient: through attention (a transformers judge) only
        # the math kernel of scaled_dot_product_attention has that second derivative
        with sdpa_kernel(SDPBackend.MATH):
            return validation_alignment(judge, augmented, labels, reference)
    finally:
        judge.train()
