"""FasterAutoAugmentPolicy: the learnable augmentation policy, its relaxed and discrete forwards,
its description, presets, and its Hub format (``config.json`` + ``model.safetensors`` + card).

A policy has ``num_sub_policies`` sub-policies of ``operation_count`` stages. Every stage holds,
for each of the policy's ``operations``, a selection logit, a magnitude in [0, 1] and an
apply-probability in [0, 1]: three tensors ``[num_sub_policies, operation_count, num_operations]``.
Each image draws its own sub-policy; each stage then picks an op from
``softmax(logits / temperature)`` and applies it with its probability at its magnitude.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from huggingface_hub import ModelCard, ModelCardData, PyTorchModelHubMixin, constants, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HFValidationError, RepositoryNotFoundError, RevisionNotFoundError
from torch import Tensor, nn

from . import preset_tables
from .ops import OPERATIONS, check_images, to_uint8
from .ops.base import random_integers, random_uniform

SELECTIONS = ("weighted", "gumbel")
POLICY_INITS = ("random", "uniform")
MAGNITUDE_SAMPLINGS = ("fixed", "uniform")
WEIGHTS_NAME = constants.SAFETENSORS_SINGLE_FILE  # model.safetensors, the names the Hub mixin uses
CONFIG_NAME = constants.CONFIG_NAME  # config.json
SAMPLES_NAME = "policy_samples.png"
PARAMETER_NAMES = ("logits", "magnitudes", "probabilities")
# A logit this low gets selection weight exactly 0 at any temperature below ~100: presets use it
# to switch off the operations a stage does not use.
EXCLUDED_LOGIT = -1e4
# Relaxed apply-probabilities stay this far from 0 and 1, where the logit of p is infinite and the
# RelaxedBernoulli gate saturates so hard that no gradient comes back.
PROBABILITY_EPSILON = 1e-3
# On CPU an op's float temporaries for a whole batch of large images outgrow the caches (and,
# above glibc's 32 MiB mmap threshold, take fresh zeroed pages from the kernel on every call: a
# 10-20x slowdown at 224x224). The discrete forward runs each op on chunks of rows this size.
CPU_CHUNK_BYTES = 4 * 2**20
# index_copy_'s CPU kernel moves uint8 images an element at a time (~0.3 ns per byte, ~10x a
# memcpy); a Python loop of row copies costs ~2 µs per row, so it wins from about this image size.
ROW_COPY_MIN_BYTES = 8192
# Rows whose selection weight is below this are left out of describe() by default.
DESCRIBE_MIN_WEIGHT = 0.01
CITATION = """@inproceedings{hataya2020faster,
  title     = {Faster AutoAugment: Learning Augmentation Strategies using Backpropagation},
  author    = {Hataya, Ryuichiro and Zdenek, Jan and Yoshizoe, Kazuki and Nakayama, Hideki},
  booktitle = {Computer Vision -- ECCV 2020},
  year      = {2020},
  eprint    = {1911.06987},
  archivePrefix = {arXiv},
}"""


def _model_card_template_path() -> Path:
    """Where ``model_card_template.md`` is: inside the package in a wheel (pyproject's force-include),
    at the repository root in a source checkout (editable installs and tests read the one copy in git)."""
    candidates = (
        Path(__file__).with_name("model_card_template.md"),
        Path(__file__).parents[1] / "model_card_template.md",
    )
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"model_card_template.md is missing from {candidates[0].parent}; reinstall hf-faa.")


PRESETS = ("autoaugment-cifar10", "autoaugment-svhn", "autoaugment-imagenet", "randaugment", "trivialaugment")


def _clamp_straight_through(values: Tensor, low: float, high: float) -> Tensor:
    """Clamp in the forward pass, identity in the backward pass: a parameter that has reached a
    bound can still be pulled back by its gradient (a plain clamp would freeze it there)."""
    return values + (values.clamp(low, high) - values).detach()


def _rows_per_chunk(images: Tensor) -> int:
    """How many images an op takes at once: all of them on accelerators, about CPU_CHUNK_BYTES of float on CPU."""
    if images.device.type != "cpu":
        return max(1, images.shape[0])
    return max(1, CPU_CHUNK_BYTES // (images[0].numel() * 4))


def _write_rows(images: Tensor, rows: Tensor, values: Tensor) -> None:
    """``images[rows] = values``; on CPU, large images are copied one row at a time (see ROW_COPY_MIN_BYTES)."""
    if images.device.type != "cpu" or images[0].numel() * images.element_size() < ROW_COPY_MIN_BYTES:
        images.index_copy_(0, rows, values)
        return
    for row, value in zip(rows.tolist(), values, strict=True):
        images[row].copy_(value)


def _apply_grouped(images: Tensor, op_index: Tensor, run) -> Tensor:
    """Run ``run(op, rows, images[rows])`` once per distinct op in ``op_index`` ``[B]`` and scatter back.

    ``op_index`` -1 leaves an image unchanged. Without autograd the results are written into
    ``images`` in place (the caller owns it): only the transformed rows are copied, a chunk of
    rows at a time on CPU (see :data:`CPU_CHUNK_BYTES`). With autograd,
    sorting by op makes each group a contiguous slice; the groups are concatenated and put back in
    order with one gather.
    """
    if not torch.is_grad_enabled():
        rows_per_chunk = _rows_per_chunk(images)
        for op in op_index.unique().tolist():
            if op >= 0:
                for rows in (op_index == op).nonzero().squeeze(1).split(rows_per_chunk):
                    _write_rows(images, rows, run(op, rows, images.index_select(0, rows)))
        return images
    order = torch.argsort(op_index, stable=True)
    counts = torch.bincount(op_index[order] + 1).tolist()
    pieces, start = [], 0
    for op, count in enumerate(counts, start=-1):
        if count:
            rows = order[start : start + count]
            chunk = images.index_select(0, rows)
            pieces.append(chunk if op < 0 else run(op, rows, chunk))
            start += count
    return torch.cat(pieces).index_select(0, torch.argsort(order))


@dataclass
class DiscreteChoices:
    """The random choices of one eval-mode forward over B images, K = operation_count stages."""

    sub_policy: Tensor  # [B] sub-policy index per image
    operation: Tensor  # [K, B] index into policy.operations
    applied: Tensor  # [K, B] bool: whether the stage's op is applied
    magnitude: Tensor  # [K, B] magnitude in [0, 1]


# The model card's metadata, given to the Hub mixin and used by generate_model_card.
CARD_DATA = {
    "library_name": "hf-faa",
    "tags": ["data-augmentation", "faster-autoaugment", "image-classification", "autoaugment"],
    "license": "apache-2.0",
    "pipeline_tag": "image-to-image",
}
PAPER_URL = "https://arxiv.org/abs/1911.06987"
MODEL_CARD_TEMPLATE = _model_card_template_path().read_text(encoding="utf-8")


class FasterAutoAugmentPolicy(
    nn.Module,
    PyTorchModelHubMixin,
    **CARD_DATA,
    paper_url=PAPER_URL,
    model_card_template=MODEL_CARD_TEMPLATE,
):
    """A Faster AutoAugment policy over batches of images.

    Args:
        operations: op names from :data:`hf_faa.ops.OPERATIONS` (default: all of them).
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
        operations = list(OPERATIONS) if operations is None else list(operations)
        magnitude_ranges = {name: [float(v) for v in bounds] for name, bounds in (magnitude_ranges or {}).items()}
        _validate_config(operations, num_sub_policies, operation_count, temperature, magnitude_sampling, selection,
                         apply_temperature, magnitude_ranges)  # fmt: skip
        self.operations = operations
        self.num_sub_policies = num_sub_policies
        self.operation_count = operation_count
        self.temperature = temperature
        self.magnitude_sampling = magnitude_sampling
        self.selection = selection
        self.apply_temperature = apply_temperature
        self.magnitude_ranges = magnitude_ranges
        self.search_info = dict(search_info or {})
        self.sample_images: Tensor | None = None  # uint8 [N, C, H, W] shown in the card's sample grid
        shape = (num_sub_policies, operation_count, len(operations))
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
        """The constructor arguments that rebuild this policy (what ``config.json`` holds)."""
        return {
            "operations": list(self.operations),
            "num_sub_policies": self.num_sub_policies,
            "operation_count": self.operation_count,
            "temperature": self.temperature,
            "magnitude_sampling": self.magnitude_sampling,
            "selection": self.selection,
            "apply_temperature": self.apply_temperature,
            "magnitude_ranges": {name: list(bounds) for name, bounds in self.magnitude_ranges.items()},
            "search_info": self.search_info,
        }

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

    # ------------------------------------------------------------------------------------ forward

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
        with _autocast_disabled(images.device.type):
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
        operations, applied, magnitudes = [], [], []
        for stage in range(self.operation_count):
            logits, stage_magnitudes, probabilities = self._stage_parameters(sub_policy, stage)
            weights = torch.softmax(logits.float() / self.temperature, dim=-1)
            # inverse-CDF sampling: one uniform per image picks its op
            draws = random_uniform((batch_size, 1), weights, generator)
            op_index = (torch.cumsum(weights, dim=-1) < draws).sum(-1).clamp(max=len(self.operations) - 1)
            chosen = op_index.unsqueeze(1)
            operations.append(op_index)
            applied.append(
                random_uniform((batch_size,), weights, generator) < probabilities.gather(1, chosen).squeeze(1)
            )
            magnitude = stage_magnitudes.gather(1, chosen).squeeze(1).clamp(0, 1)
            magnitudes.append(self._sampled_magnitudes(magnitude, generator))
        return DiscreteChoices(sub_policy, torch.stack(operations), torch.stack(applied), torch.stack(magnitudes))

    def _discrete_forward(self, images: Tensor, generator: torch.Generator | None) -> Tensor:
        """Runs under ``no_grad`` and transforms ``images`` in place."""
        choices = self.sample_choices(images.shape[0], generator)
        for stage in range(self.operation_count):
            op_index = torch.where(choices.applied[stage], choices.operation[stage], -1)
            images = self._apply_chosen_ops(images, op_index, choices.magnitude[stage], generator)
        return images

    def _apply_chosen_ops(self, images: Tensor, op_index: Tensor, magnitude: Tensor, generator) -> Tensor:
        """Apply op ``op_index[i]`` (-1: none) at ``magnitude[i]`` to image ``i``, once per distinct op."""
        magnitude = magnitude.to(images.device)
        return _apply_grouped(
            images,
            op_index.to(images.device),
            lambda op, rows, chunk: self._run_op(op, chunk, magnitude[rows], generator),
        )

    def _relaxed_forward(self, images: Tensor, generator: torch.Generator | None) -> Tensor:
        batch = images.shape[0]
        sub_policy = random_integers(self.num_sub_policies, batch, images, generator)
        for stage in range(self.operation_count):
            logits, magnitudes, probabilities = self._stage_parameters(sub_policy, stage)
            magnitudes = self._sampled_magnitudes(_clamp_straight_through(magnitudes, 0, 1), generator)
            probabilities = _clamp_straight_through(probabilities, PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON)
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
        """The paper's relaxation: ``x + Σ_op w_op · gate_op · (op(x) − x)``, every op on the whole batch."""
        mixing = torch.softmax(logits / self.temperature, dim=-1) * self._relaxed_gates(probabilities, generator)
        output = images
        for op in range(len(self.operations)):
            change = self._run_op(op, images, magnitudes[:, op], generator) - images
            output = output + mixing[:, op].view(-1, 1, 1, 1) * change
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

        return _apply_grouped(images, op_index, run).clamp(0, 1)

    # ------------------------------------------------------------------------------------ description

    def describe(self, min_weight: float = DESCRIBE_MIN_WEIGHT) -> list[dict[str, Any]]:
        """The policy as rows, one per (sub-policy, stage, op) with selection weight ≥ ``min_weight``.

        Row keys: ``sub_policy``, ``stage`` (both from 0), ``operation``, ``weight`` (selection
        probability), ``probability`` (apply-probability), ``magnitude`` (0..1), ``value`` (native
        parameter, ± for signed ops; None without magnitude) and ``unit``. Sorted by sub-policy,
        stage, then decreasing weight.
        """
        weights = self.selection_weights().detach().cpu()
        magnitudes = self.magnitudes.detach().cpu().clamp(0, 1)
        probabilities = self.probabilities.detach().cpu().clamp(0, 1)
        rows = []
        for sub_policy in range(self.num_sub_policies):
            for stage in range(self.operation_count):
                stage_weights = weights[sub_policy, stage]
                for op in torch.argsort(stage_weights, descending=True, stable=True).tolist():
                    if stage_weights[op] < min_weight:
                        break
                    name = self.operations[op]
                    magnitude = float(magnitudes[sub_policy, stage, op])
                    rows.append(
                        {
                            "sub_policy": sub_policy,
                            "stage": stage,
                            "operation": name,
                            "weight": float(stage_weights[op]),
                            "probability": float(probabilities[sub_policy, stage, op]),
                            "magnitude": magnitude if OPERATIONS[name].has_magnitude else None,
                            "value": self.native_value(name, magnitude),
                            "unit": OPERATIONS[name].unit,
                            "signed": OPERATIONS[name].signed,
                        }
                    )
        return rows

    def describe_markdown(self, min_weight: float = DESCRIBE_MIN_WEIGHT) -> str:
        """:meth:`describe` as a markdown table."""
        lines = [
            "| sub-policy | stage | operation | selection weight | apply probability | magnitude | value |",
            "|---:|---:|---|---:|---:|---:|---|",
        ]
        for row in self.describe(min_weight):
            magnitude = "–" if row["magnitude"] is None else f"{row['magnitude']:.2f}"
            lines.append(
                f"| {row['sub_policy']} | {row['stage']} | {row['operation']} | {row['weight']:.2f} "
                f"| {row['probability']:.2f} | {magnitude} | {_native_value_cell(row['operation'], row['value'])} |"
            )
        return "\n".join(lines)

    def summarize(self) -> list[dict[str, Any]]:
        """One row per op, most applied first: ``operation``, ``rate`` (share of stages that apply it, as
        :meth:`operation_rates`), ``chosen`` (share of stages that select it), and its ``probability`` and
        ``magnitude`` averaged over stages weighted by selection, with the magnitude's native ``value``
        (None for ops without one)."""
        weights = self.selection_weights().detach().cpu()
        chosen = weights.mean(dim=(0, 1))
        share = weights / weights.sum(dim=(0, 1)).clamp_min(1e-12)  # each op's stages, weighted by selection
        probabilities = (share * self.probabilities.detach().cpu().clamp(0, 1)).sum(dim=(0, 1))
        magnitudes = (share * self.magnitudes.detach().cpu().clamp(0, 1)).sum(dim=(0, 1))
        rows = []
        for op, name in enumerate(self.operations):
            magnitude = float(magnitudes[op])
            rows.append(
                {
                    "operation": name,
                    "rate": float(chosen[op] * probabilities[op]),
                    "chosen": float(chosen[op]),
                    "probability": float(probabilities[op]),
                    "magnitude": magnitude if OPERATIONS[name].has_magnitude else None,
                    "value": self.native_value(name, magnitude),
                }
            )
        return sorted(rows, key=lambda row: -row["rate"])

    def summary_markdown(self) -> str:
        """:meth:`summarize` as a markdown table."""
        lines = [
            "| operation | applied in (share of stages) | selected in | apply probability | magnitude | value |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for row in self.summarize():
            magnitude = "–" if row["magnitude"] is None else f"{row['magnitude']:.2f}"
            lines.append(
                f"| {row['operation']} | {row['rate']:.3f} | {row['chosen']:.3f} | {row['probability']:.2f} "
                f"| {magnitude} | {_native_value_cell(row['operation'], row['value'])} |"
            )
        return "\n".join(lines)

    def to_json(self) -> str:
        """Config and parameters as indented JSON, for humans and diffs (lossless for float32)."""
        state = {name: getattr(self, name).detach().cpu().tolist() for name in PARAMETER_NAMES}
        return json.dumps({"config": self.config, "parameters": state}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> FasterAutoAugmentPolicy:
        """Inverse of :meth:`to_json`; the config and tensors are validated like a Hub load."""
        try:
            document = json.loads(text)
            config, parameters = document["config"], document["parameters"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(
                f"Not a policy JSON document ({error}); expected {{'config': ..., 'parameters': ...}} "
                "as written by FasterAutoAugmentPolicy.to_json()."
            ) from error
        settings = _checked_config(config, source="the JSON document")
        try:
            tensors = {name: torch.tensor(values, dtype=torch.float32) for name, values in parameters.items()}
        except (AttributeError, TypeError, ValueError) as error:
            raise ValueError(f"The JSON document's parameters are not lists of numbers ({error}).") from error
        policy = FasterAutoAugmentPolicy(**settings)
        _copy_parameters(policy, _checked_tensors(tensors, settings, source="the JSON document"))
        return policy

    # ------------------------------------------------------------------------------------ presets

    @classmethod
    def from_preset(
        cls, name: str, num_ops: int | None = None, magnitude: int | None = None
    ) -> FasterAutoAugmentPolicy:
        """A published policy in this format: ``autoaugment-cifar10``, ``autoaugment-svhn``,
        ``autoaugment-imagenet``, ``randaugment`` (``num_ops`` N, ``magnitude`` M of 30; default 2, 9)
        or ``trivialaugment`` (wide ranges, uniform magnitudes). Tables and conventions:
        :mod:`hf_faa.preset_tables` (torchvision's magnitude conventions)."""
        if name.startswith("autoaugment-") and name.removeprefix("autoaugment-") in preset_tables.AUTOAUGMENT_POLICIES:
            return _autoaugment_preset(name.removeprefix("autoaugment-"))
        if name == "randaugment":
            num_ops = preset_tables.RANDAUGMENT_NUM_OPS if num_ops is None else num_ops
            magnitude = preset_tables.RANDAUGMENT_MAGNITUDE if magnitude is None else magnitude
            return _uniform_preset(
                preset_tables.RANDAUGMENT_OPERATIONS,
                preset_tables.RANDAUGMENT_RANGES,
                num_ops=num_ops,
                magnitude=magnitude / (preset_tables.RANDAUGMENT_MAGNITUDE_BINS - 1),
                magnitude_sampling="fixed",
                source=f"RandAugment (N={num_ops}, M={magnitude})",
            )
        if name == "trivialaugment":
            return _uniform_preset(
                preset_tables.TRIVIALAUGMENT_OPERATIONS,
                preset_tables.TRIVIALAUGMENT_RANGES,
                num_ops=preset_tables.TRIVIALAUGMENT_NUM_OPS,
                magnitude=1.0,
                magnitude_sampling="uniform",
                source="TrivialAugment (wide)",
            )
        raise ValueError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")

    # ------------------------------------------------------------------------------------ Hub

    def save_pretrained(
        self,
        save_directory: str | Path,
        *,
        config: dict | None = None,
        repo_id: str | None = None,
        push_to_hub: bool = False,
        model_card_kwargs: dict[str, Any] | None = None,
        **push_to_hub_kwargs,
    ) -> str | None:
        """Save ``config.json``, ``model.safetensors``, ``policy_samples.png`` and the model card
        ``README.md`` to ``save_directory``, as :meth:`PyTorchModelHubMixin.save_pretrained` does.

        Files are written to a staging folder inside ``save_directory`` first and moved into place
        one by one with an atomic rename: an interrupted save never leaves a half-written file.
        """
        save_directory = Path(save_directory)
        save_directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=save_directory, prefix=".staging-") as staging:
            try:
                super().save_pretrained(staging, config=config, model_card_kwargs=model_card_kwargs)
            except OSError as error:
                raise OSError(error.errno, f"Saving the policy to {save_directory} failed while writing its files "
                              f"({error}); the files already there are unchanged.") from error  # fmt: skip
            _move_into_place(Path(staging), save_directory)
        if push_to_hub:
            return self.push_to_hub(
                repo_id or save_directory.name, config=config, model_card_kwargs=model_card_kwargs, **push_to_hub_kwargs
            )
        return None

    def push_to_hub(self, repo_id: str, *, model_card_kwargs: dict[str, Any] | None = None, **kwargs) -> str:
        """:meth:`PyTorchModelHubMixin.push_to_hub`, with ``repo_id`` shown in the card's usage snippet."""
        model_card_kwargs = {"repo_id": repo_id, **(model_card_kwargs or {})}
        return super().push_to_hub(repo_id, model_card_kwargs=model_card_kwargs, **kwargs)

    def _save_pretrained(self, save_directory: Path) -> None:
        tensors = {name: getattr(self, name).detach().cpu().float().contiguous() for name in PARAMETER_NAMES}
        safetensors.torch.save_file(tensors, save_directory / WEIGHTS_NAME, metadata={"format": "pt"})
        (save_directory / CONFIG_NAME).write_text(json.dumps(self.config, indent=2, sort_keys=True), encoding="utf-8")
        from .sample_grid import render_sample_grid  # PIL drawing, only needed when saving

        render_sample_grid(self).save(save_directory / SAMPLES_NAME)

    def generate_model_card(self, *args, **kwargs) -> ModelCard:
        """The model card (``model_card_template.md``) filled with this policy's table, config and facts."""
        card_data = ModelCardData(**{**CARD_DATA, "tags": list(CARD_DATA["tags"])})
        dataset = self.search_info.get("dataset_name")
        if dataset:
            card_data.datasets = [dataset]
        values = {
            "repo_id": kwargs.pop("repo_id", None) or "your-username/your-policy",
            "policy_table": self.describe_markdown(),
            "operation_summary": self.summary_markdown(),
            "policy_config": json.dumps({k: v for k, v in self.config.items() if k != "search_info"}, indent=2),
            "search_info": json.dumps(self.search_info, indent=2) if self.search_info else None,
            "samples_file": SAMPLES_NAME,
            "citation": CITATION,
            "num_sub_policies": self.num_sub_policies,
            "operation_count": self.operation_count,
        }
        values.update(kwargs)
        return ModelCard.from_template(
            card_data=card_data,
            template_str=MODEL_CARD_TEMPLATE,
            paper_url=PAPER_URL,
            **values,
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs) -> FasterAutoAugmentPolicy:
        """Load a policy from a folder or a Hub repo id, as :meth:`PyTorchModelHubMixin.from_pretrained`
        does, but strictly (see :meth:`_from_pretrained`); a name that resolves to nothing raises
        ``FileNotFoundError`` saying so."""
        try:
            _check_config_file(pretrained_model_name_or_path, kwargs)
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError, HFValidationError) as error:
            raise FileNotFoundError(
                f"Could not load a policy from {str(pretrained_model_name_or_path)!r}: it is not a local folder, and "
                f"the Hub (or, offline, its cache) has no such policy repo ({type(error).__name__}). Check the path "
                "or repo id, your connection or HF_HUB_OFFLINE, and that the repo holds a policy saved by hf-faa."
            ) from error

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        config: dict | None = None,
        map_location: str = "cpu",
        **model_kwargs,
    ) -> FasterAutoAugmentPolicy:
        """Strict load: the config is validated, the weights must be safetensors with exactly the
        expected tensors and shapes. Never falls back to pickle or to random initialisation."""
        model_kwargs.pop("strict", None)  # always strict
        if os.path.isdir(model_id):
            weights_file = os.path.join(model_id, WEIGHTS_NAME)
            if config is None or not os.path.isfile(weights_file):
                missing = CONFIG_NAME if config is None else WEIGHTS_NAME
                raise FileNotFoundError(
                    f"{model_id} has no {missing}; a policy folder holds {CONFIG_NAME} and {WEIGHTS_NAME} "
                    "as written by FasterAutoAugmentPolicy.save_pretrained()."
                )
        else:
            if config is None:
                raise FileNotFoundError(f"The Hub repo {model_id!r} has no {CONFIG_NAME}: it holds no hf-faa policy.")
            weights_file = hf_hub_download(
                repo_id=model_id,
                filename=WEIGHTS_NAME,
                revision=revision,
                cache_dir=cache_dir,
                force_download=force_download,
                token=token,
                local_files_only=local_files_only,
            )
        settings = _checked_config({**config, **model_kwargs}, source=f"{model_id}/{CONFIG_NAME}")
        tensors = _checked_tensors(_read_safetensors(weights_file), settings, source=weights_file)
        policy = FasterAutoAugmentPolicy(**settings)  # only now allocated, at the size the weights file has
        _copy_parameters(policy, tensors)
        return policy.to(map_location).eval()


PRESET_PREFIX = "preset:"


def load_policy(policy: FasterAutoAugmentPolicy | str | Path) -> FasterAutoAugmentPolicy:
    """A policy from anything a user may hand over: a policy (returned as is), ``"preset:<name>"``
    (see :meth:`FasterAutoAugmentPolicy.from_preset`), a local folder or a Hub repo id."""
    if isinstance(policy, FasterAutoAugmentPolicy):
        return policy
    if str(policy).startswith(PRESET_PREFIX):
        return FasterAutoAugmentPolicy.from_preset(str(policy).removeprefix(PRESET_PREFIX))
    return FasterAutoAugmentPolicy.from_pretrained(policy)


# ---------------------------------------------------------------------------------------- validation


def _new_file_mode(folder: Path) -> int:
    """The permissions a new file gets in ``folder`` under the process umask, read from a probe file (the
    umask itself can only be read by changing it, which is not thread-safe)."""
    probe = folder / ".mode-probe"
    os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    mode = probe.stat().st_mode & 0o777
    probe.unlink()
    return mode


def _move_into_place(staging: Path, folder: Path) -> None:
    """Rename each file of ``staging`` into ``folder`` (atomic per file); if a rename fails, the files
    already moved are put back as they were, so ``folder`` holds either the new policy or the old one."""
    files = sorted(staging.iterdir())
    backup = staging / ".previous"
    backup.mkdir()
    mode = _new_file_mode(staging)
    moved = []
    try:
        for file in files:
            file.chmod(mode)  # some writers create private (0600) temporary files
            target = folder / file.name
            if target.exists():
                os.replace(target, backup / file.name)
            moved.append(file.name)
            os.replace(file, target)
    except OSError as error:
        for name in moved:
            if (backup / name).exists():
                os.replace(backup / name, folder / name)
            else:
                (folder / name).unlink(missing_ok=True)
        raise OSError(error.errno, f"Saving the policy to {folder} failed while moving its files into place "
                      f"({error}); the files there were put back as they were.") from error  # fmt: skip


def _native_value_cell(operation: str, value: float | None) -> str:
    """A magnitude's native value for a markdown table cell (``|`` in units escaped)."""
    if value is None:
        return "–"
    op = OPERATIONS[operation]
    return f"{'±' if op.signed else ''}{value:.3g} {op.unit}".replace("|", "\\|")


def _autocast_disabled(device_type: str) -> contextlib.AbstractContextManager:
    """The ops' math runs in the images' dtype even inside a caller's ``torch.autocast`` (a bf16/fp16
    critic): autocast would run the grayscale matmul and Sharpness' convolution in half precision
    and mix dtypes in the blends."""
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _short_repr(value: Any, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters: error messages stay readable for hostile values."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _validate_config(operations, num_sub_policies, operation_count, temperature, magnitude_sampling, selection,
                     apply_temperature, magnitude_ranges) -> None:  # fmt: skip
    if not isinstance(operations, list | tuple) or not all(isinstance(name, str) for name in operations):
        raise ValueError(f"operations must be a list of op names, got {_short_repr(operations)}.")
    unknown = [name for name in operations if name not in OPERATIONS]
    if unknown:
        raise ValueError(f"Unknown operation(s) {_short_repr(unknown)}; available: {', '.join(OPERATIONS)}.")
    if not operations or len(set(operations)) != len(operations):
        raise ValueError(f"operations must be a non-empty list of distinct op names, got {operations}.")
    for name, value in (("num_sub_policies", num_sub_policies), ("operation_count", operation_count)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    for name, value in (("temperature", temperature), ("apply_temperature", apply_temperature)):
        if not _is_real(value) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {_short_repr(value)}.")
    if magnitude_sampling not in MAGNITUDE_SAMPLINGS:
        raise ValueError(
            f"magnitude_sampling must be one of {MAGNITUDE_SAMPLINGS}, got {_short_repr(magnitude_sampling)}."
        )
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {_short_repr(selection)}.")
    if not isinstance(magnitude_ranges, dict):
        raise ValueError(f"magnitude_ranges must map op names to [low, high], got {_short_repr(magnitude_ranges)}.")
    for name, bounds in magnitude_ranges.items():
        if name not in operations or not OPERATIONS[name].has_magnitude:
            raise ValueError(
                f"magnitude_ranges names {_short_repr(name)}, which is not an operation of this policy with a "
                "magnitude."
            )
        numbers = isinstance(bounds, list | tuple) and all(_is_real(value) for value in bounds)
        if not numbers or len(bounds) != 2 or not all(math.isfinite(value) for value in bounds):
            raise ValueError(f"magnitude_ranges[{name!r}] must be [low, high], got {_short_repr(bounds)}.")


REQUIRED_CONFIG_FIELDS = ("operations", "num_sub_policies", "operation_count", "temperature", "magnitude_sampling",
                          "selection", "apply_temperature", "magnitude_ranges")  # fmt: skip


def _check_config_file(name_or_path: str | Path, download_kwargs: dict[str, Any]) -> None:
    """Read ``config.json`` (a folder's, or the Hub repo's, downloaded once into the cache) and raise a
    ``ValueError`` naming it unless it holds one JSON object; a missing file is left to the load to report."""
    if os.path.isdir(name_or_path):
        path = Path(name_or_path) / CONFIG_NAME
        if not path.is_file():
            return
    else:
        options = ("revision", "cache_dir", "force_download", "token", "local_files_only")
        chosen = {key: download_kwargs[key] for key in options if key in download_kwargs}
        try:
            path = Path(hf_hub_download(str(name_or_path), CONFIG_NAME, **chosen))
        except EntryNotFoundError:
            return
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{path} is not valid JSON ({type(error).__name__}: {str(error)[:200]}).") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(config).__name__}.")


def _checked_config(config: dict, source: str) -> dict[str, Any]:
    """The constructor arguments in a loaded config, checked (types and values) before anything is built:
    every field that shapes the policy must be there; unknown fields are ignored with a warning."""
    if not isinstance(config, dict):
        raise ValueError(f"{source} must hold a JSON object, got {type(config).__name__}.")
    missing = [name for name in REQUIRED_CONFIG_FIELDS if name not in config]
    if missing:
        raise ValueError(
            f"{source} is missing field(s) {missing}; it was not written by hf-faa or was edited. "
            "Save the policy again with FasterAutoAugmentPolicy.save_pretrained()."
        )
    known = set(REQUIRED_CONFIG_FIELDS) | {"search_info"}
    unknown = sorted(set(config) - known)
    if unknown:
        warnings.warn(f"{source}: ignoring unknown field(s) {unknown} (written by a newer hf-faa?).", stacklevel=3)
    settings = {name: config[name] for name in known if name in config}
    try:
        _validate_config(**{name: settings[name] for name in REQUIRED_CONFIG_FIELDS})
        if not isinstance(settings.get("search_info", {}), dict):
            raise ValueError(f"search_info must be a JSON object, got {type(settings['search_info']).__name__}.")
    except ValueError as error:
        raise ValueError(f"{source} holds an invalid policy config: {error}") from error
    return settings


def _read_safetensors(path: str) -> dict[str, Tensor]:
    try:
        return safetensors.torch.load_file(path)
    except (safetensors.SafetensorError, OSError, ValueError) as error:
        raise ValueError(
            f"{path} is not a readable safetensors file ({error}); it may be truncated or corrupted: "
            "download or save the policy again."
        ) from error


def _checked_tensors(tensors: dict[str, Tensor], settings: dict[str, Any], source: str) -> dict[str, Tensor]:
    """``tensors`` if they are exactly the parameters a policy built from ``settings`` has (names, shapes,
    finite floats); any mismatch is a ``ValueError``."""
    shape = (settings["num_sub_policies"], settings["operation_count"], len(settings["operations"]))
    missing = sorted(set(PARAMETER_NAMES) - set(tensors))
    unexpected = sorted(set(tensors) - set(PARAMETER_NAMES))
    if missing or unexpected:
        raise ValueError(
            f"{source} does not match the policy config: missing tensors {missing}, unexpected tensors {unexpected}."
        )
    for name in PARAMETER_NAMES:
        tensor = tensors[name]
        if tuple(tensor.shape) != shape:
            raise ValueError(
                f"{source} does not match the policy config: tensor {name!r} has shape {list(tensor.shape)}, but "
                f"the config (num_sub_policies, operation_count, number of operations) needs {list(shape)}."
            )
        if not tensor.is_floating_point() or not torch.isfinite(tensor).all():
            raise ValueError(f"{source}: tensor {name!r} must hold finite floats.")
    return tensors


@torch.no_grad()
def _copy_parameters(policy: FasterAutoAugmentPolicy, tensors: dict[str, Tensor]) -> None:
    for name in PARAMETER_NAMES:
        getattr(policy, name).copy_(tensors[name])


# ---------------------------------------------------------------------------------------- presets


def _autoaugment_preset(dataset: str) -> FasterAutoAugmentPolicy:
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


def _uniform_preset(operations, ranges, num_ops: int, magnitude: float, magnitude_sampling: str, source: str):
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
