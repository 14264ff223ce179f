"""The paper's mechanism claims (C7), criteria version 4 (docs/claims.md).

Three tests, each following the paper's measurement:
- C7-bridge: the bridge decodes at r1 at the bridge layer, above every null, and above two
  atomic-only controls compared query by query: one trained for as many atomic epochs as the
  grokking run, one for as many steps with its schedule;
- C7-r2: the r2 token, ranked over the whole vocabulary, rises at resid.l@r2 from the fit step to
  the end of training, and ends above both controls;
- C7-causal: the causal strength of resid.l@r1, with the released code's corruption pools and
  metric, rises from the fit step to the end of training.
The bridge layer is fixed by version 3's rule (the earliest intermediate layer whose selection-half
MRR reaches `bridge_mrr_level`, else the paper's relative depth); C7-r2 and C7-causal read the
paper's relative depth, layers floor(5L/8) and ceil(5L/8), Holm-corrected. Details name the states
they read by residual site and prompt position (grokstudy.sites), e.g. resid.2@r1.
"""

import math

import pandas as pd

from grokstudy import sites
from grokstudy.analyses.null_sets import null_set
from grokstudy.claims.criteria import CLAIM_LEVEL, FAIL, ID, INCONCLUSIVE, MIN_PAIRED_ITEMS, PASS, TRAIN, Outcome
from grokstudy.claims.evidence import Evidence, Replicate
from grokstudy.claims.significance import Bootstrap, holm, paired_bootstrap

BRIDGE, R2_TOKEN = "bridge at r1", "r2 at r2"
NULL_NETWORKS = ("random_init", "step0", "relation_prior")
PAPER_DEPTH = 5 / 8  # the paper's layer: 5 of 8
# A control is matched when its atomic-fact epochs are within this fraction of the grokking run's.
MATCH_TOLERANCE = 0.05
# A start this high leaves no room for a rise of 0.01: the rise cannot be measured there.
CEILING = 0.99
RELEASED, V3 = "released", "v3"  # causal tracing's variants


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


def paper_layers(depth: int) -> list[int]:
    """floor(5L/8) and ceil(5L/8) of an L-block model, within 1 ... L - 1 and without repeats."""
    return sorted({min(max(f(depth * PAPER_DEPTH), 1), max(depth - 1, 1)) for f in (math.floor, math.ceil)})


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


def _per_query(ev: Evidence, run: str, site: str, layer: int, step: int, column: str = "rr") -> pd.Series:
    """One run's per-query reciprocal ranks at one site, layer and step, by prompt (`rr`: among the
    site's candidates; `rr_vocab`: among the whole vocabulary)."""
    q = ev.lens_queries
    rows = q[(q["run"] == run) & (q["site"] == site) & (q["layer"] == layer) & (q["step"] == step)]
    return rows.set_index("prompt")[column]


def _paired(a: pd.Series, b: pd.Series) -> Bootstrap | None:
    """b - a over the items both hold, by index; None with fewer than MIN_PAIRED_ITEMS of them."""
    shared = a.index.intersection(b.index)
    return paired_bootstrap(b.loc[shared].to_numpy(float) - a.loc[shared].to_numpy(float))


def _text(test: Bootstrap | None) -> str:
    return test.text() if test is not None else f"fewer than {MIN_PAIRED_ITEMS} shared items"


def _p(test: Bootstrap | None) -> float:
    return test.p if test is not None else math.nan


def _value(test: Bootstrap | None) -> float:
    return test.value if test is not None else math.nan


def _largest_p(tests) -> float:
    """The p of several parts that must all hold: the largest; nan when a part has no test."""
    ps = [_p(test) for test in tests]
    return math.nan if any(math.isnan(p) for p in ps) else max(ps)


def _holm(p_by_layer: dict[int, float]) -> dict[int, float]:
    """Holm over the layers; a layer without a test (nan) stays nan and counts in the family."""
    tested = {layer: p for layer, p in p_by_layer.items() if not math.isnan(p)}
    untested = len(p_by_layer) - len(tested)
    adjusted = dict(zip(tested, holm([*tested.values(), *[1.0] * untested]), strict=False))
    return {layer: adjusted.get(layer, math.nan) for layer in p_by_layer}


def _sustained_id_crossing(ev: Evidence, run: str) -> bool:
    """ID accuracy reached `generalize_threshold` at two consecutive evaluations."""
    accuracy = ev.rows(run, ID)["accuracy"].to_numpy()
    held = accuracy >= ev.criteria["generalize_threshold"]
    return bool((held[:-1] & held[1:]).any())


