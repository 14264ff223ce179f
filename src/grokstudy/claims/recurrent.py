"""R1-R5: does looping the blocks let a transformer compose out of distribution? Each criterion is
fixed from "Loop, Think, & Generalize" (Kohli, Parthasarathy, Sun, Yao, 2026) before the three-seed
runs were read (docs/recurrent.md, docs/claims.md). They read the looped arm named in
`claims.recurrent.looped_run` and the equal-FLOPs vanilla arms in `vanilla_runs`.

OOD "rises" at the first evaluation whose Wilson 95 % lower bound is above the upper bound of the
relation-frequency baseline (what knowing r2's usual tail scores). A run that stops before the
paper's looped model had composed (`ood_epochs`) with OOD still at its baseline is censored:
inconclusive, not a failure.
"""

import math

import pandas as pd

from grokstudy import sites
from grokstudy.claims.criteria import FAIL, ID, INCONCLUSIVE, MIN_PAIRED_ITEMS, OOD, PASS, TRAIN, Outcome
from grokstudy.claims.evidence import Evidence, Replicate, accuracy_text
from grokstudy.claims.mechanism import BRIDGE, final_lens, nulls_at, site_rows, state_at
from grokstudy.stats import paired_difference_ci, wilson_interval

ANSWER = "answer at r2"


def _looped(ev: Evidence, rep: Replicate) -> str | None:
    settings = ev.criteria.get("recurrent")
    return None if settings is None else rep.runs.get(settings["looped_run"])


def ood_rises(ev: Evidence, run: str) -> int | None:
    """The first evaluation step whose OOD lower bound is above the baseline's upper bound."""
    ceiling = ev.baseline(run, OOD)["interval"][1]
    for _, row in ev.rows(run, OOD).iterrows():
        if wilson_interval(round(row["accuracy"] * row["n"]), int(row["n"]))[0] > ceiling:
            return int(row["step"])
    return None


def censored(ev: Evidence, run: str) -> bool:
    """Stopped before the paper's looped model had composed OOD."""
    return ev.epoch_at(run) < ev.criteria["recurrent"]["ood_epochs"]


def _state(ev: Evidence, run: str) -> str:
    k, n = ev.count(run, ID)
    ood_k, ood_n = ev.count(run, OOD)
    base = ev.baseline(run, OOD)
    return (
        f"{run} at step {ev.last_step(run)} ({ev.epoch_at(run):.0f} epochs): ID {accuracy_text(k, n)}, OOD "
        f"{accuracy_text(ood_k, ood_n)}; relation-frequency baseline {base['accuracy']:.3f} "
        f"(upper 95% bound {base['interval'][1]:.3f})"
    )


def composes_ood(ev: Evidence, rep: Replicate) -> Outcome | None:
    """R1: at the last evaluation ID >= the generalization threshold and OOD's lower bound above the
    baseline's upper bound."""
    run = _looped(ev, rep)
    if run is None:
        return None
    k, n = ev.count(run, ID)
    ood_k, ood_n = ev.count(run, OOD)
    base = ev.baseline(run, OOD)
    value, measured = ood_k / ood_n - base["accuracy"], _state(ev, run)
    learned = k / n >= ev.criteria["generalize_threshold"]
    if learned and wilson_interval(ood_k, ood_n)[0] > base["interval"][1]:
        return Outcome(PASS, value, measured)
    if censored(ev, run):
        epochs = ev.criteria["recurrent"]["ood_epochs"]
        return Outcome(INCONCLUSIVE, value, measured + f"; censored: the run stopped before {epochs:.0f} epochs")
    return Outcome(FAIL, value, measured)


def _paired_ood(ev: Evidence, looped: str, vanilla: str) -> tuple[float, float, float, int]:
    """looped - vanilla, right (1) or wrong (0), on the OOD items both answered at their last evaluations."""
    a = ev.correct_items(looped, OOD, ev.last_step(looped))
    b = ev.correct_items(vanilla, OOD, ev.last_step(vanilla))
    shared = a.index.intersection(b.index)
    if len(shared) < MIN_PAIRED_ITEMS:
        return math.nan, math.nan, math.nan, len(shared)
    return (*paired_difference_ci(a.loc[shared].to_numpy(int) - b.loc[shared].to_numpy(int)), len(shared))


def sharing_is_the_cause(ev: Evidence, rep: Replicate) -> Outcome | None:
    """R2: no equal-FLOPs vanilla arm's OOD ever rises, and the looped arm beats each on the same OOD
    items (paired 95 % CI above 0). Decided only once the looped arm has composed (R1)."""
    looped = _looped(ev, rep)
    vanillas = [rep.runs[v] for v in ev.criteria["recurrent"]["vanilla_runs"] if v in rep.runs] if looped else []
    if not vanillas:
        return None
    first = composes_ood(ev, rep)
    parts, ok, gains = [], True, []
    for vanilla in vanillas:
        rose = ood_rises(ev, vanilla)
        gain, low, high, shared = _paired_ood(ev, looped, vanilla)
        ok &= rose is None and low > 0
        gains.append(gain)
        risen = "never rises" if rose is None else f"rises at step {rose}"
        parts.append(
            f"{_state(ev, vanilla)}, OOD {risen}; looped - vanilla {gain:+.3f} [{low:+.3f}, {high:+.3f}] "
            f"on {shared} OOD items"
        )
    measured = "; ".join(parts)
    if first.status != PASS:
        return Outcome(INCONCLUSIVE, min(gains), f"R1 is {first.status}: nothing to attribute yet; " + measured)
    return Outcome(PASS if ok else FAIL, min(gains), measured)


