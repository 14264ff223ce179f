"""Version 4 of the claims (docs/claims.md): the sustained crossing, the shared tests (bootstrap p,
Holm, McNemar and its detectable difference) against hand-computed values, and C2-C5 on small
synthetic runs with a known answer: pass, fail, censored, and a model that learned nothing."""

import math

import numpy as np
import pandas as pd
import pytest

from grokstudy.claims import criteria
from grokstudy.claims.criteria import FAIL, INCONCLUSIVE, PASS
from grokstudy.claims.crossing import item_areas, resampled_crossings, sustained_crossing, sustained_crossings
from grokstudy.claims.evidence import Replicate
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
from tests.test_claims import WORLD, _baselines, _evidence, _run

ID, OOD = "test_inferred_id", "test_inferred_ood"
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


# Synthetic runs: item i is answered right from step learn[i] on.


def _learned_at(learn, steps=STEPS) -> np.ndarray:
    return np.asarray(steps)[None, :] >= np.asarray(learn, dtype=float)[:, None]


def _tables(run, correct, steps=STEPS, split=ID, epoch_per_step=0.1, prefix="q"):
    """A run's metrics rows and predictions for one split from its (items, evaluations) table."""
    metrics = [
        {"run": run, "step": int(s), "epoch": s * epoch_per_step, "split": split, "accuracy": a, "n": len(correct)}
        for s, a in zip(steps, correct.mean(axis=0), strict=True)
    ]
    prompts = [f"{prefix}{i}" for i in range(len(correct))]
    predictions = pd.DataFrame(
        [
            {"run": run, "step": int(s), "split": split, "prompt": p, "correct": bool(correct[i, j])}
            for j, s in enumerate(steps)
            for i, p in enumerate(prompts)
        ]
    )
    return metrics, predictions


def _combine(parts, **kwargs):
    metrics = [row for rows, _ in parts for row in rows]
    return _evidence(metrics, predictions=pd.concat([p for _, p in parts]), **kwargs)


def _rep(evidence):
    return Replicate(None, {run: run for run in evidence.config["runs"]})


def _spread(start, end, n=120, seed=0):
    return np.random.default_rng(seed).uniform(start, end, n)


# C2


def _ood_baselines(correct_prompts, n):
    entry = {"name": "relation_frequency", "correct": len(correct_prompts), "n": n}
    base = _baselines(ood_share=(len(correct_prompts), n))
    base["splits"][OOD] = {**entry, "correct_prompts": sorted(correct_prompts)}
    return base


def _c2(runs_ood: dict[str, range], baseline_right: int = 8, n: int = 40, id_curve=None):
    """Runs that crossed ID at step 1000 (or `id_curve`), each right on its range of the OOD items q0..q{n-1}
    at its last evaluation (step 3000); the baseline is right on q0..q{baseline_right - 1}."""
    steps = [0, 1000, 2000, 3000]
    parts, runs = [], {}
    for run, right in runs_ood.items():
        runs[run] = _run()
        id_correct = _learned_at(np.r_[np.full(95, 1000), np.full(5, np.inf)], steps)
        parts.append(_tables(run, id_correct if id_curve is None else id_curve, steps))
        ood = np.zeros((n, 4), dtype=bool)
        ood[right, -1] = True
        parts.append(_tables(run, ood, steps, split=OOD))
    baselines = {"d": _ood_baselines([f"q{i}" for i in range(baseline_right)], n)}
    ev = _combine(parts, runs=runs, baselines=baselines)
    return criteria.no_ood_generalization(ev, _rep(ev))


def test_c2_pairs_the_model_with_the_baseline_item_by_item():
    same = _c2({"g": range(8)})  # right exactly where the baseline is: b = c = 0
    assert same.status == PASS and same.value == 0
    assert "b = 0, c = 0, McNemar p = 1.0000" in same.measured
    beyond = _c2({"g": range(18)})  # 10 items more than the baseline: p = 2^-10
    assert beyond.status == FAIL and beyond.value == pytest.approx(10 / 40)
    assert "McNemar p = 0.0010" in beyond.measured and "beyond the baseline at 0.05 (Holm over 1): g" in beyond.measured


def test_c2_corrects_over_the_seeds_runs_with_holm():
    one = _c2({"g": range(13)})  # b = 5, c = 0: p = 1/32 <= 0.05
    assert one.status == FAIL
    # With a second run (b = 6, c = 2: p = 37/256) the smallest p needs 0.025: 2 x 1/32 = 0.0625 > 0.05.
    two = _c2({"g": range(13), "h": range(2, 14)})
    assert two.status == PASS and "b = 6, c = 2, McNemar p = 0.1445" in two.measured
    assert "Holm p = 0.0625" in two.measured and "no run beyond the baseline" in two.measured


