"""Policy search: configuration, critic network, search loop and checkpoints."""
