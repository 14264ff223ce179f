"""Recurrent-depth claims R1-R5: each passes on a looped model that composes out of distribution,
fails or stays inconclusive (censored) where the criterion says, and never passes an untrained model.
A recurrent preset is tested on R1-R5 only."""

import math

import numpy as np
import pandas as pd
import pytest

from grokstudy.analyses.registry import null_set
from grokstudy.claims import CLAIMS, CRITERIA_VERSION, RECURRENT_CLAIMS, RECURRENT_CRITERIA_VERSION, claims_of, evaluate
from grokstudy.claims import recurrent
from grokstudy.claims.criteria import FAIL, ID, INCONCLUSIVE, OOD, PASS, TRAIN
from grokstudy.claims.evidence import Evidence, Replicate
from grokstudy.stats import wilson_interval

RECURRENT = {"looped_run": "L1R4", "vanilla_runs": ["V4"], "ood_epochs": 2000, "stage_gap_evaluations": 2}
CRITERIA = {
    "fit_threshold": 0.99,
    "generalize_threshold": 0.9,
    "memorized_threshold": 0.9,
    "comparison_margin": 0.15,
    "recurrent": RECURRENT,
}
DATASET = "comp"
WORLD = {"task": "composition", "phi": 7.2, "entities": 50, "relations": 40, "out_degree": 20, "seed": 0}
N_OOD, N_ID, N_TRAIN = 800, 400, 400
# The OOD relation-frequency baseline: 96 of 800 right, 0.12, upper 95% bound ~0.144.
BASE_OOD = (96, N_OOD)
STEPS = list(range(0, 12001, 250))
LENS_SITES = {"bridge at r1": ("bridge", "r1"), "answer at r2": ("answer", "r2")}


def _config(runs=("L1R4", "V4"), recurrent_section=RECURRENT) -> dict:
    claims = {**CRITERIA, "recurrent": recurrent_section}
    if recurrent_section is None:
        claims.pop("recurrent")
    return {
        "claims": claims,
        "runs": {run: {"dataset": DATASET, "model": run} for run in runs},
        "datasets": {DATASET: WORLD},
        "replicate_of": {run: {"base": run, "seed": None} for run in runs},
    }


def _baselines() -> dict:
    share = {"name": "relation_frequency"}
    return {
        DATASET: {
            "uniform": 0.02,
            "splits": {
                TRAIN: {**share, "correct": 5, "n": 100},
                ID: {**share, "correct": 5, "n": 100},
                OOD: {**share, "correct": BASE_OOD[0], "n": BASE_OOD[1]},
            },
        }
    }


def _curve(run: str, train, id_, ood, epochs_per_step: float = 0.25) -> list[dict]:
    """One row per split and evaluation step; each curve is a function of the step. At 0.25 epochs a
    step the run ends at 3000 epochs (past ood_epochs), at 0.1 at 1200 (censored)."""
    rows = []
    for split, f, n in ((TRAIN, train, N_TRAIN), (ID, id_, N_ID), (OOD, ood, N_OOD)):
        rows += [
            {"run": run, "step": s, "epoch": s * epochs_per_step, "split": split, "accuracy": f(s), "n": n}
            for s in STEPS
        ]
    return rows


def _step(at: int, low: float, high: float):
    return lambda s: high if s >= at else low


def _grokked(run="L1R4", ood_at=6000, ood=0.75, **kw) -> list[dict]:
    """Train fits at 1000, ID >= 0.9 at 3000, OOD (600 of 800) rises at `ood_at`."""
    return _curve(run, _step(1000, 0.2, 1.0), _step(3000, 0.05, 0.95), _step(ood_at, 0.12, ood), **kw)


def _vanilla(run="V4", ood=lambda s: 0.12, **kw) -> list[dict]:
    return _curve(run, _step(1000, 0.2, 1.0), _step(4000, 0.05, 0.95), ood, **kw)


