"""Claim criteria: each can fail, an ordering counts only beyond noise, a model that learned
nothing passes nothing, and several seeds are summarized as k of n with a pooled interval."""

import math

import numpy as np
import pandas as pd
import pytest

from grokstudy.claims import criteria, mechanism
from grokstudy.claims.criteria import FAIL, INCONCLUSIVE, MIXED, PASS
from grokstudy.claims.evidence import Evidence, Replicate, replicates
from grokstudy.claims.summary import overall_status, summarize, t_interval
from grokstudy.stats import wilson_interval

CRITERIA = {
    "fit_threshold": 0.99,
    "generalize_threshold": 0.9,
    "memorized_threshold": 0.9,
    "id_at_fit_ceiling": 0.2,
    "comparison_margin": 0.15,
    "epoch_ratio": 1.5,
    "grokking_run": "g",
    "comparison_run": "c",
    "control_run": "a",
}
WORLD = {"task": "composition", "phi": 7.2, "entities": 50, "relations": 40, "out_degree": 20, "seed": 0}


def _config(runs: dict, datasets: dict) -> dict:
    return {
        "claims": CRITERIA,
        "runs": runs,
        "datasets": datasets,
        "replicate_of": {run: {"base": run, "seed": None} for run in runs},
    }


def _run(dataset="d", wd=0.5, facts="all"):
    return {"dataset": dataset, "model": "m", "weight_decay": wd, "training_facts": facts}


def _baselines(id_share=(5, 100), ood_share=(5, 100), name="relation_frequency"):
    return {
        "uniform": 0.02,
        "splits": {
            "train_inferred": {"name": name, "correct": 5, "n": 100},
            "test_inferred_id": {"name": name, "correct": id_share[0], "n": id_share[1]},
            "test_inferred_ood": {"name": name, "correct": ood_share[0], "n": ood_share[1]},
        },
    }


def _metrics(run: str, curves: dict[str, list[tuple[int, float]]], n: int = 400) -> list[dict]:
    return [
        {"run": run, "step": step, "epoch": step / 10, "split": split, "accuracy": acc, "n": n}
        for split, points in curves.items()
        for step, acc in points
    ]


def _evidence(metric_rows, runs=None, datasets=None, baselines=None, **tables) -> Evidence:
    runs = runs or {"g": _run()}
    datasets = datasets or {"d": WORLD}
    return Evidence(
        config=_config(runs, datasets),
        metrics=pd.DataFrame(metric_rows),
        baselines=baselines or {name: _baselines() for name in datasets},
        **tables,
    )


def _one(test, evidence):
    """A claim's test on the one replicate of a seedless preset: every run under its own name."""
    return test(evidence, Replicate(None, {run: run for run in evidence.config["runs"]}))


def test_wilson_interval_matches_a_worked_value_and_narrows_with_n():
    low, high = wilson_interval(16, 352)  # 4.5 % of 352 test items
    assert low == pytest.approx(0.0282, abs=5e-4)
    assert high == pytest.approx(0.0725, abs=5e-4)
    low_big, high_big = wilson_interval(1600, 35200)
    assert high_big - low_big < (high - low) / 5


def test_c1_needs_a_low_id_at_the_fit_step_and_later_generalization():
    grokked = {
        "train_inferred": [(0, 0), (1000, 0.995), (4000, 1.0)],
        "test_inferred_id": [(0, 0), (1000, 0.1), (4000, 0.95)],
    }
    assert _one(criteria.fit_then_generalize, _evidence(_metrics("g", grokked))).status == PASS
    together = {**grokked, "test_inferred_id": [(0, 0), (1000, 0.52), (4000, 0.95)]}
    outcome = _one(criteria.fit_then_generalize, _evidence(_metrics("g", together)))
    assert outcome.status == FAIL and outcome.value == pytest.approx(0.52)
    never_generalizes = {**grokked, "test_inferred_id": [(0, 0), (1000, 0.1), (4000, 0.3)]}
    assert _one(criteria.fit_then_generalize, _evidence(_metrics("g", never_generalizes))).status == FAIL
    untrained = {"train_inferred": [(0, 0), (4000, 0.05)], "test_inferred_id": [(0, 0), (4000, 0.0)]}
    outcome = _one(criteria.fit_then_generalize, _evidence(_metrics("g", untrained)))
    assert outcome.status == FAIL and "never reached" in outcome.measured


