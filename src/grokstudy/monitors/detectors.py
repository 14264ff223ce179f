"""Causal alarms on a monitor's series: each decides at step t from the values up to t only.

The series is turned into standardized increments: the difference between consecutive values per
unit of log10(step), standardized by the mean and standard deviation of the increments up to a
reference step (T_fit: training data only), so the scale comes from the run's own past. Two
detectors read the increments:
- a one-sided CUSUM, S_k = max(0, S_{k-1} + z_k - kappa), alarming at the first S_k > limit;
- a threshold rule, alarming when z_k > tau for r consecutive points.
A `sign` of -1 watches for a fall instead of a rise.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Cusum:
    kappa: float = 0.5
    limit: float = 4.0
    sign: int = 1


@dataclass(frozen=True)
class Threshold:
    tau: float = 2.0
    points: int = 2
    sign: int = 1


def increments(steps: list[int], values: list[float], reference_step: int, min_reference: int = 3) -> list[float]:
    """Standardized increments per log10(step), one per step after the first with step > 0. The
    mean and spread come from the increments at or before `reference_step`; fewer than
    `min_reference` of them, or no spread, is an error: the run's past cannot scale its future."""
    points = [(s, v) for s, v in zip(steps, values, strict=True) if s > 0]
    raw = [(v1 - v0) / (math.log10(s1) - math.log10(s0)) for (s0, v0), (s1, v1) in itertools.pairwise(points)]
    reference = [d for d, (s, _) in zip(raw, points[1:], strict=True) if s <= reference_step]
    if len(reference) < min_reference:
        raise ValueError(
            f"{len(reference)} increments up to the reference step {reference_step}; at least {min_reference} needed"
        )
    mean = sum(reference) / len(reference)
    spread = math.sqrt(sum((d - mean) ** 2 for d in reference) / (len(reference) - 1))
    if spread == 0:
        raise ValueError(f"the increments up to the reference step {reference_step} do not vary")
    return [(d - mean) / spread for d in raw]


def alarm(steps: list[int], values: list[float], reference_step: int, detector: Cusum | Threshold) -> int | None:
    """The first step after the reference step at which the detector fires, or None."""
    positive = [s for s in steps if s > 0]
    scores = [detector.sign * z for z in increments(steps, values, reference_step)]
    cusum, run = 0.0, 0
    for step, z in zip(positive[1:], scores, strict=True):
        if step <= reference_step:
            continue
        if isinstance(detector, Cusum):
            cusum = max(0.0, cusum + z - detector.kappa)
            if cusum > detector.limit:
                return step
        else:
            run = run + 1 if z > detector.tau else 0
            if run >= detector.points:
                return step
    return None
