"""PolicyConfig: the one list of the settings that shape a policy (besides its parameters), with their
defaults and checks; ``config.json`` holds them, and :class:`FasterAutoAugmentPolicy` takes them as
arguments."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any

from ..ops import DEFAULT_OPERATIONS
from .validation import validate_config


@dataclass
class PolicyConfig:
    """Checked on construction (``ValueError`` naming the field); see :class:`FasterAutoAugmentPolicy`."""

    operations: list[str] = field(default_factory=lambda: list(DEFAULT_OPERATIONS))
    num_sub_policies: int = 10
    operation_count: int = 2
    temperature: float = 0.05
    magnitude_sampling: str = "fixed"
    selection: str = "weighted"
    apply_temperature: float = 0.1
    magnitude_ranges: dict[str, list[float]] = field(default_factory=dict)
    search_info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_config(self)
        self.operations = list(self.operations)
        self.magnitude_ranges = {name: [float(v) for v in bounds] for name, bounds in self.magnitude_ranges.items()}
        self.search_info = dict(self.search_info)

    @classmethod
    def from_file(cls, config: Any, source: str) -> PolicyConfig:
        """The config read from a file (``config.json``, a JSON document), checked before anything is built:
        every field that shapes the policy must be there; unknown fields are ignored with a warning."""
        if not isinstance(config, dict):
            raise ValueError(f"{source} must hold a JSON object, got {type(config).__name__}.")
        missing = [name for name in SHAPE_FIELDS if name not in config]
        if missing:
            raise ValueError(
                f"{source} is missing field(s) {missing}; it was not written by hf-faa or was edited. "
                "Save the policy again with FasterAutoAugmentPolicy.save_pretrained()."
            )
        unknown = sorted(set(config) - set(CONFIG_FIELDS))
        if unknown:
            warnings.warn(f"{source}: ignoring unknown field(s) {unknown} (written by a newer hf-faa?).", stacklevel=3)
        try:
            return cls(**{name: config[name] for name in CONFIG_FIELDS if name in config})
        except ValueError as error:
            raise ValueError(f"{source} holds an invalid policy config: {error}") from error


CONFIG_FIELDS = tuple(config_field.name for config_field in dataclasses.fields(PolicyConfig))
# the fields without which a saved policy cannot be rebuilt (search_info is provenance, optional)
SHAPE_FIELDS = tuple(name for name in CONFIG_FIELDS if name != "search_info")
