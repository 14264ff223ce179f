"""Version 4's paired bootstrap (docs/claims.md, "Paired bootstrap"): the mean of per-item (or
per-query) differences, its 95 % percentile interval, and the one-sided p-value of "mean > 0", an
effect counting as shown at p <= LEVEL. Fewer than MIN_PAIRED_ITEMS shared items decide nothing.

It resamples as `grokstudy.stats.paired_difference_ci` does (same generator, seed and count, so the
interval is the same) but keeps the resampled means for the p-value. It lives beside the claims
because every probe imports grokstudy.stats: an edit there would rerun every probe of every preset.
"""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from grokstudy.claims.criteria import MIN_PAIRED_ITEMS

RESAMPLES, SEED, CONFIDENCE = 2000, 0, 0.95
LEVEL = 0.025


@dataclass(frozen=True)
class PairedTest:
    mean: float
    low: float
    high: float
    p: float
    n: int  # shared items

    @property
    def decided(self) -> bool:
        return self.n >= MIN_PAIRED_ITEMS

    @property
    def shown(self) -> bool:
        """The difference is above 0 at the level."""
        return self.decided and self.p <= LEVEL

    def text(self) -> str:
        if not self.decided:
            return f"{self.n} shared items, fewer than {MIN_PAIRED_ITEMS}"
        return f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}] (p = {self.p:.4f}) on {self.n}"


def paired_test(differences) -> PairedTest:
    differences = np.asarray(differences, dtype=float)
    n = len(differences)
    if n < MIN_PAIRED_ITEMS:
        return PairedTest(math.nan, math.nan, math.nan, math.nan, n)
    rng = np.random.default_rng(SEED)
    means = differences[rng.integers(0, n, size=(RESAMPLES, n))].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    p = (1 + int((means <= 0).sum())) / (RESAMPLES + 1)
    return PairedTest(float(differences.mean()), float(low), float(high), p, n)


def paired_on_shared(first: pd.Series, second: pd.Series) -> PairedTest:
    """first - second over the items (index labels) both hold."""
    shared = first.index.intersection(second.index)
    return paired_test(first.loc[shared].to_numpy(float) - second.loc[shared].to_numpy(float))
