"""When to checkpoint and evaluate, and the learning rate at each step."""

import numpy as np


def checkpoint_steps(total: int, count: int, dense_fraction: float, dense_count: int) -> list[int]:
    """Step 0, evenly spaced steps over the first `dense_fraction` of training, then log-spaced steps to the end.

    Memorization happens early, so the first part of training is sampled densely.
    """
    dense_end = max(1, int(total * dense_fraction))
    dense = np.linspace(0, dense_end, dense_count + 1)
    spread = np.geomspace(dense_end, total, max(2, count - dense_count))
    steps = {0, total, *np.rint(dense).astype(int).tolist(), *np.rint(spread).astype(int).tolist()}
    return sorted(s for s in steps if 0 <= s <= total)


def evaluation_steps(total: int, every: int, checkpoints: list[int]) -> list[int]:
    return sorted(set(checkpoints) | set(range(0, total + 1, every)))


def learning_rate(step: int, base: float, warmup: int) -> float:
    """Linear warm-up to `base` over `warmup` steps, then constant."""
    if warmup <= 0:
        return base
    return base * min(1.0, (step + 1) / warmup)
