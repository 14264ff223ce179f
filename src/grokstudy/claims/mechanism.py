"""C7, the mechanism of composition, read off the analyses of the grokking run (docs/claims.md).

Three tests, each following the paper's measurement:
- C7-bridge: the bridge decodes at r1 at the bridge layer, above every null and above an atomic-only
  control trained on as many atomic facts, compared query by query;
- C7-r2: the r2 relation token becomes decodable at resid.{bridge}@r2 during grokking;
- C7-causal: the resid.{bridge}@r1 state's causal strength on the prediction grows during grokking.
The bridge layer is fixed by a rule stated in advance: the earliest intermediate layer whose
selection-half MRR reaches `bridge_mrr_level`, else the paper's relative depth (5 of 8). Details
name the states they read by residual site and prompt position (grokstudy.sites), e.g. resid.5@r1.
"""

import math

import pandas as pd

from grokstudy import sites
from grokstudy.analyses.null_sets import null_set
from grokstudy.claims.criteria import FAIL, INCONCLUSIVE, MIN_PAIRED_ITEMS, PASS, TRAIN, Outcome
from grokstudy.claims.evidence import Evidence, Replicate
from grokstudy.stats import paired_difference_ci

BRIDGE, R2_TOKEN = "bridge at r1", "r2 at r2"
NULL_NETWORKS = ("random_init", "step0", "relation_prior")
PAPER_DEPTH = 5 / 8  # the paper's bridge layer: 5 of 8
# A control is matched when its atomic-fact epochs are within this fraction of the grokking run's.
MATCH_TOLERANCE = 0.05
# C7-r2: an MRR this high leaves no room to "become decodable" (with tied embeddings the input token
# often decodes from its own position even in an untrained network).
R2_CEILING = 0.9
# C7-causal: a strength this high at the end of memorization leaves no room to grow (near the
# embeddings, patching r1 is nearly replacing the token).
STRENGTH_CEILING = 0.9


def site_rows(ev: Evidence, owner: str, site: str, split: str = TRAIN) -> pd.DataFrame:
    """Logit-lens rows of one site on one split's queries (training two-hop by default), for a run or
    a null set."""
    lens = ev.lens
    return lens[
        (lens["run"] == owner) & (lens["target"] + " at " + lens["position"] == site) & (lens["split"] == split)
    ]


def final_lens(ev: Evidence, run: str, site: str = BRIDGE, split: str = TRAIN) -> pd.DataFrame:
    """The run's lens at its last checkpoint, by layer."""
    trained = site_rows(ev, run, site, split)
    trained = trained[trained["network"] == "trained"]
    return trained[trained["step"] == trained["step"].max()].set_index("layer")


def state_at(final: pd.DataFrame, layer: int) -> str:
    """Where a lens table indexed by layer (`final_lens`) was read at `layer`, by residual site and
    prompt position: resid.5@r1, or loop2.block1@r2 in a model that loops."""
    per_loop = sites.layers_per_loop_of(final.get("iteration", pd.Series(dtype=int)).items())
    return sites.at(sites.label(layer, per_loop), final.loc[layer, "position"])


def layer_by_rule(final: pd.DataFrame, level: float) -> int | None:
    """The earliest intermediate layer whose selection-half bridge MRR reaches `level`, else the paper's
    relative depth; None without an intermediate layer."""
    depth = int(final.index.max())
    if depth < 2:
        return None
    for layer in range(1, depth):
        if final.loc[layer, "mrr_select"] >= level:
            return layer
    return min(max(math.floor(depth * PAPER_DEPTH), 1), depth - 1)


def bridge_layer(ev: Evidence, run: str) -> int | None:
    final = final_lens(ev, run)
    return None if final.empty else layer_by_rule(final, ev.criteria["bridge_mrr_level"])


def nulls_at(ev: Evidence, run: str, site: str, layer: int, split: str = TRAIN) -> pd.DataFrame:
    """The run's step-0 checkpoint and its null set's networks, at one layer of one site."""
    spec = ev.run(run)
    null_networks = null_set(spec["dataset"], spec["model"])
    rows = pd.concat([site_rows(ev, run, site, split), site_rows(ev, null_networks, site, split)])
    return rows[rows["network"].isin(NULL_NETWORKS) & (rows["layer"] == layer)]


def _per_query(ev: Evidence, run: str, site: str, layer: int, step: int) -> pd.Series:
    q = ev.lens_queries
    rows = q[(q["run"] == run) & (q["site"] == site) & (q["layer"] == layer) & (q["step"] == step)]
    return rows.set_index("prompt")["rr"]