def test_c2_prints_the_minimal_detectable_difference():
    outcome = _c2({"g": range(0)}, baseline_right=0, n=10)  # b = c = 0 on 10 items, level 0.05
    assert outcome.status == PASS and "minimal detectable difference 0.59" in outcome.measured


def test_c2_needs_a_sustained_id_crossing_and_per_item_baselines():
    only_at_the_end = _learned_at(np.r_[np.full(95, 3000), np.full(5, np.inf)], [0, 1000, 2000, 3000])
    outcome = _c2({"g": range(30)}, id_curve=only_at_the_end)
    assert outcome.status == INCONCLUSIVE and "untested (no sustained ID crossing): g" in outcome.measured
    nothing = _c2({"g": range(0)}, id_curve=np.zeros((100, 4), dtype=bool))
    assert nothing.status == INCONCLUSIVE
    parts = [_tables("g", _learned_at(np.full(100, 1000), [0, 1000, 2000]), [0, 1000, 2000])]
    parts.append(_tables("g", np.ones((10, 3), dtype=bool), [0, 1000, 2000], split=OOD))
    old = _combine(parts)  # baselines.json without correct_prompts
    with pytest.raises(ValueError, match="prepare the dataset again"):
        criteria.no_ood_generalization(old, _rep(old))


# C3


def _phi_runs(learn: dict[float, np.ndarray], steps: dict[float, np.ndarray] | None = None):
    """One world at three values of phi (the same ID items q0..), item i learned at learn[phi][i]."""
    runs = {f"p{phi}": _run(f"d{phi}") for phi in learn}
    datasets = {f"d{phi}": {**WORLD, "phi": phi} for phi in learn}
    steps = steps or {}
    parts = [
        _tables(f"p{phi}", _learned_at(t, steps.get(phi, STEPS)), steps.get(phi, STEPS)) for phi, t in learn.items()
    ]
    ev = _combine(parts, runs=runs, datasets=datasets)
    return criteria.phi_order(ev, _rep(ev))


def test_c3_reads_the_time_to_the_sustained_crossing_pair_by_pair():
    ordered = {5.4: _spread(2000, 3500, seed=1), 7.2: _spread(1000, 2500, seed=2), 18.0: _spread(0, 800, seed=3)}
    outcome = _phi_runs(ordered)
    assert outcome.status == PASS and outcome.value > 0.2
    assert "5.4->7.2: crossing steps, lower minus higher, +" in outcome.measured
    assert "18.0: sustained ID crossing at step" in outcome.measured
    # phi = 7.2 no faster than 5.4: the same items learned at the same steps.
    tied = _phi_runs({**ordered, 7.2: ordered[5.4]})
    assert tied.status == FAIL and "p = 1.0000" in tied.measured
    assert _phi_runs({**ordered, 5.4: ordered[7.2], 7.2: ordered[5.4]}).status == FAIL  # the wrong way round


def test_c3_reads_the_area_to_the_pairs_horizon_when_a_run_is_censored():
    never = np.r_[_spread(2000, 4500, n=96, seed=1), np.full(24, np.inf)]  # ends at ID 0.8
    slower_steps = np.arange(0, 4001, 250)
    learn = {5.4: never, 7.2: _spread(1000, 2500, seed=2), 18.0: _spread(0, 800, seed=3)}
    outcome = _phi_runs(learn, steps={7.2: slower_steps})
    assert outcome.status == PASS
    assert "5.4: no sustained ID crossing by step 5000 (censored)" in outcome.measured
    assert "5.4->7.2: a run is censored, so the ID area to step 4000, higher minus lower, +" in outcome.measured
    # The same censored run against a higher phi that learns no sooner: the area does not separate them.
    assert _phi_runs({**learn, 7.2: never}, steps={7.2: STEPS}).status == FAIL


def test_c3_is_censored_until_the_highest_phi_crosses_and_a_model_that_learned_nothing_passes_nothing():
    nothing = {phi: np.full(120, np.inf) for phi in (5.4, 7.2, 18.0)}
    outcome = _phi_runs(nothing)
    assert outcome.status == INCONCLUSIVE and "the highest phi has not crossed" in outcome.measured
    few = {phi: _spread(0, 1000, n=10, seed=i) for i, phi in enumerate((5.4, 7.2, 18.0))}
    outcome = _phi_runs(few)
    assert outcome.status == INCONCLUSIVE and "10 shared ID items, fewer than 20" in outcome.measured


# C4


