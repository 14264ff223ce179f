"""Monitor scoring: events with censoring, and causal alarms on series with a known change point."""

import random

import pandas as pd
import pytest

from grokstudy.monitors.detectors import Cusum, Threshold, alarm, increments
from grokstudy.monitors.events import events, first_sustained

STEPS = [0, *(round(10 ** (1 + 0.1 * k)) for k in range(31))]  # log-spaced, 10 ... 10000
CHANGE = STEPS[20]  # 1000


def series(seed: int, change: int | None = CHANGE, slope: float = 3.0, noise: float = 0.05) -> list[float]:
    """Flat with noise per log-step, then rising by `slope` per log10(step) from `change` on."""
    rng = random.Random(seed)
    values, level = [], 0.0
    for step in STEPS[1:]:
        level += rng.gauss(0.0, noise)
        if change is not None and step > change:
            level += slope * 0.1
        values.append(level)
    return [0.0, *values]


DETECTORS = [Cusum(kappa=1.0, limit=6.0), Threshold(tau=3.0, points=2)]


@pytest.mark.parametrize("detector", DETECTORS, ids=["cusum", "threshold"])
def test_the_alarm_comes_after_the_change_and_soon(detector):
    for seed in range(20):
        fired = alarm(STEPS, series(seed), reference_step=STEPS[10], detector=detector)
        assert fired is not None and CHANGE < fired <= STEPS[STEPS.index(CHANGE) + 3], (seed, fired)


@pytest.mark.parametrize("detector", DETECTORS, ids=["cusum", "threshold"])
def test_a_series_without_a_change_rarely_alarms(detector):
    false_alarms = sum(
        alarm(STEPS, series(seed, change=None), reference_step=STEPS[10], detector=detector) is not None
        for seed in range(50)
    )
    assert false_alarms <= 3


@pytest.mark.parametrize("detector", DETECTORS, ids=["cusum", "threshold"])
def test_the_alarm_never_reads_the_future(detector):
    """Cut the series at any step: the alarm up to there is the same as with the whole series."""
    values = series(3)
    full = alarm(STEPS, values, reference_step=STEPS[10], detector=detector)
    for cut in range(12, len(STEPS) + 1):
        seen = alarm(STEPS[:cut], values[:cut], reference_step=STEPS[10], detector=detector)
        assert seen == (full if full is not None and full <= STEPS[cut - 1] else None)


def test_sign_minus_one_watches_for_a_fall():
    falling = [-v for v in series(0)]
    assert alarm(STEPS, falling, STEPS[10], Cusum()) is None
    assert alarm(STEPS, falling, STEPS[10], Cusum(sign=-1)) is not None


def test_too_short_or_flat_a_past_is_refused_by_name():
    with pytest.raises(ValueError, match="up to the reference step 12"):
        increments(STEPS, series(0), reference_step=12)
    with pytest.raises(ValueError, match="do not vary"):
        increments(STEPS, [0.0] * len(STEPS), reference_step=STEPS[10])


def _metrics(train: list[float], test_id: list[float], every: int = 250) -> pd.DataFrame:
    rows = [
        {"step": i * every, "split": split, "accuracy": a}
        for split, values in (("train_inferred", train), ("test_inferred_id", test_id))
        for i, a in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_events_need_two_evaluations_in_a_row_and_a_run_that_never_crosses_is_censored():
    run = events(_metrics([0.2, 0.995, 1.0, 1.0, 1.0], [0.1, 0.55, 0.3, 0.6, 0.95]))
    assert (run.t_fit, run.t50, run.t90, run.last_step) == (250, 750, None, 1000)
    assert first_sustained([0, 1, 2], [0.95, 0.2, 0.92], 0.9) is None
    assert first_sustained([0, 1, 2], [0.2, 0.92, 0.95], 0.9) == 1


def test_events_name_a_missing_split():
    with pytest.raises(ValueError, match="no 'test_inferred_id' rows"):
        events(_metrics([0.5], [0.5]).query("split == 'train_inferred'"))
