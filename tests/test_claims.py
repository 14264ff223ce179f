"""Claim criteria: an ordering counts only where it exceeds sampling noise."""

import pandas as pd
import pytest

from grokstudy.claims import _ordered_contrast
from grokstudy.stats import wilson_interval


def test_wilson_interval_matches_a_worked_value_and_narrows_with_n():
    low, high = wilson_interval(16, 352)  # 4.5 % of 352 test items
    assert low == pytest.approx(0.0282, abs=5e-4)
    assert high == pytest.approx(0.0725, abs=5e-4)
    low_big, high_big = wilson_interval(1600, 35200)
    assert high_big - low_big < (high - low) / 5
    assert wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)


def _metrics(accuracies: dict[str, float], n: int) -> pd.DataFrame:
    return pd.DataFrame(
        [{"run": run, "step": 3000, "split": "test_inferred_id", "accuracy": acc, "n": n} for run, acc in accuracies.items()]
    )


def test_an_ordering_within_noise_does_not_count():
    key = {"wd0.1": 0.1, "wd0.5": 0.5}.get
    _, increasing = _ordered_contrast(_metrics({"wd0.1": 0.045, "wd0.5": 0.054}, 352), None, ["wd0.5", "wd0.1"], key, "wd")
    assert not increasing
    measured, increasing = _ordered_contrast(_metrics({"wd0.1": 0.045, "wd0.5": 0.40}, 352), None, ["wd0.5", "wd0.1"], key, "wd")
    assert increasing
    assert measured.startswith("wd=0.1: ID 0.045 [")
    _, increasing = _ordered_contrast(_metrics({"wd0.1": 0.40, "wd0.5": 0.045}, 352), None, ["wd0.5", "wd0.1"], key, "wd")
    assert not increasing
