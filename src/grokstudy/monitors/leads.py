"""Alarms on monitor series, scored against the events they try to announce.

A series is one (monitor, site) of one run. Its detector starts from the run's own fit, read off
the monitor job's training accuracy (test-free): the checkpoints up to the first one whose
training accuracy reaches the fit threshold scale its increments. A run that never fits is scaled
up to the development runs' median fit instead, so it can still raise a false alarm.

The lead of an alarm is log10(T90 / t_alarm): positive when the alarm came first. A run that
reached T90 is a hit (alarm before T90), late (at or after it), or a miss (no alarm; for medians
and paired differences it counts as an alarm at its last step, the most generous reading). A run
that never reached T90 is censored: an alarm on it is a false alarm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from grokstudy.monitors import registry
from grokstudy.monitors.detectors import Cusum, Threshold, alarm

FIT_SERIES = ("train_accuracy", "train")
# The nulls that read the network (the null 2 and 3): the same detector on these series.
NULL_SERIES = {
    "train_loss": ("train_loss", "train"),
    "train_accuracy": ("train_accuracy", "train"),
    "weight_norm": ("norm", "total"),
}
SCHEDULE = "schedule"


@dataclass(frozen=True)
class Series:
    """One monitor's course on one network, and what it is scored against."""

    run: str
    steps: list[int]
    values: list[float]
    reference: int  # the detector's scaling window ends here
    t90: int | None  # None: the run never generalized (censored), or a band trajectory
    last_step: int


def fit_step(frame: pd.DataFrame, threshold: float) -> int | None:
    """The first step at which the monitor job's training accuracy reaches `threshold`."""
    rows = select(frame, FIT_SERIES)
    hits = rows[rows["value"] >= threshold]
    return int(hits["step"].min()) if not hits.empty else None


def select(frame: pd.DataFrame, key: tuple[str, str]) -> pd.DataFrame:
    monitor, site = key
    return frame[(frame["monitor"] == monitor) & (frame["site"] == site)].sort_values("step")


def series_keys(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """The registry's candidate series and the nulls' series in a monitor table, in a fixed order.
    A candidate with no series in the table is an error: no monitor is skipped silently."""
    present = list(dict.fromkeys(zip(frame["monitor"], frame["site"], strict=True)))
    keys = []
    for monitor, site in registry.candidates():
        found = [(m, s) for m, s in present if m == monitor and (site is None or s == site)]
        if not found:
            raise ValueError(
                f"candidate monitor {monitor}|{site or '*'} has no series in the monitor tables; "
                f"allowed: tables of every group in grokstudy.monitors.registry"
            )
        keys += found
    missing = [key for key in NULL_SERIES.values() if key not in present]
    if missing:
        raise ValueError(
            f"the nulls' series {missing} are not in the monitor tables; the fit and weights groups write them"
        )
    return keys + list(NULL_SERIES.values())


def lead(t90: int | None, t_alarm: int | None, last_step: int) -> float:
    """log10(T90 / t_alarm); a miss counts as an alarm at the last step; nan when censored."""
    if t90 is None:
        return math.nan
    return math.log10(t90 / (t_alarm if t_alarm is not None else last_step))


def outcome(t90: int | None, t_alarm: int | None) -> str:
    if t90 is None:
        return "false_alarm" if t_alarm is not None else "quiet"
    if t_alarm is None:
        return "miss"
    return "hit" if t_alarm < t90 else "late"


def alarm_of(series: Series, detector: Cusum | Threshold) -> int | None:
    """The detector's first alarm on the series, or None (also when the run's past cannot scale it)."""
    try:
        return alarm(series.steps, series.values, series.reference, detector)
    except ValueError:
        return None


def scored(run: str, t_alarm: int | None, t90: int | None, last_step: int) -> dict:
    """One run's alarm with its lead and outcome."""
    return {
        "run": run,
        "t_alarm": t_alarm,
        "t90": t90,
        "lead": lead(t90, t_alarm, last_step),
        "outcome": outcome(t90, t_alarm),
    }


def score(series: Series, detector: Cusum | Threshold) -> dict:
    return scored(series.run, alarm_of(series, detector), series.t90, series.last_step)


def schedule_alarm(median_t90: int, fraction: float) -> int:
    """The schedule-only null: an alarm at a fixed fraction of the development runs' median T90."""
    return round(fraction * median_t90)


def exact_sign_test(differences: list[float]) -> float:
    """One-sided exact sign test of 'the difference is positive': P(at least k of n positive | p = 1/2),
    ties dropped. 1.0 with no untied difference."""
    untied = [d for d in differences if d != 0 and not math.isnan(d)]
    n, k = len(untied), sum(d > 0 for d in untied)
    if n == 0:
        return 1.0
    return sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n


def hierarchical_bootstrap_median(
    values: dict[str, list[float]], resamples: int, confidence: float, seed: int = 0
) -> tuple[float, float, float]:
    """The median over configurations of each configuration's median, with a percentile interval
    that resamples configurations, then seeds within each (values: configuration -> per-seed values)."""
    groups = [np.asarray(v, dtype=float) for v in values.values() if len(v)]
    if not groups:
        return math.nan, math.nan, math.nan
    point = float(np.median([np.median(g) for g in groups]))
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    for i in range(resamples):
        chosen = [groups[j] for j in rng.integers(0, len(groups), size=len(groups))]
        draws[i] = np.median([np.median(g[rng.integers(0, len(g), size=len(g))]) for g in chosen])
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return point, float(low), float(high)