def _items(run: str, right: int, step: int = STEPS[-1], n: int = N_OOD) -> pd.DataFrame:
    """Per-item OOD predictions: the first `right` prompts answered right."""
    return pd.DataFrame(
        {"run": run, "step": step, "split": OOD, "prompt": [f"q{i}" for i in range(n)], "correct": np.arange(n) < right}
    )


def _evidence(metrics, config=None, **tables) -> Evidence:
    return Evidence(config=config or _config(), metrics=pd.DataFrame(metrics), baselines=_baselines(), **tables)


def _one(test, ev: Evidence):
    return test(ev, Replicate(None, {run: run for run in ev.config["runs"]}))


def test_the_baseline_and_ood_levels_are_where_the_tests_assume():
    assert wilson_interval(*BASE_OOD)[1] == pytest.approx(0.144, abs=1e-3)
    assert wilson_interval(96, N_OOD)[0] < wilson_interval(*BASE_OOD)[1] < wilson_interval(600, N_OOD)[0]


# R1


def test_r1_passes_when_the_looped_run_composes_far_above_the_baseline():
    outcome = _one(recurrent.composes_ood, _evidence(_grokked()))
    assert outcome.status == PASS
    assert outcome.value == pytest.approx(0.75 - 0.12)
    assert "OOD 0.750" in outcome.measured and "baseline 0.120" in outcome.measured


def test_r1_at_the_baseline_is_censored_before_ood_epochs_and_fails_after():
    at_baseline = dict(ood=0.12)
    censored = _one(recurrent.composes_ood, _evidence(_grokked(epochs_per_step=0.1, **at_baseline)))
    assert censored.status == INCONCLUSIVE and "censored" in censored.measured and "2000 epochs" in censored.measured
    assert censored.value == pytest.approx(0.0)
    failed = _one(recurrent.composes_ood, _evidence(_grokked(**at_baseline)))
    assert failed.status == FAIL and "censored" not in failed.measured
    assert failed.value == pytest.approx(0.0)


def test_r1_needs_id_generalized_too():
    # OOD far above the baseline, but ID at the last evaluation below 0.9.
    metrics = _curve("L1R4", _step(1000, 0.2, 1.0), lambda s: 0.6, _step(6000, 0.12, 0.75))
    assert _one(recurrent.composes_ood, _evidence(metrics)).status == FAIL


@pytest.mark.parametrize("epochs_per_step", [0.1, 0.25])
def test_r1_never_passes_an_untrained_model(epochs_per_step):
    metrics = _curve("L1R4", lambda s: 0.05, lambda s: 0.05, lambda s: 0.02, epochs_per_step=epochs_per_step)
    outcome = _one(recurrent.composes_ood, _evidence(metrics))
    assert outcome.status == (INCONCLUSIVE if epochs_per_step == 0.1 else FAIL)
    assert outcome.value == pytest.approx(0.02 - 0.12)


def test_r1_to_r5_are_not_tested_without_the_looped_run():
    ev = _evidence(_vanilla(), config=_config(runs=("V4",)))
    for claim in RECURRENT_CLAIMS:
        assert _one(claim.test, ev) is None, claim.claim


# R2


def _r2_evidence(vanilla_ood=lambda s: 0.12, looped_right=600, vanilla_right=96, **looped) -> Evidence:
    predictions = pd.concat([_items("L1R4", looped_right), _items("V4", vanilla_right)])
    return _evidence(_grokked(**looped) + _vanilla(ood=vanilla_ood), predictions=predictions)


def test_r2_passes_when_vanilla_never_rises_and_the_looped_arm_wins_item_by_item():
    outcome = _one(recurrent.sharing_is_the_cause, _r2_evidence())
    assert outcome.status == PASS
    assert outcome.value == pytest.approx((600 - 96) / N_OOD)
    assert "never rises" in outcome.measured and f"on {N_OOD} OOD items" in outcome.measured


