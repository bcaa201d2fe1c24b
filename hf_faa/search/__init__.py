"""Policy search: configuration, critic network, search loop and checkpoints."""

from .config import SearchConfig
from .critic import WideResNetCritic
from .loop import initial_policy, run_search

__all__ = ["SearchConfig", "WideResNetCritic", "initial_policy", "run_search"]
