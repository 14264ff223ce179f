"""Recurrent-depth claims R1-R5 (version R2): each passes on a looped model that composes out of
distribution, fails or stays inconclusive (censored) where the criterion says, and never passes an
untrained model. A recurrent preset is tested on R1-R5 only."""

import math

import numpy as np
import pandas as pd
import pytest

from grokstudy.analyses.registry import null_set
from grokstudy.claims import CLAIMS, CRITERIA_VERSION, RECURRENT_CLAIMS, RECURRENT_CRITERIA_VERSION, claims_of, evaluate
from grokstudy.claims import recurrent
from grokstudy.claims.criteria import FAIL, ID, INCONCLUSIVE, OOD, PASS, TRAIN
from grokstudy.claims.evidence import Evidence, Replicate
from grokstudy.claims.paired import paired_test
from grokstudy.stats import paired_difference_ci, wilson_interval

RECURRENT = {"looped_run": "L1R4", "vanilla_runs": ["V4", "V1"], "ood_epochs": 2000, "stage_gap_evaluations": 2}
# The arms' model shapes, as the claims job passes them: V4 has L1R4's FLOPs, V1 its parameters.
SHAPES = {
    "L1R4": {"layers_per_loop": 1, "recurrence": 4},
    "V4": {"layers_per_loop": 4, "recurrence": 1},
    "V1": {"layers_per_loop": 1, "recurrence": 1},
}
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


