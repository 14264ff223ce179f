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


def _causal(effects: dict[int, tuple[float, float, float]], null_high: float) -> pd.DataFrame:
    rows = [{"run": "g", "network": "trained", "step": step, "split": "test_inferred_id", "position": "r2", "layer": 2,
             "effect": e, "ci_low": lo, "ci_high": hi, "share_of_total": 0.8, "seed": -1} for step, (e, lo, hi) in effects.items()]
    rows.append({"run": "g", "network": "random_init", "step": 0, "split": "test_inferred_id", "position": "r2", "layer": 2,
                 "effect": 0.0, "ci_low": 0.0, "ci_high": null_high, "share_of_total": float("nan"), "seed": 1})
    return pd.DataFrame(rows)


def test_causal_claim_compares_the_end_of_memorization_with_the_final_checkpoint():
    from grokstudy.claims import _causal_claim

    train = pd.DataFrame([{"run": "g", "step": s, "split": "train_inferred", "accuracy": a}
                          for s, a in [(0, 0.0), (100, 0.5), (200, 0.95), (400, 0.99)]])
    rising = _causal({0: (0, 0, 0), 200: (0.05, 0.03, 0.07), 400: (0.30, 0.25, 0.35)}, null_high=0.01)
    row = _causal_claim(rising, train, "g", 2, memorized=0.9)
    assert row["status"] == "pass"
    assert "at step 200" in row["measured"] and "at step 400" in row["measured"]
    # A rise inside the intervals, or one the random networks match, does not count.
    flat = _causal({0: (0, 0, 0), 200: (0.05, 0.03, 0.07), 400: (0.08, 0.06, 0.10)}, null_high=0.01)
    assert _causal_claim(flat, train, "g", 2, memorized=0.9)["status"] == "fail"
    matched_by_null = _causal({0: (0, 0, 0), 200: (0.05, 0.03, 0.07), 400: (0.30, 0.25, 0.35)}, null_high=0.4)
    assert _causal_claim(matched_by_null, train, "g", 2, memorized=0.9)["status"] == "fail"
    never = _causal_claim(rising, train, "g", 2, memorized=0.999)
    assert never["status"] == "fail" and "never reached" in never["measured"]
