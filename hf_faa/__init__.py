"""hf-faa: Faster AutoAugment (Hataya et al., ECCV 2020) for the Hugging Face ecosystem."""

from .ops import OPERATIONS
from .policy import FasterAutoAugmentPolicy

__version__ = "0.1.0"

__all__ = ["OPERATIONS", "FasterAutoAugmentPolicy", "__version__"]