def test_r2_a_vanilla_ood_within_the_baselines_noise_has_not_risen():
    # 128 of 800 (0.16, lower bound ~0.136) is above the baseline's 0.12 but not its upper bound ~0.144.
    assert wilson_interval(128, N_OOD)[0] < wilson_interval(*BASE_OOD)[1]
    ev = _r2_evidence(vanilla_ood=_step(9000, 0.12, 0.16), vanilla_right=128)
    assert recurrent.ood_rises(ev, "V4") is None
    assert _one(recurrent.sharing_is_the_cause, ev).status == PASS


def test_r2_fails_when_a_vanilla_arm_rises_above_the_baseline():
    outcome = _one(recurrent.sharing_is_the_cause, _r2_evidence(vanilla_ood=_step(9000, 0.12, 0.3)))
    assert outcome.status == FAIL and "rises at step 9000" in outcome.measured


def test_r2_fails_when_the_looped_arm_does_not_win_on_the_shared_items():
    # The looped arm's metrics compose, but on the shared items it is right where vanilla is.
    outcome = _one(recurrent.sharing_is_the_cause, _r2_evidence(looped_right=96))
    assert outcome.status == FAIL and outcome.value == pytest.approx(0.0)


@pytest.mark.parametrize(("epochs_per_step", "r1"), [(0.1, INCONCLUSIVE), (0.25, FAIL)])
def test_r2_is_inconclusive_until_r1_passes(epochs_per_step, r1):
    outcome = _one(recurrent.sharing_is_the_cause, _r2_evidence(ood=0.12, epochs_per_step=epochs_per_step))
    assert outcome.status == INCONCLUSIVE and f"R1 is {r1}" in outcome.measured


# R3


def test_r3_passes_with_three_stages_in_order():
    outcome = _one(recurrent.ood_after_id, _evidence(_grokked()))
    assert outcome.status == PASS and outcome.value == 3000
    assert "at step 1000" in outcome.measured and "at 3000" in outcome.measured and "rises at 6000" in outcome.measured
    assert "(12 evaluations after ID)" in outcome.measured


def test_r3_fails_when_ood_rises_with_id_or_too_soon_after():
    together = _one(recurrent.ood_after_id, _evidence(_grokked(ood_at=3000)))
    assert together.status == FAIL and together.value == 0
    one_later = _one(recurrent.ood_after_id, _evidence(_grokked(ood_at=3250)))  # 1 < stage_gap_evaluations
    assert one_later.status == FAIL and one_later.value == 250
    # Even with no gap required, OOD rising at the same evaluation as ID is one stage, not three.
    no_gap = _config(recurrent_section={**RECURRENT, "stage_gap_evaluations": 0})
    assert _one(recurrent.ood_after_id, _evidence(_grokked(ood_at=3000), config=no_gap)).status == FAIL
    two_later = _one(recurrent.ood_after_id, _evidence(_grokked(ood_at=3500)))
    assert two_later.status == PASS and two_later.value == 500


def test_r3_fails_when_id_has_fallen_back_when_ood_rises():
    metrics = _curve(
        "L1R4", _step(1000, 0.2, 1.0), lambda s: 0.95 if 3000 <= s < 5000 else 0.5, _step(6000, 0.12, 0.75)
    )
    assert _one(recurrent.ood_after_id, _evidence(metrics)).status == FAIL


def test_r3_is_inconclusive_while_ood_never_rises():
    outcome = _one(recurrent.ood_after_id, _evidence(_grokked(ood=0.12)))
    assert outcome.status == INCONCLUSIVE and math.isnan(outcome.value) and "censored" in outcome.measured


# R4


def _lens_rows(run, network, step, site, mrr, iterations):
    """One site's rows at depths 0..4 (1 layer x 4 loops); mrr per depth, CI +- 0.05."""
    target, position = LENS_SITES[site]
    return [
        {
            "run": run,
            "target": target,
            "position": position,
            "split": OOD,
            "network": network,
            "step": step,
            "layer": depth,
            "iteration": iterations[depth],
            "mrr_select": m,
            "mrr_test": m,
            "ci_low_test": m - 0.05,
            "ci_high_test": m + 0.05,
        }
        for depth, m in enumerate(mrr)
    ]


