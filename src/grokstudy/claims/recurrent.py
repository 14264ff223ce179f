"""R1-R5 (version R2): does looping the blocks let a transformer compose out of distribution? Each
criterion follows "Loop, Think, & Generalize" (Kohli, Parthasarathy, Sun, Yao, 2026; docs/recurrent.md,
docs/claims.md). They read the looped arm named in `claims.recurrent.looped_run` and, among
`vanilla_runs`, the equal-FLOPs arm (as deep as the looped arm, about four times its parameters) and
the equal-parameters arm (one loop of its blocks, a quarter of its FLOPs), told apart by depth.

OOD "rises" at the first evaluation whose Wilson 95 % lower bound is above the upper bound of the
relation-frequency baseline (what knowing r2's usual tail scores). A run that stops before the
paper's looped model had composed (`ood_epochs`) with OOD still at its baseline is censored:
inconclusive, not a failure. Paired tests are version 4's (grokstudy.claims.paired); halves are the
even (selection) and odd (test) query or item indices.
"""

import math

import pandas as pd

from grokstudy import sites
from grokstudy.claims.criteria import FAIL, ID, INCONCLUSIVE, OOD, PASS, TRAIN, Outcome
from grokstudy.claims.evidence import Evidence, Replicate, accuracy_text
from grokstudy.claims.mechanism import final_lens, nulls_at, state_at
from grokstudy.claims.paired import PairedTest, paired_on_shared, paired_test
from grokstudy.stats import wilson_interval

ANSWER = "answer at r2"
EQUAL_FLOPS, EQUAL_PARAMETERS = "equal-FLOPs", "equal-parameters"
SELECT, TEST = "select", "test"


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


def _shape(ev: Evidence, run: str) -> tuple[int, int]:
    """(blocks per loop, loops) of a run's model; a model that does not loop is one loop of its layers."""
    spec = ev.run(run)
    return int(spec.get("layers_per_loop") or spec["layers"]), int(spec.get("recurrence") or 1)


def vanilla_arms(ev: Evidence, rep: Replicate, looped: str) -> dict[str, str | None]:
    """The replicate's equal-FLOPs and equal-parameters arms among `vanilla_runs` (None when absent): the
    first vanilla run, one loop, as deep as the looped arm, and as deep as one of its loops."""
    per_loop, loops = _shape(ev, looped)
    depths = {EQUAL_FLOPS: per_loop * loops, EQUAL_PARAMETERS: per_loop}
    arms: dict[str, str | None] = dict.fromkeys(depths)
    for base in ev.criteria["recurrent"]["vanilla_runs"]:
        run = rep.runs.get(base)
        if run is None:
            continue
        blocks, vanilla_loops = _shape(ev, run)
        for role, depth in depths.items():
            if arms[role] is None and vanilla_loops == 1 and blocks == depth:
                arms[role] = run
    return arms


def _paired_ood(ev: Evidence, looped: str, vanilla: str) -> PairedTest:
    """looped - vanilla, right (1) or wrong (0), on the OOD items both answered at their last evaluations."""
    mine = ev.correct_items(looped, OOD, ev.last_step(looped)).astype(int)
    theirs = ev.correct_items(vanilla, OOD, ev.last_step(vanilla)).astype(int)
    return paired_on_shared(mine, theirs)


def sharing_is_the_cause(ev: Evidence, rep: Replicate) -> Outcome | None:
    """R2: once R1 passes, neither vanilla arm's OOD ever rises, and the looped arm beats each, the
    equal-FLOPs and the equal-parameters one, on the same OOD items (paired, one-sided p <= 0.025)."""
    looped = _looped(ev, rep)
    arms = vanilla_arms(ev, rep, looped) if looped is not None else {}
    present = {role: run for role, run in arms.items() if run is not None}
    if not present:
        return None
    parts, ok = [], True
    tests = {role: _paired_ood(ev, looped, run) for role, run in present.items()}
    for role, run in present.items():
        rose = ood_rises(ev, run)
        ok &= rose is None and tests[role].shown
        risen = "never rises" if rose is None else f"rises at step {rose}"
        parts.append(f"{role} arm {_state(ev, run)}, OOD {risen}; looped - vanilla {tests[role].text()} OOD items")
    measured = "; ".join(parts)
    known = [test.mean for test in tests.values() if test.decided]
    value = min(known) if known else math.nan
    first = composes_ood(ev, rep)
    if first.status != PASS:
        return Outcome(INCONCLUSIVE, value, f"R1 is {first.status}: nothing to attribute yet; " + measured)
    missing = [role for role in arms if role not in present]
    if missing:
        why = f"; no {' or '.join(missing)} arm, so sharing cannot be told from size and compute"
        return Outcome(INCONCLUSIVE, value, measured + why)
    if not all(test.decided for test in tests.values()):
        return Outcome(INCONCLUSIVE, value, measured)
    return Outcome(PASS if ok else FAIL, value, measured)


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