def test_c2_is_inconclusive_without_id_generalization_and_compares_ood_with_the_baseline():
    untrained = {"test_inferred_id": [(0, 0), (4000, 0.02)], "test_inferred_ood": [(0, 0), (4000, 0.0)]}
    assert _one(criteria.no_ood_generalization, _evidence(_metrics("g", untrained))).status == INCONCLUSIVE
    generalized = {
        "test_inferred_id": [(0, 0), (3000, 0.95)],
        "test_inferred_ood": [(0, 0), (3000, 0.03), (4000, 0.06)],
    }
    assert _one(criteria.no_ood_generalization, _evidence(_metrics("g", generalized))).status == PASS
    above = {**generalized, "test_inferred_ood": [(0, 0), (3000, 0.03), (4000, 0.25)]}
    outcome = _one(criteria.no_ood_generalization, _evidence(_metrics("g", above)))
    assert outcome.status == FAIL and outcome.value == pytest.approx(0.25)


def test_an_ordering_within_noise_or_below_the_baseline_does_not_count():
    runs = {"wd0.1": _run(wd=0.1), "wd0.5": _run(wd=0.5)}
    rep = Replicate(None, {r: r for r in runs})

    def outcome(low, high):
        rows = _metrics("wd0.1", {"test_inferred_id": [(3000, low)]}, n=352) + _metrics(
            "wd0.5", {"test_inferred_id": [(3000, high)]}, n=352
        )
        return criteria.weight_decay_order(_evidence(rows, runs=runs), rep)

    assert outcome(0.045, 0.054).status == FAIL  # inside the noise
    passed = outcome(0.045, 0.40)
    assert passed.status == PASS and passed.measured.startswith("wd=0.1: ID 0.045 [")
    assert outcome(0.40, 0.045).status == FAIL  # the wrong way round
    assert outcome(0.0, 0.06).status == FAIL  # ordered, but the top run is at its baseline (0.05)


def test_c4_compares_the_epochs_each_world_size_needs():
    runs = {"e50": _run("d50"), "e100": _run("d100")}
    datasets = {"d50": WORLD, "d100": {**WORLD, "entities": 100}}
    rep = Replicate(None, {r: r for r in runs})
    rows = _metrics("e50", {"test_inferred_id": [(1000, 0.5), (2000, 0.95)]}) + [
        {**r, "epoch": r["step"] / 20} for r in _metrics("e100", {"test_inferred_id": [(2000, 0.5), (4000, 0.95)]})
    ]
    outcome = criteria.epochs_across_sizes(_evidence(rows, runs=runs, datasets=datasets), rep)
    assert outcome.status == PASS and outcome.value == pytest.approx(1.0)
    slow = rows[:2] + [
        {**r, "epoch": r["step"] / 10} for r in _metrics("e100", {"test_inferred_id": [(2000, 0.5), (8000, 0.95)]})
    ]
    assert criteria.epochs_across_sizes(_evidence(slow, runs=runs, datasets=datasets), rep).status == FAIL


def test_c6_needs_both_splits_above_the_majority_label_by_the_margin():
    runs = {"c": _run("k")}
    datasets = {"k": {"task": "comparison", "phi": 7.2, "entities": 200, "seed": 0}}
    baselines = {"k": _baselines((200, 400), (200, 400), name="majority_label")}

    def outcome(iid, ood):
        rows = _metrics("c", {"test_inferred_id": [(3500, iid)], "test_inferred_ood": [(3500, ood)]})
        return _one(criteria.comparison_generalizes, _evidence(rows, runs=runs, datasets=datasets, baselines=baselines))

    assert outcome(0.9, 0.8).status == PASS
    assert outcome(0.9, 0.6).status == FAIL  # OOD above the baseline, but not by the margin
    assert outcome(0.5, 0.5).status == FAIL


def _lens(run, network, step, select, test, layers=4):
    rows = []
    for layer in range(layers + 1):
        t = test[layer]
        rows.append(
            {
                "run": run,
                "network": network,
                "step": step,
                "position": "r1",
                "split": "train_inferred",
                "layer": layer,
                "mrr_select": select[layer],
                "mrr_test": t,
                "ci_low_test": t - 0.05,
                "ci_high_test": t + 0.05,
            }
        )
    return rows


def _lens_evidence(control=None, trained_select=(0, 0.2, 0.9, 0.5, 1), trained_test=(0, 0.2, 0.8, 0.5, 1)):
    rows = (
        _lens("g", "trained", 4000, trained_select, trained_test)
        + _lens("g", "step0", 0, [0.1] * 5, [0.1] * 5)
        + _lens("g", "random_init", 0, [0.1] * 5, [0.1] * 5)
        + _lens("g", "relation_prior", 0, [0.3] * 5, [0.3] * 5)
    )
    runs = {"g": _run()}
    if control is not None:
        rows += _lens("a", "trained", 1000, control, control)
        runs["a"] = _run(facts="atomic")
    return _evidence(_metrics("g", {"train_inferred": [(4000, 1.0)]}), runs=runs, lens=pd.DataFrame(rows))