def _paired(a: pd.Series, b: pd.Series) -> tuple[float, float, float, int]:
    """Mean of b - a over the items both hold, its paired bootstrap 95 % CI, and the item count."""
    shared = a.index.intersection(b.index)
    if len(shared) < MIN_PAIRED_ITEMS:
        return math.nan, math.nan, math.nan, len(shared)
    return (*paired_difference_ci(b.loc[shared].to_numpy(float) - a.loc[shared].to_numpy(float)), len(shared))


def _control_contrast(ev: Evidence, run: str, control: str, layer: int) -> tuple[float, float, float, int, float]:
    """The grokking run minus a control on the test half of the bridge queries at their final
    checkpoints (paired by query), and the control's atomic-fact epochs."""
    q = ev.lens_queries
    test_half = set(q.loc[(q["run"] == run) & (q["site"] == BRIDGE) & (q["query"] % 2 == 1), "prompt"])
    mine = _per_query(ev, run, BRIDGE, layer, ev.last_step(run))
    theirs = _per_query(ev, control, BRIDGE, layer, ev.last_step(control))
    mine = mine[mine.index.isin(test_half)]
    return (*_paired(theirs, mine), ev.epoch_at(control))


def bridge_decodable(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C7-bridge: at the layer the rule picks, the bridge's test-half MRR CI lies above every null's,
    and above the matched atomic-only control's by a paired per-query difference (95 % CI above 0)."""
    c = ev.criteria
    run = rep.runs.get(c.get("grokking_run"))
    final = final_lens(ev, run) if run is not None and not ev.lens.empty else pd.DataFrame()
    if final.empty:
        return None
    layer = layer_by_rule(final, c["bridge_mrr_level"])
    if layer is None:
        return Outcome(FAIL, math.nan, "the model has no intermediate layer")
    trained = final.loc[layer]
    nulls = nulls_at(ev, run, BRIDGE, layer)
    strongest = nulls.loc[nulls["ci_high_test"].idxmax()]
    how = (
        f"the earliest with selection-half MRR >= {c['bridge_mrr_level']}"
        if final.loc[layer, "mrr_select"] >= c["bridge_mrr_level"]
        else f"no layer reached {c['bridge_mrr_level']}: 5/8 of the depth"
    )
    measured = (
        f"bridge at {state_at(final, layer)} ({how}): test-half MRR "
        f"{trained['mrr_test']:.3f} [{trained['ci_low_test']:.3f}, {trained['ci_high_test']:.3f}]; strongest null "
        f"{strongest['network']} {strongest['mrr_test']:.3f} (CI high {strongest['ci_high_test']:.3f})"
    )
    if trained["ci_low_test"] <= strongest["ci_high_test"]:
        return Outcome(FAIL, math.nan, measured + ": not above the nulls")
    control = rep.runs.get(c.get("control_run"))
    if control is None:
        return Outcome(INCONCLUSIVE, math.nan, measured + "; no atomic-only control, so atomic recall is not ruled out")
    target_epochs = ev.epoch_at(run)
    contrasts = {}
    for base in [c["control_run"], *c.get("control_sensitivity_runs", [])]:
        other = rep.runs.get(base)
        if other is not None:
            contrasts[base] = _control_contrast(ev, run, other, layer)
    measured += f"; grokking run at {target_epochs:.0f} atomic epochs minus atomic-only control, paired: " + ", ".join(
        f"{base} ({epochs:.0f} epochs) {d:+.3f} [{lo:+.3f}, {hi:+.3f}] on {n}"
        for base, (d, lo, hi, n, epochs) in contrasts.items()
    )
    difference, low, _, _, epochs = contrasts[c["control_run"]]
    if abs(epochs / target_epochs - 1) > MATCH_TOLERANCE:
        return Outcome(FAIL, difference, measured + "; the control is not matched in atomic epochs", as_stated=False)
    if math.isnan(difference):
        return Outcome(INCONCLUSIVE, math.nan, measured + f"; fewer than {MIN_PAIRED_ITEMS} shared queries")
    if low <= 0:
        return Outcome(FAIL, difference, measured + ": a control that never saw a two-hop fact decodes it as well")
    return Outcome(PASS, difference, measured)


def _grokking_window(ev: Evidence, run: str, steps: list[int]) -> tuple[int | None, str]:
    """The first analysed checkpoint at or after the end of memorization (train >= memorized_threshold),
    or None with the reason."""
    threshold = ev.criteria["memorized_threshold"]
    memorized = ev.first_step(run, TRAIN, threshold)
    start = next((s for s in steps if memorized is not None and s >= memorized), None)
    if start is None or start == steps[-1]:
        return None, f"censored: no checkpoint after training reached {threshold} and before the last"
    return start, ""


def r2_becomes_decodable(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C7-r2: at resid.{bridge}@r2 the lens's MRR of the r2 relation token rises from the end of
    memorization to the last checkpoint (paired per query, 95 % CI above 0) and ends above every null."""
    run = rep.runs.get(ev.criteria.get("grokking_run"))
    if run is None or ev.lens_queries.empty:
        return None
    layer = bridge_layer(ev, run)
    rows = site_rows(ev, run, R2_TOKEN)
    steps = sorted(rows.loc[rows["network"] != "random_init", "step"].unique())
    if layer is None or not steps:
        return None
    start, reason = _grokking_window(ev, run, steps)
    if start is None:
        return Outcome(INCONCLUSIVE, math.nan, reason)
    change, low, high, n = _paired(
        _per_query(ev, run, R2_TOKEN, layer, start), _per_query(ev, run, R2_TOKEN, layer, steps[-1])
    )
    final = final_lens(ev, run, R2_TOKEN)
    end = final.loc[layer]
    nulls = nulls_at(ev, run, R2_TOKEN, layer)
    strongest = nulls.loc[nulls["ci_high"].idxmax()]
    measured = (
        f"r2 token at {state_at(final, layer)}, {n} training queries: MRR step {start} -> {steps[-1]} change "
        f"{change:+.3f} [{low:+.3f}, {high:+.3f}]; final {end['mrr']:.3f} [{end['ci_low']:.3f}, "
        f"{end['ci_high']:.3f}], strongest null {strongest['network']} {strongest['mrr']:.3f} "
        f"(CI high {strongest['ci_high']:.3f})"
    )
    if math.isnan(change):
        return Outcome(INCONCLUSIVE, math.nan, measured + f"; fewer than {MIN_PAIRED_ITEMS} queries")
    start_mrr = site_rows(ev, run, R2_TOKEN).query("step == @start and layer == @layer")["mrr"].max()
    if max(start_mrr, strongest["mrr"]) >= R2_CEILING:
        return Outcome(
            INCONCLUSIVE,
            change,
            measured + f"; at the ceiling (MRR >= {R2_CEILING}) already at step {start} or in a null network, so "
            "a rise cannot be measured at this state",
        )
    return Outcome(PASS if low > 0 and end["ci_low"] > strongest["ci_high"] else FAIL, change, measured)


def _strength(frame: pd.DataFrame, layer: int) -> pd.Series:
    return frame.set_index("prompt")[f"changed_{layer}"].astype(float)


def causal_strength_grows(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C7-causal: the resid.{bridge}@r1 state's causal strength (fraction of top-1 predictions that its
    own-position corruption changes) on training two-hop queries rises from the end of memorization to
    the last checkpoint: paired per query, 95 % CI above 0."""
    run = rep.runs.get(ev.criteria.get("grokking_run"))
    q = ev.causal_queries
    if run is None or q.empty or ev.lens.empty:
        return None
    layer = bridge_layer(ev, run)
    traced = q[(q["run"] == run) & (q["network"] != "random_init")]
    steps = sorted(traced["step"].unique())
    if layer is None or not steps:
        return None
    start, reason = _grokking_window(ev, run, steps)
    if start is None:
        return Outcome(INCONCLUSIVE, math.nan, reason)

    def at(step, split, position):
        return traced[(traced["step"] == step) & (traced["split"] == split) & (traced["position"] == position)]

    change, low, high, n = _paired(
        _strength(at(start, TRAIN, "r1"), layer), _strength(at(steps[-1], TRAIN, "r1"), layer)
    )
    panels = []
    for split in (TRAIN, "test_inferred_id"):
        first, last = at(start, split, "r1"), at(steps[-1], split, "r1")
        if not first.empty:
            panels.append(f"{split} {_strength(first, layer).mean():.3f} -> {_strength(last, layer).mean():.3f}")
    measured = (
        f"S[{state_at(final_lens(ev, run), layer)}] from step {start} to {steps[-1]} (own-position corruption "
        f"r1 -> r1', fraction of top-1 changed): {'; '.join(panels)}; paired change on {n} training queries "
        f"{change:+.3f} [{low:+.3f}, {high:+.3f}]"
    )
    if math.isnan(change):
        return Outcome(INCONCLUSIVE, math.nan, measured + f"; fewer than {MIN_PAIRED_ITEMS} traced queries")
    if _strength(at(start, TRAIN, "r1"), layer).mean() >= STRENGTH_CEILING:
        return Outcome(
            INCONCLUSIVE,
            change,
            measured + f"; at the ceiling (strength >= {STRENGTH_CEILING}) already at step {start}, so growth "
            "cannot be measured at this state",
        )
    return Outcome(PASS if low > 0 else FAIL, change, measured)