def _config(runs=("L1R4", "V4", "V1"), recurrent_section=RECURRENT) -> dict:
    claims = {**CRITERIA, "recurrent": recurrent_section}
    if recurrent_section is None:
        claims.pop("recurrent")
    return {
        "claims": claims,
        "runs": {run: {"dataset": DATASET, "model": run, **SHAPES[run]} for run in runs},
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


def _r2_evidence(
    v4_ood=lambda s: 0.12, v1_ood=lambda s: 0.12, looped_right=600, v4_right=96, v1_right=120, config=None, **looped
) -> Evidence:
    predictions = pd.concat([_items("L1R4", looped_right), _items("V4", v4_right), _items("V1", v1_right)])
    metrics = _grokked(**looped) + _vanilla(ood=v4_ood) + _vanilla("V1", ood=v1_ood)
    return _evidence(metrics, config=config, predictions=predictions)


def test_the_paired_test_is_version_4s_bootstrap_with_its_one_sided_p():
    differences = np.r_[np.ones(30), np.zeros(70)]
    test = paired_test(differences)
    assert (test.mean, test.low, test.high) == pytest.approx(paired_difference_ci(differences))
    assert test.p == pytest.approx(1 / 2001) and test.shown  # no resample has a mean <= 0
    assert paired_test(np.zeros(100)).p == 1.0 and not paired_test(np.zeros(100)).shown
    few = paired_test(np.ones(19))
    assert not few.decided and not few.shown and math.isnan(few.p) and "fewer than 20" in few.text()


def test_r2_passes_when_neither_vanilla_arm_rises_and_the_looped_arm_beats_both_item_by_item():
    outcome = _one(recurrent.sharing_is_the_cause, _r2_evidence())
    assert outcome.status == PASS
    assert outcome.value == pytest.approx((600 - 120) / N_OOD)  # the smaller difference: against V1
    assert "equal-FLOPs arm V4" in outcome.measured and "equal-parameters arm V1" in outcome.measured
    assert (
        outcome.measured.count("never rises") == 2 and f"(p = {1 / 2001:.4f}) on {N_OOD} OOD items" in outcome.measured
    )


def test_the_vanilla_arms_are_told_apart_by_depth_not_by_their_order():
    config = _config(recurrent_section={**RECURRENT, "vanilla_runs": ["V1", "V4"]})
    arms = recurrent.vanilla_arms(_r2_evidence(config=config), Replicate(None, {r: r for r in SHAPES}), "L1R4")
    assert arms == {recurrent.EQUAL_FLOPS: "V4", recurrent.EQUAL_PARAMETERS: "V1"}


def test_r2_a_vanilla_ood_within_the_baselines_noise_has_not_risen():
    # 128 of 800 (0.16, lower bound ~0.136) is above the baseline's 0.12 but not its upper bound ~0.144.
    assert wilson_interval(128, N_OOD)[0] < wilson_interval(*BASE_OOD)[1]
    ev = _r2_evidence(v1_ood=_step(9000, 0.12, 0.16), v1_right=128)
    assert recurrent.ood_rises(ev, "V1") is None
    assert _one(recurrent.sharing_is_the_cause, ev).status == PASS


@pytest.mark.parametrize("arm", ["v4", "v1"])
def test_r2_fails_when_either_vanilla_arm_rises_above_the_baseline(arm):
    outcome = _one(recurrent.sharing_is_the_cause, _r2_evidence(**{f"{arm}_ood": _step(9000, 0.12, 0.3)}))
    assert outcome.status == FAIL and "rises at step 9000" in outcome.measured


@pytest.mark.parametrize("arm", ["v4", "v1"])
def test_r2_fails_when_the_looped_arm_does_not_beat_either_arm_on_the_shared_items(arm):
    # The looped arm's metrics compose, but on the shared items one vanilla arm is right where it is.
    outcome = _one(recurrent.sharing_is_the_cause, _r2_evidence(**{f"{arm}_right": 600}))
    assert outcome.status == FAIL and outcome.value == pytest.approx(0.0)
    assert "(p = 1.0000)" in outcome.measured


def test_r2_without_the_equal_parameters_arm_is_inconclusive_and_prints_the_equal_flops_contrast():
    config = _config(runs=("L1R4", "V4"), recurrent_section={**RECURRENT, "vanilla_runs": ["V4"]})
    predictions = pd.concat([_items("L1R4", 600), _items("V4", 96)])
    ev = _evidence(_grokked() + _vanilla(), config=config, predictions=predictions)
    outcome = _one(recurrent.sharing_is_the_cause, ev)
    assert outcome.status == INCONCLUSIVE and "no equal-parameters arm" in outcome.measured
    assert "equal-FLOPs arm V4" in outcome.measured and outcome.value == pytest.approx((600 - 96) / N_OOD)


def test_r2_with_too_few_shared_items_is_inconclusive():
    ev = _r2_evidence()
    few = ev.predictions[
        (ev.predictions["run"] != "V1") | (ev.predictions["prompt"].isin([f"q{i}" for i in range(19)]))
    ]
    outcome = _one(recurrent.sharing_is_the_cause, _evidence(ev.metrics, predictions=few))
    assert outcome.status == INCONCLUSIVE and "19 shared items, fewer than 20" in outcome.measured


@pytest.mark.parametrize(("epochs_per_step", "r1"), [(0.1, INCONCLUSIVE), (0.25, FAIL)])
def test_r2_is_inconclusive_until_r1_passes(epochs_per_step, r1):
    outcome = _one(recurrent.sharing_is_the_cause, _r2_evidence(ood=0.12, epochs_per_step=epochs_per_step))
    assert outcome.status == INCONCLUSIVE and f"R1 is {r1}" in outcome.measured


def test_r2_never_passes_an_untrained_looped_model():
    metrics = _curve("L1R4", lambda s: 0.05, lambda s: 0.05, lambda s: 0.02) + _vanilla() + _vanilla("V1")
    predictions = pd.concat([_items("L1R4", 16), _items("V4", 96), _items("V1", 96)])
    outcome = _one(recurrent.sharing_is_the_cause, _evidence(metrics, predictions=predictions))
    assert outcome.status == INCONCLUSIVE and "R1 is fail" in outcome.measured


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


def _lens_rows(run, network, step, site, mrr, iterations, test=None):
    """One site's rows at depths 0..4 (1 layer x 4 loops); MRR per depth on the selection half (`mrr`)
    and the test half (`test`, default the same), each CI +- 0.05."""
    target, position = LENS_SITES[site]
    test = mrr if test is None else test
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
            "ci_low_select": m - 0.05,
            "ci_high_select": m + 0.05,
            "mrr_test": t,
            "ci_low_test": t - 0.05,
            "ci_high_test": t + 0.05,
        }
        for depth, (m, t) in enumerate(zip(mrr, test, strict=True))
    ]


