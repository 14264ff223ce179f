"""One claims-table row from a claim's per-replicate outcomes: per-seed values, k of n, a pooled estimate."""

import math

import numpy as np

from grokstudy.claims.criteria import (
    INCONCLUSIVE,
    MIXED,
    NOT_AS_STATED,
    NOT_REPRODUCED,
    NOT_TESTED,
    PASS,
    REPRODUCED,
    Outcome,
)
from grokstudy.claims.evidence import Replicate

# Two-sided 95 % quantiles of Student's t by degrees of freedom (a preset has at most 20 seeds).
T_95 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    11: 2.201,
    12: 2.179,
    13: 2.160,
    14: 2.145,
    15: 2.131,
    16: 2.120,
    17: 2.110,
    18: 2.101,
    19: 2.093,
}


def t_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean over seeds and its 95 % t interval (NaN bounds with fewer than two values)."""
    values = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(values) == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = T_95[len(values) - 1] * float(values.std(ddof=1)) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def overall_status(outcomes: list[Outcome]) -> str:
    """reproduced: every seed passes; inconclusive: every seed is; mixed: some pass, some do not;
    otherwise (none passes, some fail) not reproduced, or not tested as stated when a seed's
    measurement could not follow the paper's."""
    statuses = [out.status for out in outcomes]
    if not statuses:
        return NOT_TESTED
    if all(s == PASS for s in statuses):
        return REPRODUCED
    if all(s == INCONCLUSIVE for s in statuses):
        return INCONCLUSIVE
    if PASS in statuses:
        return MIXED
    return NOT_REPRODUCED if all(out.as_stated for out in outcomes) else NOT_AS_STATED


def summarize(outcomes: list[tuple[Replicate, Outcome | None]], value_name: str) -> dict:
    tested = [(rep, out) for rep, out in outcomes if out is not None]
    statuses = [out.status for _, out in tested]
    mean, low, high = t_interval([out.value for _, out in tested])
    if not tested:
        pooled = "-"
    elif len(tested) == 1:
        pooled = f"{value_name} {mean:.3f} (one seed: no spread)"
    else:
        pooled = f"{value_name} {mean:.3f} [{low:.3f}, {high:.3f}] (mean over {len(tested)} seeds, 95% t interval)"
    return {
        "measured": " | ".join(f"{rep.label}: {out.status}: {out.measured}" for rep, out in tested)
        or "nothing in this preset tests it",
        "seeds_passing": f"{statuses.count(PASS)} of {len(statuses)}" if statuses else "-",
        "pooled": pooled,
        "status": overall_status([out for _, out in tested]),
    }
