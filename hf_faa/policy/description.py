"""The policy in words and tables (describe, summarize, markdown) and as JSON."""

from __future__ import annotations

import json
from typing import Any

import torch

from ..ops import OPERATIONS
from .config import PolicyConfig
from .constants import DESCRIBE_MIN_WEIGHT, PARAMETER_NAMES
from .validation import checked_tensors, copy_parameters


def native_value_cell(operation: str, value: float | None) -> str:
    """A magnitude's native value for a markdown table cell (``|`` in units escaped)."""
    if value is None:
        return "–"
    op = OPERATIONS[operation]
    return f"{'±' if op.signed else ''}{value:.3g} {op.unit}".replace("|", "\\|")


class PolicyDescription:
    """Descriptions of :class:`hf_faa.policy.FasterAutoAugmentPolicy` (a mixin)."""

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
                f"| {row['probability']:.2f} | {magnitude} | {native_value_cell(row['operation'], row['value'])} |"
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
                f"| {magnitude} | {native_value_cell(row['operation'], row['value'])} |"
            )
        return "\n".join(lines)

    def to_json(self) -> str:
        """Config and parameters as indented JSON, for humans and diffs (lossless for float32)."""
        state = {name: getattr(self, name).detach().cpu().tolist() for name in PARAMETER_NAMES}
        return json.dumps({"config": self.config, "parameters": state}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> PolicyDescription:
        """Inverse of :meth:`to_json`; the config and tensors are validated like a Hub load."""
        try:
            document = json.loads(text)
            config, parameters = document["config"], document["parameters"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(
                f"Not a policy JSON document ({error}); expected {{'config': ..., 'parameters': ...}} "
                "as written by FasterAutoAugmentPolicy.to_json()."
            ) from error
        settings = PolicyConfig.from_file(config, source="the JSON document")
        try:
            tensors = {name: torch.tensor(values, dtype=torch.float32) for name, values in parameters.items()}
        except (AttributeError, TypeError, ValueError) as error:
            raise ValueError(f"The JSON document's parameters are not lists of numbers ({error}).") from error
        policy = cls(**vars(settings))
        copy_parameters(policy, checked_tensors(tensors, settings, source="the JSON document"))
        return policy