def _sizes(learn_epochs: dict[int, np.ndarray], last_epochs: dict[int, float] | None = None):
    """World sizes |E| whose ID item i is learned at epoch learn_epochs[|E|][i]; the runs evaluate every
    250 steps and an epoch is 512 / (80 |E|) steps' worth, as 3920 training facts at |E| = 25 (about)."""
    runs = {f"e{e}": _run(f"d{e}") for e in learn_epochs}
    datasets = {f"d{e}": {**WORLD, "entities": e} for e in learn_epochs}
    parts = []
    for e, learn in learn_epochs.items():
        per_step = 512 / (157 * e)
        steps = np.arange(0, (last_epochs or {}).get(e, 700) / per_step + 1, 250)
        parts.append(
            _tables(f"e{e}", _learned_at(learn / per_step, steps), steps, epoch_per_step=per_step, prefix=f"e{e}q")
        )
    ev = _combine(parts, runs=runs, datasets=datasets)
    return criteria.epochs_across_sizes(ev, _rep(ev))


def test_c4_passes_when_the_epoch_ratio_interval_lies_inside_the_tolerance():
    outcome = _sizes({25: _spread(100, 300, n=170, seed=1), 50: _spread(100, 300, n=340, seed=2)})
    assert outcome.status == PASS and outcome.value == pytest.approx(1, abs=0.1)
    assert "rho |E|=25/50" in outcome.measured and "|E|=50: sustained ID crossing at epoch" in outcome.measured


def test_c4_fails_only_when_the_interval_lies_wholly_outside():
    twice = _sizes({25: _spread(200, 600, n=170, seed=1), 50: _spread(100, 300, n=340, seed=2)})
    assert twice.status == FAIL and twice.value == pytest.approx(2, abs=0.15)
    straddles = _sizes({25: _spread(150, 450, n=170, seed=1), 50: _spread(100, 300, n=340, seed=2)})
    assert straddles.status == INCONCLUSIVE and straddles.value == pytest.approx(1.5, abs=0.1)


def test_c4_a_censored_size_cannot_decide_and_three_sizes_read_bonferroni_intervals():
    censored = _sizes({25: np.full(170, np.inf), 50: _spread(100, 300, n=340, seed=2)}, last_epochs={25: 1000})
    assert censored.status == INCONCLUSIVE and censored.value == math.inf
    assert "|E|=25: no sustained ID crossing in 978 epochs (censored)" in censored.measured  # its last evaluation
    nothing = _sizes({25: np.full(170, np.inf), 50: np.full(340, np.inf)})
    assert nothing.status == INCONCLUSIVE and math.isnan(nothing.value)
    three = _sizes(
        {
            25: _spread(100, 300, n=170, seed=1),
            50: _spread(100, 300, n=340, seed=2),
            100: _spread(100, 300, n=400, seed=3),
        },
        last_epochs={100: 400},
    )
    assert three.status == PASS and "rho |E|=50/100" in three.measured and ", 97.5% [" in three.measured


# C5


def test_c5_keeps_its_rule_and_prints_the_paired_difference_of_crossing_steps():
    runs = {"wd0.1": _run(wd=0.1), "wd0.5": _run(wd=0.5)}
    longer = np.arange(0, 8001, 250)  # wd 0.1 runs on past the last shared step, 5000, and crosses
    slow, fast = _learned_at(_spread(2000, 7000, seed=1), longer), _learned_at(_spread(500, 2000, seed=2))
    ev = _combine([_tables("wd0.1", slow, longer), _tables("wd0.5", fast)], runs=runs)
    outcome = criteria.weight_decay_order(ev, _rep(ev))
    assert outcome.status == PASS and outcome.measured.startswith("wd=0.1: ID ")
    assert "gating nothing, sustained-crossing steps lower minus higher: 0.1->0.5 +" in outcome.measured
    censored = _combine([_tables("wd0.1", _learned_at(np.full(120, np.inf))), _tables("wd0.5", fast)], runs=runs)
    outcome = criteria.weight_decay_order(censored, _rep(censored))
    assert outcome.status == PASS and "0.1->0.5 not computed (wd0.1 not crossed)" in outcome.measured


def test_a_model_that_learned_nothing_passes_none_of_c2_to_c5():
    runs = {"wd0.1": _run(wd=0.1), "wd0.5": _run(wd=0.5)}
    steps = [0, 1000, 2000]
    parts = [_tables(run, np.zeros((120, 3), dtype=bool), steps, split=split) for run in runs for split in (ID, OOD)]
    ev = _combine(parts, runs=runs, baselines={"d": _ood_baselines(["q0"], 120)})
    for test in (criteria.no_ood_generalization, criteria.weight_decay_order):
        assert test(ev, _rep(ev)).status != PASS
    assert _phi_runs({phi: np.full(120, np.inf) for phi in (5.4, 18.0)}).status != PASS
    assert _sizes({25: np.full(170, np.inf), 50: np.full(340, np.inf)}).status != PASS