def ood_after_id(ev: Evidence, rep: Replicate) -> Outcome | None:
    """R3: the three stages in order: training fits, then ID generalizes, then OOD rises at least
    `stage_gap_evaluations` evaluations later, with ID still generalized."""
    run = _looped(ev, rep)
    if run is None:
        return None
    c = ev.criteria
    fit, generalized = ev.first_step(run, TRAIN, c["fit_threshold"]), ev.first_step(run, ID, c["generalize_threshold"])
    rose = ood_rises(ev, run)
    measured = (
        f"train >= {c['fit_threshold']} at step {fit}, ID >= {c['generalize_threshold']} at {generalized}, "
        f"OOD rises at {rose}"
    )
    if rose is None:
        return Outcome(INCONCLUSIVE, math.nan, measured + "; censored: OOD never rose, so its order is unknown")
    if fit is None or generalized is None or rose <= generalized:
        return Outcome(FAIL, math.nan if generalized is None else rose - generalized, measured)
    steps = ev.rows(run, ID)["step"]
    between = int(((steps > generalized) & (steps <= rose)).sum())
    in_order = fit <= generalized and between >= c["recurrent"]["stage_gap_evaluations"]
    still = ev.at(run, ID, rose)["accuracy"] >= c["generalize_threshold"]
    measured += f" ({between} evaluations after ID)"
    return Outcome(PASS if in_order and still else FAIL, rose - generalized, measured)


def _above_nulls(ev: Evidence, run: str, site: str, depths) -> tuple[float, bool, str]:
    """On OOD queries, at the depth (among `depths`) of the highest selection-half MRR: is the test
    half's CI above every null's? (test-half MRR, above, text)."""
    final = final_lens(ev, run, site, OOD)
    depth = int(final.loc[list(depths), "mrr_select"].idxmax())
    nulls = nulls_at(ev, run, site, depth, OOD)
    strongest = nulls.loc[nulls["ci_high_test"].idxmax()]
    at = final.loc[depth]
    above = bool(at["ci_low_test"] > strongest["ci_high_test"])
    text = (
        f"{at['target']} at {state_at(final, depth)}: {at['mrr_test']:.3f} "
        f"[{at['ci_low_test']:.3f}, {at['ci_high_test']:.3f}] vs {strongest['network']} "
        f"(CI high {strongest['ci_high_test']:.3f})"
    )
    return float(at["mrr_test"]), above, text


def lens_per_loop(ev: Evidence, rep: Replicate) -> Outcome | None:
    """R4: on OOD queries at the last checkpoint, the bridge decodes at r1 within loop 1 and the answer
    at r2 only after it, each judged at the depth its selection half picks, against every null."""
    run = _looped(ev, rep)
    rows = site_rows(ev, run, BRIDGE, OOD) if run is not None and not ev.lens.empty else pd.DataFrame()
    if rows.empty:
        return None
    loops = rows.groupby("layer")["iteration"].first()
    first, later = loops.index[loops == 1], loops.index[loops > 1]
    if later.empty:
        return Outcome(FAIL, math.nan, f"{run} does not loop: every residual state is in loop 1")
    value, bridge, bridge_text = _above_nulls(ev, run, BRIDGE, first)
    _, early, early_text = _above_nulls(ev, run, ANSWER, first)
    _, late, late_text = _above_nulls(ev, run, ANSWER, later)
    measured = (
        f"loop 1 = {sites.resid(first.min())}..{sites.resid(first.max())}; {bridge_text}; in loop 1 {early_text}; "
        f"after it {late_text}"
    )
    if bridge and not early and late:
        return Outcome(PASS, value, measured)
    if composes_ood(ev, rep).status == INCONCLUSIVE:
        return Outcome(INCONCLUSIVE, value, measured + "; censored with R1: OOD has not been learned yet")
    return Outcome(FAIL, value, measured)


def overthinking(ev: Evidence, rep: Replicate) -> Outcome | None:
    """R5: at the last checkpoint, ID >= the threshold at the training recurrence R, ID accuracy
    peaks within one loop of R, and the ID margin at 3R lies below its peak (paired 95 % CI above 0)."""
    run = _looped(ev, rep)
    sweep = ev.sweep
    if run is None or sweep.empty:
        return None
    rows = sweep[(sweep["run"] == run) & (sweep["split"] == ID)]
    if rows.empty:
        return None
    rows = rows[rows["step"] == rows["step"].max()].set_index("recurrence").sort_index()
    trained = int(rows["trained_recurrence"].iloc[0])
    near = rows.loc[[r for r in rows.index if abs(r - trained) <= 1], "accuracy"].max()
    deepest = rows.loc[rows.index.max()]
    measured = (
        f"ID accuracy at r = 1..{rows.index.max()}: "
        + ", ".join(f"{a:.2f}" for a in rows["accuracy"])
        + f"; margin peak at r = {int(deepest['peak_recurrence'])}, drop to r = {rows.index.max()}: "
        f"{deepest['drop_from_peak']:.2f} [{deepest['drop_ci_low']:.2f}, {deepest['drop_ci_high']:.2f}]"
    )
    if rows.loc[trained, "accuracy"] < ev.criteria["generalize_threshold"]:
        status = INCONCLUSIVE if censored(ev, run) else FAIL
        return Outcome(status, float(deepest["drop_from_peak"]), measured + "; ID has not generalized at R")
    ok = near >= rows["accuracy"].max() and deepest["drop_ci_low"] > 0
    return Outcome(PASS if ok else FAIL, float(deepest["drop_from_peak"]), measured)