LOOPED = (0, 1, 2, 3, 4)
BRIDGE_MRR = (0.05, 0.8, 0.6, 0.4, 0.3)
ANSWER_MRR = (0.05, 0.2, 0.5, 0.9, 0.85)


def _lens(bridge=BRIDGE_MRR, answer=ANSWER_MRR, iterations=LOOPED) -> pd.DataFrame:
    nulls = null_set(DATASET, "L1R4")
    rows = []
    for site, trained in (("bridge at r1", bridge), ("answer at r2", answer)):
        rows += _lens_rows("L1R4", "trained", 12000, site, trained, iterations)
        # An earlier checkpoint where nothing decodes: R4 reads the last one.
        rows += _lens_rows("L1R4", "trained", 1000, site, [0.05] * 5, iterations)
        rows += _lens_rows("L1R4", "step0", 0, site, [0.1] * 5, iterations)
        rows += _lens_rows(nulls, "random_init", 0, site, [0.1] * 5, iterations)
        rows += _lens_rows(nulls, "relation_prior", 0, site, [0.3] * 5, iterations)
    return pd.DataFrame(rows)


def test_r4_passes_with_the_bridge_in_loop_1_and_the_answer_only_after_it():
    outcome = _one(recurrent.lens_per_loop, _evidence(_grokked(), lens=_lens()))
    assert outcome.status == PASS and outcome.value == pytest.approx(0.8)
    assert "loop 1 = resid.1..resid.1" in outcome.measured
    assert "bridge at loop1.block1@r1: 0.800" in outcome.measured
    assert "answer at loop3.block1@r2: 0.900" in outcome.measured  # the selection half's pick after loop 1
    assert "relation_prior" in outcome.measured


def test_r4_fails_when_the_answer_already_decodes_in_loop_1():
    early = (0.05, 0.7, 0.5, 0.9, 0.85)
    ev = _evidence(_grokked(), lens=_lens(answer=early))
    assert _one(recurrent.composes_ood, ev).status == PASS
    assert _one(recurrent.lens_per_loop, ev).status == FAIL


def test_r4_fails_when_the_bridge_does_not_beat_the_relation_prior_in_loop_1():
    weak = (0.05, 0.32, 0.6, 0.4, 0.3)  # CI [0.27, 0.37] overlaps the prior's up to 0.35
    assert _one(recurrent.lens_per_loop, _evidence(_grokked(), lens=_lens(bridge=weak))).status == FAIL


def test_r4_is_censored_with_r1():
    ev = _evidence(_grokked(ood=0.12, epochs_per_step=0.1), lens=_lens(answer=(0.05, 0.1, 0.1, 0.1, 0.1)))
    outcome = _one(recurrent.lens_per_loop, ev)
    assert outcome.status == INCONCLUSIVE and "censored with R1" in outcome.measured


@pytest.mark.parametrize("iterations", [(1, 1, 1, 1, 1), (0, 1, 1, 1, 1)])
def test_r4_fails_a_model_that_does_not_loop(iterations):
    outcome = _one(recurrent.lens_per_loop, _evidence(_grokked(), lens=_lens(iterations=iterations)))
    assert outcome.status == FAIL and "does not loop" in outcome.measured and math.isnan(outcome.value)


# R5


def _sweep(id_accuracy, drop=(0.4, 0.3, 0.5), trained=4, step=12000, run="L1R4") -> pd.DataFrame:
    """ID and OOD sweep rows at r = 1..3R; the drop (from the margin's peak) is given at r = 3R."""
    peak = int(np.argmax(id_accuracy)) + 1
    rows = []
    for split, accuracy in ((ID, id_accuracy), (OOD, [0.1] * 9 + [0.99, 0.1, 0.1])):
        for r, a in enumerate(accuracy, start=1):
            d = drop if r == len(accuracy) else (0.0, -0.1, 0.1)
            rows.append(
                {
                    "run": run,
                    "step": step,
                    "split": split,
                    "recurrence": r,
                    "trained_recurrence": trained,
                    "accuracy": a,
                    "correct": round(a * 400),
                    "n": 400,
                    "margin": 5 * a,
                    "peak_recurrence": peak,
                    "drop_from_peak": d[0],
                    "drop_ci_low": d[1],
                    "drop_ci_high": d[2],
                }
            )
    return pd.DataFrame(rows)


