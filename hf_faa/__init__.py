"""hf-faa: Faster AutoAugment (Hataya et al., ECCV 2020) for the Hugging Face ecosystem."""

from .ops import OPERATIONS
from .policy import FasterAutoAugmentPolicy, load_policy
from .transforms import PolicyCollator, PolicyTransform, augment_dataset

__version__ = "0.1.0"

__all__ = [
    "OPERATIONS",
    "FasterAutoAugmentPolicy",
    "PolicyCollator",
    "PolicyTransform",
    "__version__",
    "augment_dataset",
    "load_policy",
]
