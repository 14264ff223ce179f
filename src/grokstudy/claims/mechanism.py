"""C7, the mechanism of composition, read off the probes of the grokking run (docs/study.md §6).

The bridge layer is fixed by a rule stated before any test: the intermediate layer where the
bridge decodes best at r1 on the selection half of the training queries. C7a tests it on the
other half; C7b reads the causal effect of the r2 state at that layer on ID test queries.
"""

import math

import numpy as np
import pandas as pd

from grokstudy.claims.criteria import FAIL, ID, INCONCLUSIVE, PASS, TRAIN, Outcome
from grokstudy.claims.evidence import Evidence, Replicate

NULL_NETWORKS = ("random_init", "step0", "relation_prior")
# C7b: the fewest queries correct at both checkpoints a share is read from, and its paired bootstrap.
MIN_TRACED_QUERIES = 10
SHARE_RESAMPLES, SHARE_CONFIDENCE = 2000, 0.95


def _bridge_site(ev: Evidence, run: str) -> pd.DataFrame:
    """The run's logit-lens rows for the bridge: position r1, training two-hop queries."""
    lens = ev.lens
    return lens[(lens["run"] == run) & (lens["position"] == "r1") & (lens["split"] == TRAIN)]


def _final_lens(ev: Evidence, run: str) -> pd.DataFrame:
    trained = _bridge_site(ev, run)
    trained = trained[trained["network"] == "trained"]
    return trained[trained["step"] == trained["step"].max()].set_index("layer")


def _best_middle_layer(final: pd.DataFrame) -> int | None:
    middle = final.loc[(final.index > 0) & (final.index < final.index.max())]
    return None if middle.empty else int(middle["mrr_select"].idxmax())


def bridge_layer(ev: Evidence, run: str) -> int | None:
    """The intermediate layer where the bridge decodes best at r1, chosen on the selection half of the queries."""
    final = _final_lens(ev, run)
    return None if final.empty else _best_middle_layer(final)


def bridge_decodable(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C7a: at the chosen layer the bridge decodes better than every null that knows the relation
    (relation-frequency prior), the untrained networks, and the atomic-only control (test half, 95 % CIs)."""
    c = ev.criteria
    run = rep.runs.get(c.get("grokking_run"))
    final = _final_lens(ev, run) if run is not None and not ev.lens.empty else pd.DataFrame()
    if final.empty:
        return None
    layer = _best_middle_layer(final)
    if layer is None:
        return Outcome(FAIL, math.nan, "the model has no intermediate layer")
    trained = final.loc[layer]
    site = _bridge_site(ev, run)
    nulls = site[site["network"].isin(NULL_NETWORKS) & (site["layer"] == layer)]
    strongest = nulls.loc[nulls["ci_high_test"].idxmax()]
    measured = (
        f"layer {layer} (chosen on the selection half): bridge MRR {trained['mrr_test']:.3f} "
        f"[{trained['ci_low_test']:.3f}, {trained['ci_high_test']:.3f}] on the test half; strongest null "
        f"{strongest['network']} {strongest['mrr_test']:.3f} (CI high {strongest['ci_high_test']:.3f})"
    )
    control_run = rep.runs.get(c.get("control_run"))
    control = None if control_run is None else _final_lens(ev, control_run).loc[layer]
    if control is not None:
        measured += (
            f"; atomic-only control {control['mrr_test']:.3f} "
            f"[{control['ci_low_test']:.3f}, {control['ci_high_test']:.3f}]"
        )
    if trained["ci_low_test"] <= strongest["ci_high_test"]:
        return Outcome(FAIL, trained["mrr_test"] - strongest["mrr_test"], measured)
    if control is None:
        return Outcome(
            INCONCLUSIVE,
            trained["mrr_test"] - strongest["mrr_test"],
            measured + "; no atomic-only control was run, so atomic recall is not ruled out",
        )
    if trained["ci_low_test"] <= control["ci_high_test"]:
        return Outcome(
            FAIL,
            trained["mrr_test"] - control["mrr_test"],
            measured
            + (
                ": a model that never saw a two-hop fact decodes the bridge there as well, so this reading is atomic "
                "recall of (h, r1), not evidence of two-hop reasoning"
            ),
        )
    return Outcome(PASS, trained["mrr_test"] - control["mrr_test"], measured)


def _share(drop: np.ndarray, total: np.ndarray) -> float:
    return float(drop.sum() / total.sum()) if abs(total.sum()) > 1e-9 else math.nan


def _paired_share_change(start: pd.DataFrame, final: pd.DataFrame, column: str) -> tuple[float, float, float]:
    """Change of the share of the total effect from start to final over the same queries, with a paired
    percentile bootstrap CI (queries resampled together at both checkpoints)."""
    arrays = [frame[name].to_numpy() for frame in (start, final) for name in (column, "total_effect")]
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(start), size=(SHARE_RESAMPLES, len(start)))
    changes = np.array([_share(arrays[2][p], arrays[3][p]) - _share(arrays[0][p], arrays[1][p]) for p in picks])
    tail = (1 - SHARE_CONFIDENCE) / 2
    low, high = np.nanquantile(changes, [tail, 1 - tail])
    return _share(arrays[2], arrays[3]) - _share(arrays[0], arrays[1]), float(low), float(high)


def causal_effect_grows(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C7b: on ID test queries answered correctly at both the end of memorization and the final
    checkpoint, the (bridge layer, r2) state's share of the corruption's total effect rises."""
    c = ev.criteria
    run = rep.runs.get(c.get("grokking_run"))
    queries = ev.causal_queries
    if run is None or queries.empty or ev.lens.empty:
        return None
    layer = bridge_layer(ev, run)
    memorized = ev.first_step(run, TRAIN, c["memorized_threshold"])
    traced = queries[(queries["run"] == run) & (queries["split"] == ID)]
    if traced.empty:
        return None
    steps = sorted(traced["step"].unique())
    start = next((s for s in steps if memorized is not None and s >= memorized), None)
    if layer is None or start is None or start == steps[-1]:
        return Outcome(FAIL, math.nan, f"training never reached {c['memorized_threshold']} before the last checkpoint")
    first = traced[traced["step"] == start].set_index("query").sort_index()
    last = traced[traced["step"] == steps[-1]].set_index("query").sort_index()
    both = first["correct"].astype(bool) & last["correct"].astype(bool)
    if both.sum() < MIN_TRACED_QUERIES:
        return Outcome(
            INCONCLUSIVE, math.nan, f"only {int(both.sum())} ID queries are correct at steps {start} and {steps[-1]}"
        )
    column = f"drop_{layer}_r2"
    first, last = first[both], last[both]
    change, low, high = _paired_share_change(first, last, column)
    measured = (
        f"layer {layer}, r2, {int(both.sum())} ID queries correct at steps {start} and {steps[-1]}: share of the "
        f"total effect {_share(first[column].to_numpy(), first['total_effect'].to_numpy()):.3f} -> "
        f"{_share(last[column].to_numpy(), last['total_effect'].to_numpy()):.3f} "
        f"(change {change:+.3f} [{low:+.3f}, {high:+.3f}]); "
        f"mean drop in P(answer) {first[column].mean():.3f} -> {last[column].mean():.3f}"
    )
    if low <= 0:
        measured += "; this 4-layer model does not show the growing effect" if high <= 0 or change <= 0 else ""
    return Outcome(PASS if low > 0 else FAIL, change, measured)