def _above_nulls(ev: Evidence, run: str, final: pd.DataFrame, depth: int, half: str) -> tuple[bool, str]:
    """Is the answer's MRR interval on one half of the OOD queries above every null's at `depth`?"""
    nulls = nulls_at(ev, run, ANSWER, depth, OOD)
    strongest = nulls.loc[nulls[f"ci_high_{half}"].idxmax()]
    at = final.loc[depth]
    above = bool(at[f"ci_low_{half}"] > strongest[f"ci_high_{half}"])
    text = (
        f"{at[f'mrr_{half}']:.3f} [{at[f'ci_low_{half}']:.3f}, {at[f'ci_high_{half}']:.3f}] vs "
        f"{strongest['network']} (CI high {strongest[f'ci_high_{half}']:.3f})"
    )
    return above, text


def _named(final: pd.DataFrame, depth: int) -> str:
    """A state by loop and block and by depth: loop2.block1@r2 (resid.2)."""
    return f"{state_at(final, depth)} ({sites.resid(depth)})"


def _answer_depth(ev: Evidence, run: str, final: pd.DataFrame) -> tuple[int | None, str]:
    """d*: the earliest depth in loop 2 or later, before the output, whose selection-half answer MRR
    interval lies above every null's; and what each candidate read."""
    output = int(final.index.max())
    candidates = [int(d) for d in final.index if final.loc[d, "iteration"] >= 2 and d < output]
    if not candidates:
        return None, f"no depth in loop 2 or later before the output ({_named(final, output)})"
    readings = []
    for depth in candidates:
        above, text = _above_nulls(ev, run, final, depth, SELECT)
        readings.append(f"{_named(final, depth)} {text}")
        if above:
            return depth, "selection half: " + "; ".join(readings)
    return None, "selection half: " + "; ".join(readings) + ": none above the nulls"


def _answer_ranks(ev: Evidence, run: str, depth: int) -> pd.Series:
    """The answer's reciprocal rank per OOD query (by prompt) at `depth`, at the run's last lens checkpoint."""
    q = ev.lens_queries
    if q.empty or "split" not in q:
        return pd.Series(dtype=float)
    rows = q[(q["run"] == run) & (q["site"] == ANSWER) & (q["split"] == OOD)]
    rows = rows[(rows["step"] == rows["step"].max()) & (rows["layer"] == depth)]
    return rows.set_index("prompt")["rr"]


def _contrast_with_vanilla(ev: Evidence, run: str, vanilla: str | None, depth: int) -> PairedTest | None:
    """Looped minus the equal-FLOPs arm at `depth`, per test-half OOD query both probes hold; None
    when that arm is absent or not probed."""
    theirs = _answer_ranks(ev, vanilla, depth) if vanilla is not None else pd.Series(dtype=float)
    if theirs.empty:
        return None
    q = ev.lens_queries
    test_half = q.loc[(q["run"] == run) & (q["site"] == ANSWER) & (q["query"] % 2 == 1), "prompt"]
    mine = _answer_ranks(ev, run, depth)
    return paired_on_shared(mine[mine.index.isin(set(test_half))], theirs)


