"""When an accuracy curve crosses a threshold for good, and the area under per-item curves
(docs/claims.md, "Definitions every version-4 test uses").

Both work on one curve or on many at once (a row per bootstrap resample), with time in steps or
in epochs alike.
"""

import numpy as np


def sustained_crossings(times, curves, threshold: float) -> np.ndarray:
    """Per curve (the last axis runs over evaluations at `times`), the time of its sustained crossing:
    the first evaluation k whose accuracy and the next one's are both >= threshold, interpolated
    linearly between evaluations k - 1 and k (t_k when k is the first evaluation). +inf without
    one: the curve is right-censored, including when only its last evaluation reaches the threshold."""
    times, curves = np.asarray(times, dtype=float), np.asarray(curves, dtype=float)
    if curves.shape[-1] < 2:
        return np.full(curves.shape[:-1], np.inf)
    above = curves >= threshold
    held = above[..., :-1] & above[..., 1:]
    k = held.argmax(axis=-1)
    before = np.maximum(k - 1, 0)
    a_k = np.take_along_axis(curves, k[..., None], axis=-1)[..., 0]
    a_before = np.take_along_axis(curves, before[..., None], axis=-1)[..., 0]
    # a_{k-1} < threshold <= a_k whenever k > 0, since k is the first sustained evaluation.
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(k > 0, (threshold - a_before) / (a_k - a_before), 1.0)
    crossed_at = times[before] + fraction * (times[k] - times[before])
    return np.where(held.any(axis=-1), crossed_at, np.inf)


def sustained_crossing(times, accuracies, threshold: float) -> float:
    """The sustained crossing of one curve (see sustained_crossings); +inf when censored."""
    return float(sustained_crossings(times, accuracies, threshold))


def item_areas(times, correct) -> np.ndarray:
    """Per item (rows of `correct`, 1 right and 0 wrong at each of `times`), the trapezoidal integral
    of its correctness over the times divided by their span: its mean correctness over the span."""
    times, correct = np.asarray(times, dtype=float), np.asarray(correct, dtype=float)
    widths = np.diff(times)
    heights = (correct[:, 1:] + correct[:, :-1]) / 2
    return heights @ widths / (times[-1] - times[0])


def resampled_crossings(times, correct, counts: np.ndarray, threshold: float) -> np.ndarray:
    """The sustained crossing of each resample's accuracy curve: `correct` is (items, evaluations),
    `counts` (resamples, items) says how often each resample draws each item."""
    curves = counts @ np.asarray(correct, dtype=float) / counts.shape[1]
    return sustained_crossings(times, curves, threshold)
