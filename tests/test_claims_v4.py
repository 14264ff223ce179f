"""Version 4 of the claims (docs/claims.md): the sustained crossing, the shared tests (bootstrap p,
Holm, McNemar and its detectable difference) against hand-computed values, and C2-C5 on small
synthetic runs with a known answer: pass, fail, censored, and a model that learned nothing."""

import math

import numpy as np
import pytest

from grokstudy.claims.crossing import item_areas, resampled_crossings, sustained_crossing, sustained_crossings
from grokstudy.claims.significance import (
    RESAMPLES,
    holm,
    mcnemar_p,
    mcnemar_power,
    minimal_detectable_difference,
    one_sided_p,
    paired_bootstrap,
    percentile_interval,
)

STEPS = np.arange(0, 5001, 250)


# The sustained crossing and the area


def test_the_crossing_is_interpolated_between_the_evaluation_before_and_the_first_held_one():
    times = [0, 100, 200, 300]
    assert sustained_crossing(times, [0.5, 0.8, 0.95, 0.97], 0.9) == pytest.approx(100 + 0.1 / 0.15 * 100)
    # A blip above the threshold that does not hold at the next evaluation does not count.
    blip = sustained_crossing([0, 100, 200, 300, 400], [0.5, 0.92, 0.85, 0.95, 0.96], 0.9)
    assert blip == pytest.approx(200 + 0.05 / 0.10 * 100)
    assert sustained_crossing(times, [0.95, 0.96, 0.97, 0.98], 0.9) == 0  # the first evaluation: t_0
    assert sustained_crossing(times, [0.1, 0.2, 0.9, 0.9], 0.9) == 200  # exactly at the threshold
    # Censored: only the last evaluation reaches it, or none does, or a single evaluation.
    assert sustained_crossing(times, [0.1, 0.2, 0.5, 0.95], 0.9) == math.inf
    assert sustained_crossing(times, [0.1, 0.2, 0.5, 0.6], 0.9) == math.inf
    assert sustained_crossing([0], [1.0], 0.9) == math.inf


def test_the_crossing_reads_steps_and_epochs_alike_and_many_curves_at_once():
    curves = np.array([[0.5, 0.8, 0.95, 0.97], [0.0, 0.95, 0.99, 1.0], [0.1, 0.1, 0.1, 0.95]])
    steps = np.array([0, 100, 200, 300])
    at_steps = sustained_crossings(steps, curves, 0.9)
    assert at_steps.tolist() == [sustained_crossing(steps, row, 0.9) for row in curves]
    assert at_steps[2] == math.inf
    epochs = steps * 512 / 3920
    assert sustained_crossings(epochs, curves, 0.9)[:2] == pytest.approx(at_steps[:2] * 512 / 3920)


def test_an_items_area_is_its_mean_correctness_over_the_span():
    correct = np.array([[0, 1, 1], [1, 1, 1], [0, 0, 0]])
    # item 0: (0 + 1) / 2 over 100 steps, then 1 over 200: 250 of 300
    assert item_areas([0, 100, 300], correct) == pytest.approx([250 / 300, 1, 0])


def test_resampled_curves_with_every_item_once_give_the_observed_crossing():
    correct = _learned_at(np.linspace(500, 3000, 40))
    once = np.ones((3, 40), dtype=int)
    observed = sustained_crossing(STEPS, correct.mean(axis=0), 0.9)
    assert resampled_crossings(STEPS, correct, once, 0.9) == pytest.approx([observed] * 3)


# The shared tests


def test_holm_adjusts_step_down_and_keeps_the_order_given():
    adjusted = holm([0.01, 0.04, 0.03])
    # sorted 0.01, 0.03, 0.04: 3 x 0.01 = 0.03, then max(0.03, 2 x 0.03) = 0.06, then max(0.06, 0.04)
    assert adjusted == pytest.approx([0.03, 0.06, 0.06])
    assert [a <= 0.05 for a in adjusted] == [True, False, False]  # 0.03 > 0.05 / 2 stops the steps
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])
    assert holm([0.02]) == [0.02]


def test_mcnemar_is_the_exact_binomial_tail():
    assert mcnemar_p(5, 0) == pytest.approx(1 / 32)
    assert mcnemar_p(6, 2) == pytest.approx((28 + 8 + 1) / 256)
    assert mcnemar_p(0, 0) == 1 and mcnemar_p(0, 3) == 1


def _power_by_hand(n, lead, share, level):
    """The power as the double sum, term by term, with the critical count from mcnemar_p."""
    given = (1 + lead / share) / 2
    total = 0.0
    for d in range(n + 1):
        critical = next((b for b in range(d + 1) if mcnemar_p(b, d - b) <= level), d + 1)
        tail = sum(math.comb(d, b) * given**b * (1 - given) ** (d - b) for b in range(critical, d + 1))
        total += math.comb(n, d) * share**d * (1 - share) ** (n - d) * tail
    return total


def test_the_minimal_detectable_difference_enumerates_the_power_exactly():
    assert mcnemar_power(12, 0.2, 0.5, 0.05) == pytest.approx(_power_by_hand(12, 0.2, 0.5, 0.05))
    assert mcnemar_power(15, 0.3, 0.3, 0.025) == pytest.approx(_power_by_hand(15, 0.3, 0.3, 0.025))
    # No discordant item seen: psi = delta and every discordant item is the model's; 2^-D <= 0.05
    # needs D >= 5, and P(Binomial(10, delta) >= 5) is 0.798 at 0.58 and 0.817 at 0.59.
    assert minimal_detectable_difference(10, 0.0, 0.05) == pytest.approx(0.59)
    assert minimal_detectable_difference(60, 0.1, 0.05) < minimal_detectable_difference(20, 0.1, 0.05)
    assert math.isnan(minimal_detectable_difference(3, 0.0, 0.05))  # 2^-3 > 0.05: nothing is detectable


def test_the_paired_bootstrap_p_counts_resamples_at_or_below_zero():
    assert one_sided_p(np.array([1.0, 2.0, 0.0, -1.0, np.nan])) == pytest.approx((1 + 3) / 6)
    always = paired_bootstrap(np.ones(30))
    assert (always.value, always.low, always.high, always.n) == (1, 1, 1, 30)
    assert always.p == pytest.approx(1 / (RESAMPLES + 1))
    assert paired_bootstrap(np.ones(19)) is None  # fewer than 20 items
    assert paired_bootstrap(np.r_[np.ones(15), -np.ones(15)]).p > 0.4
    # An undefined resample widens both ends; an infinite one reaches that end.
    assert percentile_interval(np.r_[np.ones(95), np.full(5, np.nan)], 0.95) == (-math.inf, math.inf)
    assert percentile_interval(np.r_[np.ones(90), np.full(10, np.inf)], 0.95) == (1, math.inf)


def _learned_at(learn, steps=STEPS) -> np.ndarray:
    return np.asarray(steps)[None, :] >= np.asarray(learn, dtype=float)[:, None]
