"""Names and numbers shared by the policy's modules."""

from __future__ import annotations

from huggingface_hub import constants

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
# Rows whose selection weight is below this are left out of describe() by default.
DESCRIBE_MIN_WEIGHT = 0.01
