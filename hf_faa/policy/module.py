"""FasterAutoAugmentPolicy: the learnable policy's parameters and settings; its forwards, description and
Hub I/O come from the mixins next to it."""

from __future__ import annotations

import copy
from typing import Any

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import Tensor, nn

from ..ops import DEFAULT_OPERATIONS, OPERATIONS
from .card import CARD_DATA, MODEL_CARD_TEMPLATE, PAPER_URL
from .config import CONFIG_FIELDS, PolicyConfig
from .constants import PARAMETER_NAMES, POLICY_INITS
from .description import PolicyDescription
from .forward import PolicyForward
from .hub import PolicyHub


class FasterAutoAugmentPolicy(
    PolicyForward,
    PolicyDescription,
    PolicyHub,
    nn.Module,
    PyTorchModelHubMixin,
    **CARD_DATA,
    paper_url=PAPER_URL,
    model_card_template=MODEL_CARD_TEMPLATE,
):
    """A Faster AutoAugment policy over batches of images.

    Args:
        operations: op names from :data:`hf_faa.ops.OPERATIONS` (default: :data:`hf_faa.ops.DEFAULT_OPERATIONS`).
        num_sub_policies: sub-policies; each image draws one uniformly.
        operation_count: stages (ops applied in sequence) per sub-policy.
        temperature: softmax temperature of the op selection.
        magnitude_sampling: ``"fixed"`` applies each op at its magnitude; ``"uniform"`` draws
            ``U(0, magnitude)`` per image (TrivialAugment).
        selection: relaxed (training-mode) op selection: ``"weighted"`` runs every op and mixes the
            outputs by their softmax weights (the paper); ``"gumbel"`` runs only the op each image
            samples, with a straight-through hard Gumbel-softmax (GDAS), which is much cheaper.
        apply_temperature: temperature of the RelaxedBernoulli apply-gates in training mode.
        magnitude_ranges: per-op ``[low, high]`` native range a magnitude of 0..1 maps onto,
            overriding :attr:`Operation.value_range` (presets use their published ranges).
        search_info: free-form, JSON-serialisable facts about how the policy was made (dataset,
            search settings, metrics); shown in the model card.

    Forward: ``policy(images, generator=None)`` with images ``[B, C, H, W]``, uint8 in [0, 255] or
    float in [0, 1]; returns the same shape and dtype. ``policy.train()`` gives the differentiable
    relaxation; ``policy.eval()`` samples discrete choices per image, without building a graph.
    """

    def __init__(
        self,
        operations: list[str] | None = None,
        num_sub_policies: int = 10,
        operation_count: int = 2,
        temperature: float = 0.05,
        magnitude_sampling: str = "fixed",
        selection: str = "weighted",
        apply_temperature: float = 0.1,
        magnitude_ranges: dict[str, list[float]] | None = None,
        search_info: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        settings = PolicyConfig(list(DEFAULT_OPERATIONS) if operations is None else operations, num_sub_policies,
                                operation_count, temperature, magnitude_sampling, selection, apply_temperature,
                                magnitude_ranges or {}, search_info or {})  # fmt: skip
        for name in CONFIG_FIELDS:  # plain attributes: policy.operations, policy.temperature, ...
            setattr(self, name, getattr(settings, name))
        shape = (self.num_sub_policies, self.operation_count, len(self.operations))
        self.logits = nn.Parameter(torch.empty(shape))
        self.magnitudes = nn.Parameter(torch.empty(shape))
        self.probabilities = nn.Parameter(torch.empty(shape))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, init: str = "random") -> None:
        """``"random"``: every parameter ~ U(0, 1), as the official search re-initialises them (at
        temperature 0.05 each stage then starts nearly one-hot on a random op). ``"uniform"``: the
        official module's defaults: equal logits (every op equally likely), magnitudes and
        probabilities 0.5, so a search starts from no preference at all."""
        if init not in POLICY_INITS:
            raise ValueError(f"init must be one of {POLICY_INITS}, got {init!r}.")
        for parameter in (self.logits, self.magnitudes, self.probabilities):
            if init == "random":
                parameter.uniform_(0, 1)
            else:
                parameter.fill_(0.5)

    # ------------------------------------------------------------------------------------ config

    @property
    def config(self) -> dict[str, Any]:
        """The :class:`PolicyConfig` fields that rebuild this policy (what ``config.json`` holds), as a new dict."""
        return copy.deepcopy({name: getattr(self, name) for name in CONFIG_FIELDS})

    def value_range(self, operation: str) -> tuple[float, float] | None:
        """Native ``(low, high)`` range a magnitude of 0..1 maps onto for ``operation`` (None: no magnitude)."""
        if not OPERATIONS[operation].has_magnitude:
            return None
        return tuple(self.magnitude_ranges.get(operation, OPERATIONS[operation].value_range))

    def native_value(self, operation: str, magnitude: float) -> float | None:
        """The native parameter (degrees, shear factor, ...) ``operation`` gets at ``magnitude`` in [0, 1],
        unsigned (None: no magnitude)."""
        value_range = self.value_range(operation)
        return None if value_range is None else value_range[0] + magnitude * (value_range[1] - value_range[0])

    @torch.no_grad()
    def clamp_parameters_(self) -> FasterAutoAugmentPolicy:
        """Project magnitudes and probabilities back into [0, 1] (call after an optimiser step)."""
        self.magnitudes.clamp_(0, 1)
        self.probabilities.clamp_(0, 1)
        return self

    def selection_weights(self) -> Tensor:
        """Softmax op-selection weights ``[num_sub_policies, operation_count, num_operations]``."""
        return torch.softmax(self.logits / self.temperature, dim=-1)

    def operation_rates(self) -> dict[str, float]:
        """How often each op is applied per stage, averaged over sub-policies and stages:
        ``mean(selection weight × apply-probability)``. Sums to the overall apply rate (≤ 1)."""
        rates = (self.selection_weights() * self.probabilities.clamp(0, 1)).mean(dim=(0, 1))
        return dict(zip(self.operations, rates.detach().cpu().tolist(), strict=True))

    def selection_entropy(self) -> Tensor:
        """Mean entropy (nats) of the op selection over sub-policies and stages; a scalar."""
        log_weights = torch.log_softmax(self.logits / self.temperature, dim=-1)
        return -(log_weights.exp() * log_weights).sum(-1).mean()

    @classmethod
    def union(cls, policies: list[FasterAutoAugmentPolicy]) -> FasterAutoAugmentPolicy:
        """One policy holding the sub-policies of all ``policies`` (in order), so each image picks one of
        them uniformly: ``[Σ S_i, K, N]`` parameters. The policies must agree on everything but their
        parameters and ``search_info`` (the result has none); ``ValueError`` otherwise."""
        if not policies:
            raise ValueError("union() needs at least one policy.")
        first = policies[0].config
        for index, policy in enumerate(policies[1:], start=1):
            if _stage_settings(policy.config) != _stage_settings(first):
                raise ValueError(
                    f"union(): policy {index} differs from policy 0 in its settings (operations, stages, "
                    "temperature, ...); only policies with the same settings can be merged."
                )
        with torch.random.fork_rng(devices=[]):  # the constructor's random init must not move a running search's RNG
            merged = cls(**{**first, "num_sub_policies": sum(p.num_sub_policies for p in policies), "search_info": {}})
        with torch.no_grad():
            for name in PARAMETER_NAMES:
                getattr(merged, name).copy_(torch.cat([getattr(p, name).detach().cpu() for p in policies]))
        return merged.to(policies[0].logits.device).train(policies[0].training)

    @classmethod
    def from_preset(
        cls, name: str, num_ops: int | None = None, magnitude: int | None = None
    ) -> FasterAutoAugmentPolicy:
        """A published policy in this format: ``autoaugment-cifar10``, ``autoaugment-svhn``,
        ``autoaugment-imagenet``, ``randaugment`` (``num_ops`` N, ``magnitude`` M of 30; default 2, 9)
        or ``trivialaugment`` (wide ranges, uniform magnitudes). Tables and conventions:
        :mod:`hf_faa.preset_tables` (torchvision's magnitude conventions)."""
        from .presets import preset_policy  # presets build policies: imported on use

        return preset_policy(name, num_ops, magnitude)


def _stage_settings(config: dict[str, Any]) -> dict[str, Any]:
    """A policy's settings that its sub-policies depend on (all but their number and the provenance)."""
    return {name: value for name, value in config.items() if name not in ("num_sub_policies", "search_info")}