LOOPED = (0, 1, 2, 3, 4)
BRIDGE_MRR = (0.05, 0.8, 0.6, 0.4, 0.3)
# Not above the relation prior (CI high 0.35) at loop2.block1 (resid.2), above it from loop3.block1 on.
ANSWER_MRR = (0.05, 0.1, 0.2, 0.6, 0.9)
N_QUERIES = 100


def _lens(bridge=BRIDGE_MRR, answer=ANSWER_MRR, iterations=LOOPED, answer_test=None) -> pd.DataFrame:
    nulls = null_set(DATASET, "L1R4")
    rows = []
    for site, trained in (("bridge at r1", bridge), ("answer at r2", answer)):
        test = answer_test if site == "answer at r2" else None
        rows += _lens_rows("L1R4", "trained", 12000, site, trained, iterations, test)
        # An earlier checkpoint where nothing decodes: R4 reads the last one.
        rows += _lens_rows("L1R4", "trained", 1000, site, [0.05] * 5, iterations)
        rows += _lens_rows("L1R4", "step0", 0, site, [0.1] * 5, iterations)
        rows += _lens_rows(nulls, "random_init", 0, site, [0.1] * 5, iterations)
        rows += _lens_rows(nulls, "relation_prior", 0, site, [0.3] * 5, iterations)
    return pd.DataFrame(rows)


def _answer_queries(run, rr, step=12000, n=N_QUERIES) -> pd.DataFrame:
    """Per OOD query (prompts p0, p1, ...) the answer's reciprocal rank at each depth: rr[depth]."""
    return pd.DataFrame(
        [
            {
                "run": run,
                "site": "answer at r2",
                "split": OOD,
                "step": step,
                "layer": depth,
                "query": i,
                "prompt": f"p{i}",
                "rr": value,
            }
            for depth, value in enumerate(rr)
            for i in range(n)
        ]
    )


def _queries(looped=ANSWER_MRR, v4=(0.05, 0.1, 0.1, 0.1, 0.9)) -> pd.DataFrame:
    frames = [_answer_queries("L1R4", looped), _answer_queries("L1R4", [0.05] * 5, step=1000)]
    if v4 is not None:
        frames.append(_answer_queries("V4", v4))
    return pd.concat(frames, ignore_index=True)


def _r4(lens=None, queries=None, **looped):
    ev = _evidence(
        _grokked(**looped),
        lens=_lens() if lens is None else lens,
        lens_queries=_queries() if queries is None else queries,
    )
    return _one(recurrent.lens_per_loop, ev)


def test_r4_passes_when_the_answer_rises_in_a_later_loop_and_v4_does_not_have_it_there():
    outcome = _r4()
    assert outcome.status == PASS and outcome.value == pytest.approx(0.6 - 0.1)
    assert "selection half: loop2.block1@r2 (resid.2) 0.200" in outcome.measured  # the candidate before d*
    assert (
        "d* = loop3.block1@r2 (resid.3); test half there: 0.600 [0.550, 0.650] vs relation_prior (CI high 0.350)"
        in outcome.measured
    )
    assert f"looped - V4 at resid.3@r2: +0.500 [+0.500, +0.500] (p = {1 / 2001:.4f}) on 50" in outcome.measured


def test_r4_picks_the_earliest_depth_above_the_nulls_not_the_best():
    outcome = _r4(lens=_lens(answer=(0.05, 0.1, 0.5, 0.9, 0.9)), queries=_queries(looped=(0.05, 0.1, 0.5, 0.9, 0.9)))
    assert outcome.status == PASS and "d* = loop2.block1@r2 (resid.2)" in outcome.measured
    assert outcome.value == pytest.approx(0.5 - 0.1)


