"""Training from scratch with resumable, verifiable checkpoints."""
