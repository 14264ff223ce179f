"""Paired tests as the recurrent claims read them: `grokstudy.claims.significance`'s paired
bootstrap (docs/claims.md, "Paired bootstrap"), kept as a value with a mean, an interval, a
one-sided p and the items shared, even when too few items leave it undecided."""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from grokstudy.claims.criteria import CLAIM_LEVEL, MIN_PAIRED_ITEMS
from grokstudy.claims.significance import paired_bootstrap


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
        return self.decided and self.p <= CLAIM_LEVEL

    def text(self) -> str:
        if not self.decided:
            return f"{self.n} shared items, fewer than {MIN_PAIRED_ITEMS}"
        return f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}] (p = {self.p:.4f}) on {self.n}"


def paired_test(differences) -> PairedTest:
    differences = np.asarray(differences, dtype=float)
    result = paired_bootstrap(differences)
    if result is None:
        return PairedTest(math.nan, math.nan, math.nan, math.nan, len(differences))
    return PairedTest(result.value, result.low, result.high, result.p, result.n)


def paired_on_shared(first: pd.Series, second: pd.Series) -> PairedTest:
    """first - second over the items (index labels) both hold."""
    shared = first.index.intersection(second.index)
    return paired_test(first.loc[shared].to_numpy(float) - second.loc[shared].to_numpy(float))