def test_r4_fails_when_the_answer_decodes_only_at_the_output():
    # Version R1 passed this: the answer "after loop 1" was read at the output, the model's own prediction.
    only_output = (0.05, 0.1, 0.2, 0.3, 0.9)
    ev = _evidence(_grokked(), lens=_lens(answer=only_output), lens_queries=_queries(looped=only_output))
    assert _one(recurrent.composes_ood, ev).status == PASS
    outcome = _one(recurrent.lens_per_loop, ev)
    assert outcome.status == FAIL and math.isnan(outcome.value) and "none above the nulls" in outcome.measured


def test_r4_fails_when_the_test_half_does_not_confirm_the_selection_halfs_depth():
    outcome = _r4(lens=_lens(answer_test=(0.05, 0.1, 0.2, 0.32, 0.9)))  # CI [0.27, 0.37] overlaps the prior's
    assert outcome.status == FAIL and "not above the nulls on the test half" in outcome.measured


def test_r4_fails_when_v4_decodes_the_answer_as_well_at_the_same_depth():
    outcome = _r4(queries=_queries(v4=ANSWER_MRR))
    assert outcome.status == FAIL and outcome.value == pytest.approx(0.0) and "(p = 1.0000)" in outcome.measured


def test_r4_is_inconclusive_when_v4_is_not_probed_or_absent():
    assert _r4(queries=_queries(v4=None)).status == INCONCLUSIVE
    no_v4 = _config(runs=("L1R4", "V1"), recurrent_section={**RECURRENT, "vanilla_runs": ["V1"]})
    ev = _evidence(_grokked(), config=no_v4, lens=_lens(), lens_queries=_queries())
    outcome = _one(recurrent.lens_per_loop, ev)
    assert outcome.status == INCONCLUSIVE and "the equal-FLOPs arm is not probed" in outcome.measured


def test_r4_is_censored_with_r1():
    flat = (0.05, 0.1, 0.1, 0.1, 0.1)
    outcome = _r4(lens=_lens(answer=flat), queries=_queries(looped=flat), ood=0.12, epochs_per_step=0.1)
    assert outcome.status == INCONCLUSIVE and "censored with R1" in outcome.measured


@pytest.mark.parametrize("epochs_per_step", [0.1, 0.25])
def test_r4_never_passes_an_untrained_model(epochs_per_step):
    nothing = [0.05] * 5
    metrics = _curve("L1R4", lambda s: 0.05, lambda s: 0.05, lambda s: 0.02, epochs_per_step=epochs_per_step)
    ev = _evidence(metrics, lens=_lens(bridge=nothing, answer=nothing), lens_queries=_queries(looped=nothing))
    assert _one(recurrent.lens_per_loop, ev).status in (FAIL, INCONCLUSIVE)


@pytest.mark.parametrize("iterations", [(1, 1, 1, 1, 1), (0, 1, 1, 1, 1)])
def test_r4_fails_a_model_that_does_not_loop(iterations):
    outcome = _r4(lens=_lens(iterations=iterations))
    assert outcome.status == FAIL and "does not loop" in outcome.measured and math.isnan(outcome.value)


def test_r4_is_not_tested_on_lens_tables_without_the_selection_halfs_interval():
    old = _lens().drop(columns=["ci_low_select", "ci_high_select"])
    assert _one(recurrent.lens_per_loop, _evidence(_grokked(), lens=old, lens_queries=_queries())) is None


# R5


