"""Claim criteria: each can fail, an ordering counts only beyond noise, a model that learned
nothing passes nothing, and several seeds are summarized as k of n with a pooled interval."""

import math

import numpy as np
import pandas as pd
import pytest

from grokstudy import claims_table
from grokstudy.claims import criteria
from grokstudy.claims.criteria import (
    FAIL,
    INCONCLUSIVE,
    MIXED,
    NOT_AS_STATED,
    NOT_REPRODUCED,
    PASS,
    REPRODUCED,
    Outcome,
)
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
    "control_sensitivity_runs": [],
    "bridge_mrr_level": 0.5,
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
    # A run that ends before ID generalizes, or before training fits, is censored: it cannot decide.
    never_generalizes = {**grokked, "test_inferred_id": [(0, 0), (1000, 0.1), (4000, 0.3)]}
    outcome = _one(criteria.fit_then_generalize, _evidence(_metrics("g", never_generalizes)))
    assert outcome.status == INCONCLUSIVE and "censored" in outcome.measured and "past step 4000" in outcome.measured
    untrained = {"train_inferred": [(0, 0), (4000, 0.05)], "test_inferred_id": [(0, 0), (4000, 0.0)]}
    outcome = _one(criteria.fit_then_generalize, _evidence(_metrics("g", untrained)))
    assert outcome.status == INCONCLUSIVE and "never reached" in outcome.measured


def _predictions(run: str, correct: np.ndarray, step: int = 3000) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run": run,
            "step": step,
            "split": "test_inferred_id",
            "prompt": [f"q{i}" for i in range(len(correct))],
            "correct": correct,
        }
    )


def test_an_ordering_is_read_item_by_item_and_must_beat_noise_and_the_baseline():
    runs = {"wd0.1": _run(wd=0.1), "wd0.5": _run(wd=0.5)}
    rep = Replicate(None, {r: r for r in runs})
    rng = np.random.default_rng(0)

    def outcome(low: np.ndarray, high: np.ndarray):
        rows = _metrics("wd0.1", {"test_inferred_id": [(3000, low.mean())]}, n=len(low)) + _metrics(
            "wd0.5", {"test_inferred_id": [(3000, high.mean())]}, n=len(high)
        )
        predictions = pd.concat([_predictions("wd0.1", low), _predictions("wd0.5", high)])
        return criteria.weight_decay_order(_evidence(rows, runs=runs, predictions=predictions), rep)

    base = rng.random(352) < 0.3
    better = base | (rng.random(352) < 0.3)  # the same items right, and more
    passed = outcome(base, better)
    assert passed.status == PASS and passed.measured.startswith("wd=0.1: ID 0.")
    assert "paired gains 0.1->0.5 +" in passed.measured and "on 352 items" in passed.measured
    # A small gain that pairing cannot separate from noise: 3 items flip each way, 2 more one way.
    noisy = base.copy()
    flips = np.flatnonzero(~base)[:5]
    noisy[flips] = True
    noisy[np.flatnonzero(base)[:3]] = False
    assert outcome(base, noisy).status == FAIL
    assert outcome(better, base).status == FAIL  # the wrong way round
    low_base = np.zeros(352, dtype=bool)
    low_base[:5] = True  # ordered, but the top run is at its baseline (0.05)
    assert outcome(np.zeros(352, dtype=bool), low_base).status == FAIL
    # Runs that share too few items cannot be paired.
    few = criteria.weight_decay_order(
        _evidence(
            _metrics("wd0.1", {"test_inferred_id": [(3000, 0.1)]})
            + _metrics("wd0.5", {"test_inferred_id": [(3000, 0.9)]}),
            runs=runs,
            predictions=pd.concat([_predictions("wd0.1", base[:10]), _predictions("wd0.5", better[:10])]),
        ),
        rep,
    )
    assert few.status == INCONCLUSIVE


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


def test_seeds_are_summarized_as_k_of_n_with_a_pooled_interval():
    def outcomes(*statuses, as_stated=True):
        return [Outcome(status, 0.0, "m", as_stated) for status in statuses]

    assert overall_status(outcomes(PASS, PASS, PASS)) == REPRODUCED
    assert overall_status(outcomes(PASS, FAIL, PASS)) == MIXED
    assert overall_status(outcomes(FAIL, INCONCLUSIVE)) == NOT_REPRODUCED
    assert overall_status(outcomes(INCONCLUSIVE)) == INCONCLUSIVE
    # A fail whose measurement could not follow the paper's never reads "not reproduced".
    assert overall_status([*outcomes(FAIL), *outcomes(FAIL, as_stated=False)]) == NOT_AS_STATED
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


def test_the_claims_table_quotes_claims_csv_row_by_row_and_escapes_pipes(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    pd.DataFrame(
        [
            {"claim": "C1", "seeds_passing": "2 of 3", "pooled": "x 0.5 [0.1, 0.9]", "status": "mixed", "other": 1},
            {"claim": "C2", "seeds_passing": "-", "pooled": "a|b", "status": "not tested", "other": 2},
        ]
    ).to_csv(report / "claims.csv", index=False)
    assert claims_table.markdown(tmp_path).splitlines() == [
        "| claim | seeds passing | pooled | status |",
        "|---|---|---|---|",
        "| C1 | 2 of 3 | x 0.5 [0.1, 0.9] | mixed |",
        "| C2 | - | a\\|b | not tested |",
    ]
    with pytest.raises(FileNotFoundError, match="run or restore the preset first"):
        claims_table.markdown(tmp_path / "elsewhere")
