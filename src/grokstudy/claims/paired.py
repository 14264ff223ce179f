"""The paired tests of criteria version 4 (docs/claims.md, "Definitions every version-4 test
uses"): a one-sided bootstrap test of per-item differences, and Holm's step-down correction."""

import math
from dataclasses import dataclass

import numpy as np

RESAMPLES, SEED, CONFIDENCE = 2000, 0, 0.95
# Fewer shared items than this: no paired reading at all.
MIN_PAIRED_ITEMS = 20


@dataclass(frozen=True)
class PairedTest:
    mean: float  # of the per-item differences
    low: float  # 95 % percentile bootstrap interval
    high: float
    p: float  # one-sided, for "mean > 0": (1 + resampled means <= 0) / (resamples + 1)
    n: int

    @property
    def text(self) -> str:
        return f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}] on {self.n}, p = {self.p:.4f}"


def paired_test(differences, resamples: int = RESAMPLES, seed: int = SEED) -> PairedTest:
    """Bootstrap over items (numpy default_rng(seed)); nan everywhere below MIN_PAIRED_ITEMS items."""
    d = np.asarray(differences, dtype=float)
    if len(d) < MIN_PAIRED_ITEMS:
        return PairedTest(math.nan, math.nan, math.nan, math.nan, len(d))
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(resamples, len(d)))].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    p = (1 + int((means <= 0).sum())) / (resamples + 1)
    return PairedTest(float(d.mean()), float(low), float(high), p, len(d))


def holm(pvalues: dict) -> dict:
    """Holm's step-down adjusted p-values, key by key: reject a member at level a when its adjusted
    p is <= a. A nan p (an untestable member) stays nan and counts as a member of the family."""
    m = len(pvalues)
    ordered = sorted(pvalues, key=lambda key: (math.isnan(pvalues[key]), pvalues[key]))
    adjusted, running = {}, 0.0
    for i, key in enumerate(ordered):
        p = pvalues[key]
        if math.isnan(p):
            adjusted[key] = math.nan
            continue
        running = max(running, min(1.0, (m - i) * p))
        adjusted[key] = running
    return adjusted
