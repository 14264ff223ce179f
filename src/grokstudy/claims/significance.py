"""The tests version 4 of the claims shares (docs/claims.md, "Definitions every version-4 test
uses"): bootstrap resamples of items with a percentile interval and a one-sided p, the paired
bootstrap of a mean difference, Holm's step-down correction, and the exact one-sided McNemar test
with its minimal detectable difference.
"""

import math
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
SEED = 0  # numpy default_rng, as version 3's paired tests
CONFIDENCE = 0.95
MIN_ITEMS = 20  # fewer shared items than this: a paired test is inconclusive


def resample_counts(n: int, rng: np.random.Generator | None = None, resamples: int = RESAMPLES) -> np.ndarray:
    """(resamples, n): how often each of n items is drawn in each resample with replacement. The
    draws are version 3's (rng.integers), counted, so a statistic of any per-item table is one matrix
    product: counts @ table / n."""
    rng = np.random.default_rng(SEED) if rng is None else rng
    draws = rng.integers(0, n, size=(resamples, n))
    offsets = np.arange(resamples)[:, None] * n
    return np.bincount((draws + offsets).ravel(), minlength=resamples * n).reshape(resamples, n)


def percentile_interval(resampled: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The percentile interval of resampled statistics, which may be infinite (a resample without a
    crossing). A NaN statistic (undefined, e.g. two censored times) widens both ends: it is read as
    -inf for the lower bound and +inf for the upper."""
    resampled = np.asarray(resampled, dtype=float)
    tail = (1 - confidence) / 2
    undefined = np.isnan(resampled)
    low = np.quantile(np.where(undefined, -np.inf, resampled), tail, method="inverted_cdf")
    high = np.quantile(np.where(undefined, np.inf, resampled), 1 - tail, method="inverted_cdf")
    return float(low), float(high)


def one_sided_p(resampled: np.ndarray) -> float:
    """p for "the statistic > 0": (1 + resamples not above 0) / (B + 1). An undefined (NaN)
    resample counts against the claim."""
    resampled = np.asarray(resampled, dtype=float)
    return float((1 + np.count_nonzero(~(resampled > 0))) / (len(resampled) + 1))


@dataclass(frozen=True)
class Bootstrap:
    """A statistic on the data, its percentile interval and one-sided p over item resamples."""

    value: float
    low: float
    high: float
    p: float
    n: int  # items resampled

    @classmethod
    def of(cls, value: float, resampled: np.ndarray, n: int, confidence: float = CONFIDENCE) -> "Bootstrap":
        return cls(float(value), *percentile_interval(resampled, confidence), one_sided_p(resampled), n)

    def text(self, unit: str = "", digits: int = 3) -> str:
        return (
            f"{self.value:+.{digits}f}{unit} [{self.low:+.{digits}f}, {self.high:+.{digits}f}], "
            f"p = {self.p:.4f}, {self.n} items"
        )


def paired_bootstrap(differences: np.ndarray) -> Bootstrap | None:
    """The paired bootstrap of per-item differences: their mean, interval and p for "mean > 0";
    None with fewer than MIN_ITEMS items."""
    differences = np.asarray(differences, dtype=float)
    n = len(differences)
    if n < MIN_ITEMS:
        return None
    return Bootstrap.of(differences.mean(), resample_counts(n) @ differences / n, n)


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given: the j-th smallest is rejected at level alpha (its
    adjusted p <= alpha) when p_(i) <= alpha / (m - i + 1) for every i <= j."""
    m = len(p_values)
    adjusted, running = [0.0] * m, 0.0
    for rank, index in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def mcnemar_p(b: int, c: int) -> float:
    """Exact one-sided McNemar p for "the first beats the second": P(Binomial(b + c, 1/2) >= b),
    with b the items only the first gets right and c those only the second does."""
    discordant = b + c
    return sum(math.comb(discordant, k) for k in range(b, discordant + 1)) / 2**discordant


def _binomial_pmf(n: int, q: float) -> np.ndarray:
    """P(Binomial(n, q) = k) for k = 0..n, through log-factorials (q may be 0 or 1)."""
    k = np.arange(n + 1)
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_q = np.where(k > 0, k * np.log(q), 0.0)
        log_not_q = np.where(n - k > 0, (n - k) * np.log1p(-q), 0.0)
    return np.exp(log_factorial[n] - log_factorial[k] - log_factorial[n - k] + log_q + log_not_q)


def _critical_counts(n: int, level: float) -> np.ndarray:
    """Per discordant count D = 0..n, the smallest b that the one-sided McNemar test rejects at
    `level` (D + 1 when none does)."""
    critical = np.empty(n + 1, dtype=int)
    for discordant in range(n + 1):
        upper_tails = np.cumsum(_binomial_pmf(discordant, 0.5)[::-1])[::-1]  # P(X >= b), b = 0..D
        rejecting = np.flatnonzero(upper_tails <= level)
        critical[discordant] = rejecting[0] if len(rejecting) else discordant + 1
    return critical


def mcnemar_power(n: int, lead: float, discordant_share: float, level: float, critical=None) -> float:
    """Exact power of the one-sided McNemar test on n items when the model leads the baseline by
    `lead` with discordant share psi: D ~ Binomial(n, psi), then b ~ Binomial(D, (1 + lead/psi) / 2)."""
    critical = _critical_counts(n, level) if critical is None else critical
    given = (1 + lead / discordant_share) / 2
    rejection = [_binomial_pmf(d, given)[critical[d] :].sum() for d in range(n + 1)]
    return float(_binomial_pmf(n, discordant_share) @ np.asarray(rejection))


def minimal_detectable_difference(
    n: int, observed_discordant_share: float, level: float, power: float = 0.8, step: float = 0.01
) -> float:
    """The smallest lead over the baseline (grid `step`) that the one-sided McNemar test at `level`
    detects with probability >= `power` on n items, with the discordant share max(observed, lead).
    NaN when no lead up to 1 is detectable (too few items)."""
    critical = _critical_counts(n, level)
    for lead in np.arange(1, round(1 / step) + 1) * step:
        share = max(observed_discordant_share, lead)
        if mcnemar_power(n, lead, share, level, critical) >= power:
            return round(float(lead), 10)
    return math.nan
