"""Detector settings chosen on the development runs alone, then frozen into a file whose hash the
preset records. Scoring held-out runs reads the frozen file, never a fresh tuning.

For each series and detector kind the grid below is searched for the setting with the largest
median lead on the development runs among those whose false-alarm rate on the random-init band is
at most `max_false_alarm`; ties go to the fewer band alarms, then to the grid's order.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict

import numpy as np

from grokstudy.monitors.detectors import Cusum, Threshold
from grokstudy.monitors.leads import Series, alarm_of, lead

KINDS = {"cusum": Cusum, "threshold": Threshold}
SIGNS = (1, -1)
GRID = {
    "cusum": [{"kappa": k, "limit": h} for k, h in itertools.product((0.25, 0.5, 1.0), (1.0, 2.0, 4.0, 8.0))],
    "threshold": [{"tau": t, "points": r} for t, r in itertools.product((0.5, 1.0, 2.0, 3.0), (1, 2, 3))],
}


def grid(kind: str) -> list[Cusum | Threshold]:
    return [KINDS[kind](**params, sign=sign) for sign in SIGNS for params in GRID[kind]]


def band_false_alarm_rate(band: list[Series], detector: Cusum | Threshold) -> float:
    if not band:
        return math.nan
    return float(np.mean([alarm_of(s, detector) is not None for s in band]))


def dev_median_lead(dev: list[Series], detector: Cusum | Threshold) -> float:
    return float(np.median([lead(s.t90, alarm_of(s, detector), s.last_step) for s in dev]))


def tune(dev: list[Series], band: list[Series], kind: str, max_false_alarm: float) -> dict | None:
    """The chosen detector of one kind for one series, with its development lead and band false-alarm
    rate; None when no setting keeps the band's false alarms at or below `max_false_alarm`."""
    if not dev or any(s.t90 is None for s in dev):
        raise ValueError("every development run must reach T90: tuning maximizes the lead on them")
    best, best_key = None, None
    for order, detector in enumerate(grid(kind)):
        rate = band_false_alarm_rate(band, detector)
        if not rate <= max_false_alarm:
            continue
        median = dev_median_lead(dev, detector)
        key = (median, -rate, -order)
        if best_key is None or key > best_key:
            best, best_key = {"detector": detector, "dev_median_lead": median, "band_false_alarm": rate}, key
    return best


def detector_record(detector: Cusum | Threshold) -> dict:
    return {"kind": next(k for k, cls in KINDS.items() if isinstance(detector, cls)), **asdict(detector)}


def detector_from(record: dict) -> Cusum | Threshold:
    fields = {k: v for k, v in record.items() if k != "kind"}
    return KINDS[record["kind"]](**fields)
