"""Uncertainty for probe statistics."""

import numpy as np


def bootstrap_mean_ci(values: np.ndarray, resamples: int, confidence: float, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean, resampling items with replacement."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def paired_difference_ci(
    differences: np.ndarray, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of per-item differences (both measurements on the same items) with a percentile bootstrap
    CI that resamples items, so each item's two measurements stay together."""
    differences = np.asarray(differences, dtype=float)
    if len(differences) == 0:
        return float("nan"), float("nan"), float("nan")
    low, high = bootstrap_mean_ci(differences, resamples, confidence, seed=seed)
    return float(differences.mean()), low, high


def chance_mrr(n_candidates: int) -> float:
    """Expected 1/(1+rank) when the target's rank is uniform over n candidates: H_n / n."""
    return float(np.sum(1.0 / np.arange(1, n_candidates + 1)) / n_candidates)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (a closed formula; no need for scipy)."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)