def window_start(ev: Evidence, run: str, steps: list[int]) -> tuple[int | None, str]:
    """The first analysed checkpoint at or after the fit step, or None and why the window is censored:
    no fit, no sustained ID crossing (the window ends after grokking), or no checkpoint in between."""
    threshold = ev.criteria["fit_threshold"]
    fit = ev.first_step(run, TRAIN, threshold)
    if fit is None:
        return None, f"censored: training two-hop accuracy never reached {threshold}"
    if not _sustained_id_crossing(ev, run):
        return None, f"censored: ID never held {ev.criteria['generalize_threshold']} at two evaluations"
    start = next((s for s in steps if s >= fit), None)
    if start is None or start == steps[-1]:
        return None, f"censored: no analysed checkpoint at or after the fit step {fit} and before the last"
    return start, ""


def _controls(ev: Evidence, rep: Replicate) -> dict[str, str | None]:
    """The replicate's epoch-matched and step-matched atomic-only controls (None when missing)."""
    c = ev.criteria
    return {
        "epoch-matched": rep.runs.get(c.get("control_run")),
        "step-matched": rep.runs.get(c.get("step_control_run")),
    }


def _control_contrast(ev: Evidence, run: str, control: str, layer: int) -> Bootstrap | None:
    """The grokking run minus a control on the test half of the bridge queries at their final
    checkpoints, paired by query."""
    q = ev.lens_queries
    test_half = set(q.loc[(q["run"] == run) & (q["site"] == BRIDGE) & (q["query"] % 2 == 1), "prompt"])
    mine = _per_query(ev, run, BRIDGE, layer, ev.last_step(run))
    theirs = _per_query(ev, control, BRIDGE, layer, ev.last_step(control))
    return _paired(theirs, mine[mine.index.isin(test_half)])


def _unmatched(ev: Evidence, run: str, controls: dict[str, str]) -> str | None:
    """Why a control does not match the grokking run as the criterion says, or None."""
    epochs, target = ev.epoch_at(controls["epoch-matched"]), ev.epoch_at(run)
    if abs(epochs / target - 1) > MATCH_TOLERANCE:
        return f"the epoch-matched control saw {epochs:.0f} atomic epochs, the grokking run {target:.0f}"
    if ev.last_step(controls["step-matched"]) != ev.last_step(run):
        return f"the step-matched control ran {ev.last_step(controls['step-matched'])} steps, not {ev.last_step(run)}"
    return None


def _above_nulls(ev: Evidence, run: str, final: pd.DataFrame, layer: int) -> tuple[bool, str]:
    """C7-bridge's first part, the paper's: the test half's MRR interval above every null's."""
    trained = final.loc[layer]
    nulls = nulls_at(ev, run, BRIDGE, layer)
    strongest = nulls.loc[nulls["ci_high_test"].idxmax()]
    text = (
        f"test-half MRR {trained['mrr_test']:.3f} [{trained['ci_low_test']:.3f}, {trained['ci_high_test']:.3f}]; "
        f"strongest null {strongest['network']} {strongest['mrr_test']:.3f} (CI high {strongest['ci_high_test']:.3f})"
    )
    return bool(trained["ci_low_test"] > strongest["ci_high_test"]), text