def _sweep(id_accuracy, trained=4, step=12000, run="L1R4") -> pd.DataFrame:
    """ID and OOD summary rows at r = 1..3R."""
    rows = []
    for split, accuracy in ((ID, id_accuracy), (OOD, [0.1] * 9 + [0.99, 0.1, 0.1])):
        for r, a in enumerate(accuracy, start=1):
            rows.append(
                {
                    "run": run,
                    "step": step,
                    "split": split,
                    "recurrence": r,
                    "trained_recurrence": trained,
                    "accuracy": a,
                    "correct": round(a * N_ID),
                    "n": N_ID,
                }
            )
    return pd.DataFrame(rows)


# Mean ID margins at r = 1..12: rising to a peak at r = 5, then falling by 2 by r = 12.
RISE_AND_FALL = (1.0, 2.0, 3.0, 4.0, 5.0, 4.8, 4.6, 4.4, 4.0, 3.6, 3.3, 3.0)


def _sweep_items(select=RISE_AND_FALL, test=None, step=12000, run="L1R4", n=N_ID) -> pd.DataFrame:
    """Every ID item's margin at r = 1..12: the selection half's (even items) mean curve is `select`,
    the test half's `test` (default the same), each item off it by a fixed noise of sd 0.2."""
    test = select if test is None else test
    noise = np.random.default_rng(0).normal(0.0, 0.2, n)
    return pd.DataFrame(
        [
            {
                "run": run,
                "step": step,
                "split": ID,
                "recurrence": r,
                "item": i,
                "correct": True,
                "margin": (select if i % 2 == 0 else test)[r - 1] + noise[i],
            }
            for r in range(1, len(select) + 1)
            for i in range(n)
        ]
    )


def _r5(accuracy, items=None, **looped):
    items = _sweep_items() if items is None else items
    return _one(recurrent.overthinking, _evidence(_grokked(**looped), sweep=_sweep(accuracy), sweep_items=items))


PEAK_AT_5 = [0.1, 0.3, 0.7, 0.95, 0.96, 0.92, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5]
PEAK_AT_10 = [0.1, 0.3, 0.7, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.98, 0.97, 0.96]


def test_r5_passes_when_id_peaks_near_r_and_the_test_halfs_margin_falls_by_3r():
    # An earlier checkpoint that only rises: R5 reads the last one.
    sweep = pd.concat([_sweep(PEAK_AT_5), _sweep(PEAK_AT_10, step=1000)])
    items = pd.concat([_sweep_items(), _sweep_items(select=tuple(range(1, 13)), step=1000)])
    outcome = _one(recurrent.overthinking, _evidence(_grokked(), sweep=sweep, sweep_items=items))
    assert outcome.status == PASS and outcome.value == pytest.approx(2.0)
    assert "r = 1..12" in outcome.measured and "selection-half margin peaks at r = 5" in outcome.measured
    assert f"test-half drop to r = 12: +2.000 [+2.000, +2.000] (p = {1 / 2001:.4f}) on 200 items" in outcome.measured


def test_r5_reads_the_drop_from_the_selection_halfs_peak_on_the_test_half():
    # The test half peaks at r = 7 and ends where it stood at r = 5, the selection half's peak: no drop
    # from there. Picking the peak on all items (r = 6 or 7) would have found one.
    test = (1.0, 2.0, 3.0, 4.0, 3.0, 6.0, 7.0, 6.0, 5.0, 4.0, 3.5, 3.0)
    outcome = _r5(PEAK_AT_5, items=_sweep_items(test=test))
    assert outcome.status == FAIL and "peaks at r = 5" in outcome.measured and outcome.value == pytest.approx(0.0)


def test_r5_ties_go_to_the_smaller_r():
    tied = (1.0, 2.0, 3.0, 5.0, 5.0, 4.8, 4.6, 4.4, 4.0, 3.6, 3.3, 3.0)
    outcome = _r5(PEAK_AT_5, items=_sweep_items(select=tied))
    assert "peaks at r = 4" in outcome.measured and outcome.status == PASS


def test_r5_fails_when_the_margin_peaks_at_3r():
    outcome = _r5(PEAK_AT_5, items=_sweep_items(select=tuple(range(1, 13))))
    assert outcome.status == FAIL and "the margin peaks at 3R = 12" in outcome.measured


