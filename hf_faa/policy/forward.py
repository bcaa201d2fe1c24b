"""The policy's two forwards: the relaxed, differentiable one of the search (training mode) and the
discrete one that augments data (eval mode), with the random choices it draws."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import Tensor

from ..ops import OPERATIONS, check_images, to_uint8
from ..ops.base import random_integers, random_uniform
from .constants import PROBABILITY_EPSILON
from .discrete_stage import apply_discrete_stage
from .grouping import apply_grouped


@dataclass
class DiscreteChoices:
    """The random choices of one eval-mode forward over B images, K = operation_count stages."""

    sub_policy: Tensor  # [B] sub-policy index per image
    operation: Tensor  # [K, B] index into policy.operations
    applied: Tensor  # [K, B] bool: whether the stage's op is applied
    magnitude: Tensor  # [K, B] magnitude in [0, 1]


def clamp_straight_through(values: Tensor, low: float, high: float) -> Tensor:
    """Clamp in the forward pass, identity in the backward pass: a parameter that has reached a
    bound can still be pulled back by its gradient (a plain clamp would freeze it there)."""
    return values + (values.clamp(low, high) - values).detach()


def autocast_disabled(device_type: str) -> contextlib.AbstractContextManager:
    """The ops' math runs in the images' dtype even inside a caller's ``torch.autocast`` (a bf16/fp16
    critic): autocast would run the grayscale matmul and Sharpness' convolution in half precision
    and mix dtypes in the blends."""
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


class PolicyForward:
    """The forwards of :class:`hf_faa.policy.FasterAutoAugmentPolicy` (a mixin: it reads the policy's
    parameters ``logits``, ``magnitudes``, ``probabilities`` ``[S, K, N]`` and its settings)."""

    def forward(self, images: Tensor, generator: torch.Generator | None = None, *, inplace: bool = False) -> Tensor:
        """Augment ``images`` ``[B, C, H, W]`` (uint8, or float in [0, 1]); same shape and dtype out.

        In eval mode uint8 images stay uint8: every op's result is rounded to 8 bits, as in PIL.
        ``inplace=True`` (eval mode only) writes into ``images`` instead of a copy, for callers
        that own the batch.
        """
        check_images(images)
        if inplace and self.training:
            raise ValueError("inplace=True needs eval mode (policy.eval()): the training forward keeps its input.")
        if images.shape[0] == 0:
            return images
        with autocast_disabled(images.device.type):
            if not self.training:
                with torch.no_grad():  # the discrete forward works in place
                    return self._discrete_forward(images if inplace else images.clone(), generator)
            if images.is_floating_point():
                return self._relaxed_forward(images, generator).to(images.dtype)
            return to_uint8(self._relaxed_forward(images.float().div_(255), generator).detach())

    def _stage_parameters(self, sub_policy: Tensor, stage: int) -> tuple[Tensor, Tensor, Tensor]:
        """Per-image logits, magnitudes and probabilities of one stage, each ``[B, num_operations]``."""
        return (
            self.logits[sub_policy, stage],
            self.magnitudes[sub_policy, stage],
            self.probabilities[sub_policy, stage],
        )

    def _sampled_magnitudes(self, magnitudes: Tensor, generator: torch.Generator | None) -> Tensor:
        if self.magnitude_sampling == "uniform":
            return magnitudes * random_uniform(magnitudes.shape, magnitudes, generator)
        return magnitudes

    def _run_op(self, op: int, images: Tensor, magnitude: Tensor, generator: torch.Generator | None) -> Tensor:
        name = self.operations[op]
        return OPERATIONS[name](images, magnitude, generator=generator, value_range=self.value_range(name))

    @torch.no_grad()
    def sample_choices(self, batch_size: int, generator: torch.Generator | None = None) -> DiscreteChoices:
        """Draw the discrete choices of the eval-mode forward for ``batch_size`` images: a sub-policy
        per image, then per stage an op from ``softmax(logits / temperature)``, whether to apply it
        (Bernoulli of its probability) and its magnitude."""
        like = self.logits
        sub_policy = random_integers(self.num_sub_policies, batch_size, like, generator)
        # the selection's cumulative distribution [S, K, N], computed once for all images and stages
        cumulative = torch.cumsum(torch.softmax(self.logits.float() / self.temperature, dim=-1), dim=-1)
        operations, applied, magnitudes = [], [], []
        for stage in range(self.operation_count):
            # inverse-CDF sampling: one uniform per image picks its op
            draws = random_uniform((batch_size, 1), cumulative, generator)
            op_index = (cumulative[sub_policy, stage] < draws).sum(-1).clamp(max=len(self.operations) - 1)
            operations.append(op_index)
            applied.append(
                random_uniform((batch_size,), cumulative, generator) < self.probabilities[sub_policy, stage, op_index]
            )
            magnitude = self.magnitudes[sub_policy, stage, op_index].clamp(0, 1)
            magnitudes.append(self._sampled_magnitudes(magnitude, generator))
        return DiscreteChoices(sub_policy, torch.stack(operations), torch.stack(applied), torch.stack(magnitudes))

    def _discrete_forward(self, images: Tensor, generator: torch.Generator | None) -> Tensor:
        """Runs under ``no_grad`` and transforms ``images`` in place: each stage applies op ``op_index[i]``
        (-1: none) at its magnitude to image ``i``."""
        choices = self.sample_choices(images.shape[0], generator)
        operations = [(OPERATIONS[name], self.value_range(name)) for name in self.operations]
        for stage in range(self.operation_count):
            op_index = torch.where(choices.applied[stage], choices.operation[stage], -1).to(images.device)
            magnitude = choices.magnitude[stage].to(images.device)
            images = apply_discrete_stage(images, op_index, magnitude, operations, generator)
        return images

    def _relaxed_forward(self, images: Tensor, generator: torch.Generator | None) -> Tensor:
        batch = images.shape[0]
        sub_policy = random_integers(self.num_sub_policies, batch, images, generator)
        for stage in range(self.operation_count):
            logits, magnitudes, probabilities = self._stage_parameters(sub_policy, stage)
            magnitudes = self._sampled_magnitudes(clamp_straight_through(magnitudes, 0, 1), generator)
            probabilities = clamp_straight_through(probabilities, PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON)
            if self.selection == "weighted":
                images = self._weighted_stage(images, logits, magnitudes, probabilities, generator)
            else:
                images = self._gumbel_stage(images, logits, magnitudes, probabilities, generator)
        return images

    def _relaxed_gates(self, probabilities: Tensor, generator: torch.Generator | None) -> Tensor:
        """RelaxedBernoulli(probabilities, apply_temperature) samples, reparameterised (same shape)."""
        noise = random_uniform(probabilities.shape, probabilities, generator).clamp(1e-6, 1 - 1e-6)
        logistic = torch.log(noise) - torch.log1p(-noise)
        return torch.sigmoid((torch.logit(probabilities) + logistic) / self.apply_temperature)

    def _weighted_stage(self, images, logits, magnitudes, probabilities, generator) -> Tensor:
        """The paper's relaxation ``x + Σ_op m_op · (op(x) − x)``, with ``m_op = w_op · gate_op``, every op on the
        whole batch; summed as ``(1 − Σ_op m_op) · x + Σ_op m_op · op(x)``: one fused multiply-add per op, fewer
        passes over the batch forward and backward than summing the differences."""
        mixing = torch.softmax(logits / self.temperature, dim=-1) * self._relaxed_gates(probabilities, generator)
        output = images * (1 - mixing.sum(dim=-1)).view(-1, 1, 1, 1)
        for op in range(len(self.operations)):
            output = torch.addcmul(
                output, mixing[:, op].view(-1, 1, 1, 1), self._run_op(op, images, magnitudes[:, op], generator)
            )
        return output.clamp(0, 1)

    def _gumbel_stage(self, images, logits, magnitudes, probabilities, generator) -> Tensor:
        """Straight-through hard Gumbel-softmax: each image runs only the op it samples.

        The sample is ``argmax(logits / temperature + Gumbel noise)``, i.e. distributed as the
        discrete forward's choice; the chosen op's output is scaled by its hard one-hot entry, whose
        gradient is that of the soft sample, so every logit of the stage gets a gradient.
        """
        noise = random_uniform(logits.shape, logits, generator).clamp(1e-10, 1 - 1e-10)
        soft = torch.softmax(logits / self.temperature - torch.log(-torch.log(noise)), dim=-1)
        op_index = soft.argmax(dim=-1)
        chosen = op_index.unsqueeze(1)
        hard_weight = 1 + soft.gather(1, chosen) - soft.gather(1, chosen).detach()  # 1, with soft's gradient
        gates = self._relaxed_gates(probabilities.gather(1, chosen), generator)
        mixing = (hard_weight * gates).squeeze(1)
        magnitude = magnitudes.gather(1, chosen).squeeze(1)

        def run(op: int, rows: Tensor, chunk: Tensor) -> Tensor:
            change = self._run_op(op, chunk, magnitude[rows], generator) - chunk
            return chunk + mixing[rows].view(-1, 1, 1, 1) * change

        return apply_grouped(images, op_index, run).clamp(0, 1)
