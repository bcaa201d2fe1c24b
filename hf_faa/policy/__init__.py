"""FasterAutoAugmentPolicy: the learnable augmentation policy, its relaxed and discrete forwards,
its description, presets, and its Hub format (``config.json`` + ``model.safetensors`` + card).

A policy has ``num_sub_policies`` sub-policies of ``operation_count`` stages. Every stage holds,
for each of the policy's ``operations``, a selection logit, a magnitude in [0, 1] and an
apply-probability in [0, 1]: three tensors ``[num_sub_policies, operation_count, num_operations]``.
Each image draws its own sub-policy; each stage then picks an op from
``softmax(logits / temperature)`` and applies it with its probability at its magnitude.

Modules: ``config`` (:class:`PolicyConfig`, the one list of settings), ``module`` (the class: its
parameters), ``forward`` (relaxed and discrete forwards), ``grouping`` (one op per group of images),
``description`` (tables and JSON), ``hub`` (save, load, push, card), ``card`` (the card's fixed parts),
``files`` (atomic saves), ``validation`` (checks on configs and weights), ``presets`` (the published
policies), ``constants``.
"""

from .config import PolicyConfig
from .constants import (
    CONFIG_NAME,
    DESCRIBE_MIN_WEIGHT,
    EXCLUDED_LOGIT,
    MAGNITUDE_SAMPLINGS,
    PARAMETER_NAMES,
    POLICY_INITS,
    PROBABILITY_EPSILON,
    SAMPLES_NAME,
    SELECTIONS,
    WEIGHTS_NAME,
)
from .forward import DiscreteChoices
from .module import FasterAutoAugmentPolicy
from .presets import PRESET_PREFIX, PRESETS, load_policy

__all__ = [
    "CONFIG_NAME",
    "DESCRIBE_MIN_WEIGHT",
    "EXCLUDED_LOGIT",
    "MAGNITUDE_SAMPLINGS",
    "PARAMETER_NAMES",
    "POLICY_INITS",
    "PRESETS",
    "PRESET_PREFIX",
    "PROBABILITY_EPSILON",
    "SAMPLES_NAME",
    "SELECTIONS",
    "WEIGHTS_NAME",
    "DiscreteChoices",
    "PolicyConfig",
    "FasterAutoAugmentPolicy",
    "load_policy",
]