PEAK_AT_5 = [0.1, 0.3, 0.7, 0.95, 0.96, 0.92, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5]
PEAK_AT_10 = [0.1, 0.3, 0.7, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.98, 0.97, 0.96]


def test_r5_passes_when_id_peaks_near_r_and_the_margin_falls_by_3r():
    # An earlier checkpoint that peaks late: R5 reads the last one.
    sweep = pd.concat([_sweep(PEAK_AT_5), _sweep(PEAK_AT_10, step=1000)])
    outcome = _one(recurrent.overthinking, _evidence(_grokked(), sweep=sweep))
    assert outcome.status == PASS and outcome.value == pytest.approx(0.4)
    assert "r = 1..12" in outcome.measured and "drop to r = 12: 0.40 [0.30, 0.50]" in outcome.measured


def test_r5_fails_when_accuracy_peaks_far_beyond_r():
    outcome = _one(recurrent.overthinking, _evidence(_grokked(), sweep=_sweep(PEAK_AT_10)))
    assert outcome.status == FAIL


def test_r5_fails_when_the_margin_drop_is_within_noise():
    outcome = _one(recurrent.overthinking, _evidence(_grokked(), sweep=_sweep(PEAK_AT_5, drop=(0.05, -0.02, 0.12))))
    assert outcome.status == FAIL and outcome.value == pytest.approx(0.05)


@pytest.mark.parametrize(("epochs_per_step", "status"), [(0.1, INCONCLUSIVE), (0.25, FAIL)])
def test_r5_without_id_generalized_at_r_is_censored_or_fails(epochs_per_step, status):
    low = [0.1, 0.3, 0.5, 0.6, 0.55, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.1]
    outcome = _one(recurrent.overthinking, _evidence(_grokked(epochs_per_step=epochs_per_step), sweep=_sweep(low)))
    assert outcome.status == status and "ID has not generalized at R" in outcome.measured


# The claims a preset is tested on


def test_claims_of_picks_r1_to_r5_for_a_recurrent_preset_only():
    main, version = claims_of(_config(recurrent_section=None))
    assert main is CLAIMS and version == CRITERIA_VERSION and main[0].claim == "C1"
    rec, rec_version = claims_of(_config())
    assert rec is RECURRENT_CLAIMS and rec_version == RECURRENT_CRITERIA_VERSION
    assert [c.claim for c in rec] == ["R1", "R2", "R3", "R4", "R5"]


def test_evaluate_a_recurrent_preset_reproduces_r1_to_r5_on_composing_evidence():
    predictions = pd.concat([_items("L1R4", 600), _items("V4", 96)])
    ev = _evidence(_grokked() + _vanilla(), predictions=predictions, lens=_lens(), sweep=_sweep(PEAK_AT_5))
    table = evaluate(ev)
    assert list(table["claim"]) == ["R1", "R2", "R3", "R4", "R5"]
    assert table["criteria_version"].str.startswith("R").all()
    assert list(table["status"]) == ["reproduced"] * 5
    assert list(table["seeds_passing"]) == ["1 of 1"] * 5
    assert "2000 epochs" in table.loc[0, "criterion"]


def test_evaluate_a_recurrent_preset_without_lens_or_sweep_leaves_r4_and_r5_untested():
    ev = _evidence(_grokked(ood=0.12) + _vanilla(), predictions=pd.concat([_items("L1R4", 96), _items("V4", 96)]))
    table = evaluate(ev).set_index("claim")
    assert list(table.index) == ["R1", "R2", "R3", "R4", "R5"]
    assert table.loc["R1", "status"] == "not reproduced"
    assert table.loc["R2", "status"] == INCONCLUSIVE
    assert table.loc["R3", "status"] == INCONCLUSIVE
    assert table.loc["R4", "status"] == table.loc["R5", "status"] == "not tested"