def test_c7a_tests_the_layer_chosen_on_the_other_half_against_every_null_and_the_control():
    assert mechanism.bridge_layer(_lens_evidence(), "g") == 2
    weak_control = _one(mechanism.bridge_decodable, _lens_evidence(control=[0, 0.1, 0.3, 0.3, 1]))
    assert weak_control.status == PASS and weak_control.value == pytest.approx(0.5)
    strong_control = _one(mechanism.bridge_decodable, _lens_evidence(control=[0, 0.2, 0.8, 0.8, 1]))
    assert strong_control.status == FAIL and "atomic recall" in strong_control.measured
    assert _one(mechanism.bridge_decodable, _lens_evidence()).status == INCONCLUSIVE  # no control run
    # Layer 2 wins the selection half but is at the prior's level on the test half.
    overfit = _lens_evidence(control=[0] * 5, trained_test=(0, 0.2, 0.3, 0.9, 1))
    assert _one(mechanism.bridge_decodable, overfit).status == FAIL


def _traced(step, correct, drop, total, layer=2, n=40):
    return pd.DataFrame(
        {
            "run": "g",
            "network": "trained",
            "split": "test_inferred_id",
            "step": step,
            "query": np.arange(n),
            "correct": correct,
            "total_effect": total,
            f"drop_{layer}_r2": drop,
        }
    )


def _causal_evidence(start_drop, final_drop, start_correct=True, final_correct=True):
    lens = _lens_evidence(control=[0] * 5).lens
    queries = pd.concat([_traced(1000, start_correct, start_drop, 0.5), _traced(4000, final_correct, final_drop, 0.9)])
    metrics = _metrics("g", {"train_inferred": [(0, 0), (1000, 0.95), (4000, 1.0)]})
    return Evidence(
        config=_config({"g": _run()}, {"d": WORLD}),
        metrics=pd.DataFrame(metrics),
        lens=lens,
        causal_queries=queries,
        baselines={"d": _baselines()},
    )


def test_c7b_reads_the_share_of_the_total_effect_on_queries_correct_at_both_checkpoints():
    rng = np.random.default_rng(0)
    rising = _one(
        mechanism.causal_effect_grows, _causal_evidence(0.1 + 0.01 * rng.random(40), 0.6 + 0.01 * rng.random(40))
    )
    assert rising.status == PASS and rising.value == pytest.approx(0.667 - 0.2, abs=0.02)
    # The absolute drop grows (0.2 -> 0.3) while the total grows more: the share falls from 0.4 to 0.33.
    absolute_only = _one(
        mechanism.causal_effect_grows, _causal_evidence(0.2 + 0.01 * rng.random(40), 0.3 + 0.01 * rng.random(40))
    )
    assert absolute_only.status == FAIL and absolute_only.value < 0
    few = np.zeros(40, dtype=bool)
    few[:5] = True
    assert _one(mechanism.causal_effect_grows, _causal_evidence(0.1, 0.6, start_correct=few)).status == INCONCLUSIVE


def test_seeds_are_summarized_as_k_of_n_with_a_pooled_interval():
    assert overall_status([PASS, PASS, PASS]) == PASS
    assert overall_status([PASS, FAIL, PASS]) == MIXED
    assert overall_status([FAIL, INCONCLUSIVE]) == FAIL
    assert overall_status([INCONCLUSIVE]) == INCONCLUSIVE
    mean, _low, high = t_interval([0.1, 0.2, 0.3])
    assert mean == pytest.approx(0.2) and high - mean == pytest.approx(4.303 * 0.1 / math.sqrt(3))
    outcomes = [
        (Replicate(s, {}), criteria.Outcome(status, value, "m"))
        for s, status, value in [(0, PASS, 0.1), (1, FAIL, 0.3)]
    ]
    summary = summarize([*outcomes, (Replicate(2, {}), None)], "x")
    assert (
        summary["seeds_passing"] == "1 of 2" and summary["status"] == MIXED and "mean over 2 seeds" in summary["pooled"]
    )


def test_replicates_group_runs_by_seed():
    config = {
        "replicate_of": {
            "g.s0": {"base": "g", "seed": 0},
            "g.s1": {"base": "g", "seed": 1},
            "c.s1": {"base": "c", "seed": 1},
        }
    }
    reps = replicates(config)
    assert [(r.seed, r.runs) for r in reps] == [(0, {"g": "g.s0"}), (1, {"g": "g.s1", "c": "c.s1"})]
