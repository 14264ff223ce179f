"""Versioned artifacts: seal a preset's results into DVC, restore them without retraining."""
