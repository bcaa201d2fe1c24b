"""Policy search: configuration, critic network, search loop and checkpoints."""

from .config import SearchConfig
from .critic import WideResNetCritic
from .loop import run_search

__all__ = ["SearchConfig", "WideResNetCritic", "run_search"]