def lens_per_loop(ev: Evidence, rep: Replicate) -> Outcome | None:
    """R4: on OOD queries at the last checkpoint, the answer at r2 first rises above every null at d*
    (selection half; loop 2 or later, before the output), stays above them on the test half, and
    decodes better there than in the equal-FLOPs vanilla arm at the same depth (paired per query)."""
    run = _looped(ev, rep)
    final = final_lens(ev, run, ANSWER, OOD) if run is not None and not ev.lens.empty else pd.DataFrame()
    if final.empty or "ci_low_select" not in final:
        return None
    if sites.layers_per_loop_of(final["iteration"].items()) is None:
        return Outcome(FAIL, math.nan, f"{run} does not loop: every residual state is in loop 1")
    depth, measured = _answer_depth(ev, run, final)
    censored_r1 = composes_ood(ev, rep).status == INCONCLUSIVE

    def failed(value: float, text: str) -> Outcome:
        if censored_r1:
            return Outcome(INCONCLUSIVE, value, text + "; censored with R1: OOD has not been learned yet")
        return Outcome(FAIL, value, text)

    if depth is None:
        return failed(math.nan, "answer at r2 on OOD queries, " + measured)
    above, test_text = _above_nulls(ev, run, final, depth, TEST)
    vanilla = vanilla_arms(ev, rep, run)[EQUAL_FLOPS]
    contrast = _contrast_with_vanilla(ev, run, vanilla, depth)
    value = math.nan if contrast is None else contrast.mean
    measured = f"answer at r2 on OOD queries, {measured}; d* = {_named(final, depth)}; test half there: {test_text}"
    if contrast is not None:
        measured += f"; looped - {vanilla} at {sites.at(sites.resid(depth), 'r2')}: {contrast.text()} test-half queries"
    if not above:
        return failed(value, measured + ": not above the nulls on the test half")
    if contrast is None:
        return Outcome(INCONCLUSIVE, value, measured + "; the equal-FLOPs arm is not probed")
    if not contrast.decided:
        return Outcome(INCONCLUSIVE, value, measured)
    return Outcome(PASS, value, measured) if contrast.shown else failed(value, measured)


def _item_margins(ev: Evidence, run: str, step: int) -> pd.DataFrame:
    """ID items (rows, by index in the split) by loops run (columns): each item's answer margin."""
    items = ev.sweep_items
    if items.empty:
        return pd.DataFrame()
    rows = items[(items["run"] == run) & (items["split"] == ID) & (items["step"] == step)]
    return rows.pivot(index="item", columns="recurrence", values="margin").sort_index(axis=1)


def overthinking(ev: Evidence, rep: Replicate) -> Outcome | None:
    """R5: at the last checkpoint, ID >= the threshold at the training recurrence R, ID accuracy peaks
    within one loop of R, and the ID margin falls from its peak (picked on the selection half of the
    items) to 3R (read on the test half: paired, one-sided p <= 0.025)."""
    run = _looped(ev, rep)
    sweep = ev.sweep
    if run is None or sweep.empty:
        return None
    rows = sweep[(sweep["run"] == run) & (sweep["split"] == ID)]
    if rows.empty:
        return None
    step = int(rows["step"].max())
    rows = rows[rows["step"] == step].set_index("recurrence").sort_index()
    margins = _item_margins(ev, run, step)
    if margins.empty:
        return None
    trained, deepest = int(rows["trained_recurrence"].iloc[0]), int(rows.index.max())
    near = rows.loc[[r for r in rows.index if abs(r - trained) <= 1], "accuracy"].max()
    selection, test = margins[margins.index % 2 == 0], margins[margins.index % 2 == 1]
    peak = int(selection.mean().idxmax())  # the first of equal means: ties go to the smaller r
    drop = paired_test(test[peak] - test[deepest])
    measured = (
        f"ID accuracy at r = 1..{deepest}: "
        + ", ".join(f"{a:.2f}" for a in rows["accuracy"])
        + f"; selection-half margin peaks at r = {peak}; test-half drop to r = {deepest}: {drop.text()} items"
    )
    if rows.loc[trained, "accuracy"] < ev.criteria["generalize_threshold"]:
        status = INCONCLUSIVE if censored(ev, run) else FAIL
        return Outcome(status, drop.mean, measured + "; ID has not generalized at R")
    if peak == deepest:
        return Outcome(FAIL, drop.mean, measured + f"; the margin peaks at 3R = {deepest}")
    if not drop.decided:
        return Outcome(INCONCLUSIVE, drop.mean, measured)
    ok = near >= rows["accuracy"].max() and drop.shown
    return Outcome(PASS if ok else FAIL, drop.mean, measured)