def test_r5_fails_when_accuracy_peaks_far_beyond_r():
    assert _r5(PEAK_AT_10).status == FAIL


def test_r5_fails_when_the_test_halfs_drop_is_within_noise():
    level_after_peak = (1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0)
    outcome = _r5(PEAK_AT_5, items=_sweep_items(test=level_after_peak))
    assert outcome.status == FAIL and outcome.value == pytest.approx(0.0)


@pytest.mark.parametrize(("epochs_per_step", "status"), [(0.1, INCONCLUSIVE), (0.25, FAIL)])
def test_r5_without_id_generalized_at_r_is_censored_or_fails(epochs_per_step, status):
    low = [0.1, 0.3, 0.5, 0.6, 0.55, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.1]
    outcome = _r5(low, epochs_per_step=epochs_per_step)
    assert outcome.status == status and "ID has not generalized at R" in outcome.measured


def test_r5_with_too_few_items_is_inconclusive():
    outcome = _r5(PEAK_AT_5, items=_sweep_items(n=30))  # 15 test-half items
    assert outcome.status == INCONCLUSIVE and "15 shared items, fewer than 20" in outcome.measured


@pytest.mark.parametrize("epochs_per_step", [0.1, 0.25])
def test_r5_never_passes_an_untrained_model(epochs_per_step):
    chance = [0.02] * 12
    outcome = _r5(chance, items=_sweep_items(select=(0.0,) * 12), epochs_per_step=epochs_per_step)
    assert outcome.status in (FAIL, INCONCLUSIVE)


def test_r5_is_not_tested_without_the_per_item_sweep():
    assert _one(recurrent.overthinking, _evidence(_grokked(), sweep=_sweep(PEAK_AT_5))) is None


# The claims a preset is tested on


def test_claims_of_picks_r1_to_r5_for_a_recurrent_preset_only():
    main, version = claims_of(_config(recurrent_section=None))
    assert main is CLAIMS and version == CRITERIA_VERSION and main[0].claim == "C1"
    rec, rec_version = claims_of(_config())
    assert rec is RECURRENT_CLAIMS and rec_version == RECURRENT_CRITERIA_VERSION
    assert [c.claim for c in rec] == ["R1", "R2", "R3", "R4", "R5"]


def test_evaluate_a_recurrent_preset_reproduces_r1_to_r5_on_composing_evidence():
    predictions = pd.concat([_items("L1R4", 600), _items("V4", 96), _items("V1", 120)])
    ev = _evidence(
        _grokked() + _vanilla() + _vanilla("V1"),
        predictions=predictions,
        lens=_lens(),
        lens_queries=_queries(),
        sweep=_sweep(PEAK_AT_5),
        sweep_items=_sweep_items(),
    )
    table = evaluate(ev)
    assert list(table["claim"]) == ["R1", "R2", "R3", "R4", "R5"]
    assert (table["criteria_version"] == "R2 (2026-12-08)").all()
    assert list(table["status"]) == ["reproduced"] * 5
    assert list(table["seeds_passing"]) == ["1 of 1"] * 5
    assert "2000 epochs" in table.loc[0, "criterion"]


def test_evaluate_a_recurrent_preset_without_lens_or_sweep_leaves_r4_and_r5_untested():
    predictions = pd.concat([_items("L1R4", 96), _items("V4", 96), _items("V1", 96)])
    ev = _evidence(_grokked(ood=0.12) + _vanilla() + _vanilla("V1"), predictions=predictions)
    table = evaluate(ev).set_index("claim")
    assert list(table.index) == ["R1", "R2", "R3", "R4", "R5"]
    assert table.loc["R1", "status"] == "not reproduced"
    assert table.loc["R2", "status"] == INCONCLUSIVE
    assert table.loc["R3", "status"] == INCONCLUSIVE
    assert table.loc["R4", "status"] == table.loc["R5", "status"] == "not tested"