def bridge_decodable(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C7-bridge: at the layer the rule picks, the bridge's test-half MRR interval lies above every
    null's, and above both atomic-only controls by paired per-query differences (p <= 0.025 each)."""
    c = ev.criteria
    run = rep.runs.get(c.get("grokking_run"))
    final = final_lens(ev, run) if run is not None and not ev.lens.empty else pd.DataFrame()
    if final.empty:
        return None
    layer = layer_by_rule(final, c["bridge_mrr_level"])
    if layer is None:
        return Outcome(FAIL, math.nan, "the model has no intermediate layer")
    above, text = _above_nulls(ev, run, final, layer)
    vocabulary = _per_query(ev, run, BRIDGE, layer, ev.last_step(run), "rr_vocab").mean()
    measured = f"bridge at {state_at(final, layer)}: {text}; MRR over the whole vocabulary {vocabulary:.3f}"
    if not above:
        return Outcome(FAIL, math.nan, measured + ": not above the nulls")
    controls = _controls(ev, rep)
    if None in controls.values():
        missing = [kind for kind, control in controls.items() if control is None]
        return Outcome(INCONCLUSIVE, math.nan, measured + f"; no {' or '.join(missing)} atomic-only control")
    if not _sustained_id_crossing(ev, run):
        return Outcome(INCONCLUSIVE, math.nan, measured + "; censored: ID never generalized")
    named = {**controls, **{base: rep.runs.get(base) for base in c.get("control_sensitivity_runs", [])}}
    tests = {kind: _control_contrast(ev, run, control, layer) for kind, control in named.items() if control}
    measured += "; grokking run minus atomic-only control, paired: " + ", ".join(
        f"{kind} ({ev.epoch_at(named[kind]):.0f} epochs) {_text(test)}" for kind, test in tests.items()
    )
    gating = [tests[kind] for kind in controls]
    value = min((_value(test) for test in gating), default=math.nan)
    if reason := _unmatched(ev, run, controls):
        return Outcome(FAIL, value, measured + f"; {reason}", as_stated=False)
    if any(test is None for test in gating):
        return Outcome(INCONCLUSIVE, math.nan, measured + f"; fewer than {MIN_PAIRED_ITEMS} shared queries")
    if any(test.p > CLAIM_LEVEL for test in gating):
        return Outcome(FAIL, value, measured + ": an atomic-only control decodes it as well", as_stated=False)
    return Outcome(PASS, value, measured)


def _holm_verdict(per_layer: dict[int, float], paper_part: dict[int, float], value_of, measured: str) -> Outcome:
    """Pass when Holm over the layers rejects some layer at CLAIM_LEVEL; a fail is as stated when the
    paper's own part, Holm-corrected alone, rejects none."""
    adjusted = _holm(per_layer)
    measured += "; Holm-adjusted p by layer: " + ", ".join(f"{layer}: {p:.4f}" for layer, p in adjusted.items())
    passing = [layer for layer, p in adjusted.items() if p <= CLAIM_LEVEL]
    if passing:
        best = min(passing, key=adjusted.get)
        return Outcome(PASS, value_of(best), measured + f"; passes at layer {', '.join(map(str, passing))}")
    best = min(adjusted, key=lambda layer: (math.isnan(adjusted[layer]), adjusted[layer]))
    paper_rejects = any(p <= CLAIM_LEVEL for p in _holm(paper_part).values())
    return Outcome(FAIL, value_of(best), measured + "; no layer passes", as_stated=not paper_rejects)


def _r2_layer_tests(ev: Evidence, run: str, controls: dict, layer: int, start: int, end: int) -> dict:
    """At one layer: the rise of the r2 token's whole-vocabulary rank, and the end against each control."""
    at_end = _per_query(ev, run, R2_TOKEN, layer, end, "rr_vocab")
    at_start = _per_query(ev, run, R2_TOKEN, layer, start, "rr_vocab")
    tests = {"rise": _paired(at_start, at_end)}
    for kind, control in controls.items():
        tests[kind] = _paired(_per_query(ev, control, R2_TOKEN, layer, ev.last_step(control), "rr_vocab"), at_end)
    return {"tests": tests, "start_mrr": float(at_start.mean())}


def r2_becomes_decodable(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C7-r2: at resid.l@r2, l in floor(5L/8) and ceil(5L/8), the r2 token's reciprocal rank over the
    whole vocabulary rises from the fit step to the last checkpoint and ends above both atomic-only
    controls, paired per query; Holm over the layers."""
    run = rep.runs.get(ev.criteria.get("grokking_run"))
    if run is None or ev.lens_queries.empty or "rr_vocab" not in ev.lens_queries:
        return None
    final = final_lens(ev, run, R2_TOKEN)
    q = ev.lens_queries
    steps = sorted(q.loc[(q["run"] == run) & (q["site"] == R2_TOKEN), "step"].unique())
    if final.empty or not steps:
        return None
    start, reason = window_start(ev, run, steps)
    if start is None:
        return Outcome(INCONCLUSIVE, math.nan, reason)
    controls = _controls(ev, rep)
    if None in controls.values():
        return Outcome(INCONCLUSIVE, math.nan, "an atomic-only control is missing")
    layers = {
        layer: _r2_layer_tests(ev, run, controls, layer, start, steps[-1])
        for layer in paper_layers(int(final.index.max()))
    }
    measured = f"r2 token over the whole vocabulary, step {start} -> {steps[-1]}: " + "; ".join(
        f"{state_at(final, layer)} from {at['start_mrr']:.3f}: "
        + ", ".join(f"{part} {_text(test)}" for part, test in at["tests"].items())
        for layer, at in layers.items()
    )
    measured += "; " + _r2_reported(ev, run, final, list(layers))
    if all(at["start_mrr"] >= CEILING for at in layers.values()):
        return Outcome(INCONCLUSIVE, math.nan, measured + f"; the start MRR is >= {CEILING} at every layer")
    per_layer = {layer: _largest_p(at["tests"].values()) for layer, at in layers.items()}
    paper_part = {layer: _p(at["tests"]["rise"]) for layer, at in layers.items()}
    return _holm_verdict(per_layer, paper_part, lambda layer: _value(layers[layer]["tests"]["rise"]), measured)


def _r2_reported(ev: Evidence, run: str, final: pd.DataFrame, layers: list[int]) -> str:
    """What C7-r2 reports and gates nothing on: the step-0 checkpoint over the whole vocabulary, the
    random-init nulls (ranked among the relation tokens: nulls keep no per-query table), and the
    final whole-vocabulary MRR at every layer."""
    first = ev.lens_queries.query("run == @run and site == @R2_TOKEN")["step"].min()
    step0 = ", ".join(
        f"{layer}: {_per_query(ev, run, R2_TOKEN, layer, first, 'rr_vocab').mean():.3f}" for layer in layers
    )
    nulls = ", ".join(
        f"{layer}: {rows['mrr'].max():.3f}"
        for layer in layers
        if not (rows := nulls_at(ev, run, R2_TOKEN, layer).query("network == 'random_init'")).empty
    )
    every = ", ".join(
        f"{layer}: {_per_query(ev, run, R2_TOKEN, layer, ev.last_step(run), 'rr_vocab').mean():.3f}"
        for layer in final.index
    )
    return f"step {first} by layer {step0}; random-init (relation-ranked) {nulls or 'none'}; final by layer {every}"


def _traced(ev: Evidence, run: str, variant: str, split: str = TRAIN) -> pd.DataFrame:
    """One run's per-query tracing rows for the r1 corruption, of one variant and split."""
    q = ev.causal_queries
    rows = q[(q["run"] == run) & (q["split"] == split) & (q["position"] == "r1") & (q["network"] != "random_init")]
    return rows[rows["variant"] == variant] if "variant" in rows else rows.iloc[0:0]


def _strength_rise(rows: pd.DataFrame, layer: int, start: int, end: int) -> tuple[Bootstrap | None, float]:
    """The per-query change of `changed_<layer>` from `start` to `end`, and the start strength."""
    at_start = rows[rows["step"] == start].set_index("prompt")[f"changed_{layer}"].astype(float)
    at_end = rows[rows["step"] == end].set_index("prompt")[f"changed_{layer}"].astype(float)
    return _paired(at_start, at_end), float(at_start.mean())


def causal_strength_grows(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C7-causal: at resid.l@r1, l in floor(5L/8) and ceil(5L/8), the released code's causal strength
    (t no longer top-1 after patching in the r1 -> r1' corrupted state) on training two-hop queries
    rises from the fit step to the last checkpoint, paired per query; Holm over the layers."""
    run = rep.runs.get(ev.criteria.get("grokking_run"))
    if run is None or ev.causal_queries.empty:
        return None
    released = _traced(ev, run, RELEASED)
    steps = sorted(released["step"].unique())
    if not steps:
        return None
    start, reason = window_start(ev, run, steps)
    if start is None:
        return Outcome(INCONCLUSIVE, math.nan, reason)
    depth = max(int(column.split("_")[1]) for column in released if column.startswith("changed_"))
    layers = {layer: _strength_rise(released, layer, start, steps[-1]) for layer in paper_layers(depth)}
    label = {layer: sites.at(sites.resid(layer), "r1") for layer in layers}
    measured = f"S[resid.l@r1], released pools, step {start} -> {steps[-1]}: " + "; ".join(
        f"{label[layer]} from {strength:.3f}: {_text(test)}" for layer, (test, strength) in layers.items()
    )
    measured += "; " + _causal_reported(ev, run, list(layers), start, steps[-1])
    if any(test is None for test, _ in layers.values()):
        return Outcome(INCONCLUSIVE, math.nan, measured + f"; fewer than {MIN_PAIRED_ITEMS} traced queries")
    if all(strength >= CEILING for _, strength in layers.values()):
        return Outcome(INCONCLUSIVE, math.nan, measured + f"; the start strength is >= {CEILING} at every layer")
    per_layer = {layer: _p(test) for layer, (test, _) in layers.items()}
    return _holm_verdict(per_layer, per_layer, lambda layer: _value(layers[layer][0]), measured)


def _causal_reported(ev: Evidence, run: str, layers: list[int], start: int, end: int) -> str:
    """What C7-causal reports and gates nothing on: the ID test queries, and version 3's variant."""
    parts = []
    for name, rows in (("ID queries", _traced(ev, run, RELEASED, ID)), ("version 3's variant", _traced(ev, run, V3))):
        if rows.empty or start not in set(rows["step"]) or end not in set(rows["step"]):
            continue
        changes = ", ".join(f"{layer}: {_value(_strength_rise(rows, layer, start, end)[0]):+.3f}" for layer in layers)
        parts.append(f"{name} change by layer {changes}")
    return "; ".join(parts) or "no ID or version-3 tracing rows"
