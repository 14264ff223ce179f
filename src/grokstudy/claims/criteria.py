"""Each claim's test on one replicate. A test returns None when the replicate has nothing to test it
on, otherwise an Outcome: pass, fail or inconclusive, a headline value and what was measured.

Every criterion was fixed from the paper's statement (docs/study.md §4) before the runs it reads;
each needs a learned model to pass: a network that learned nothing fails or is inconclusive.
"""

import dataclasses
import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from grokstudy.claims.crossing import item_areas, resampled_crossings, sustained_crossing
from grokstudy.claims.evidence import Evidence, Replicate, accuracy_text
from grokstudy.claims.significance import (
    CONFIDENCE,
    MIN_ITEMS,
    SEED,
    Bootstrap,
    holm,
    mcnemar_p,
    minimal_detectable_difference,
    paired_bootstrap,
    percentile_interval,
    resample_counts,
)
from grokstudy.stats import paired_difference_ci, wilson_interval

# One replicate's outcome.
PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
# A claim's status over its replicates (claims.summary.overall_status).
REPRODUCED, NOT_REPRODUCED, NOT_AS_STATED = "reproduced", "not reproduced", "not tested as stated"
NOT_TESTED, MIXED = "not tested", "mixed"
TRAIN, ID, OOD = "train_inferred", "test_inferred_id", "test_inferred_ood"
# Paired tests: the fewest shared items a difference is read from.
MIN_PAIRED_ITEMS = MIN_ITEMS
# One-sided level of an effect the paper claims; C2 tests an effect the paper says is absent, where a
# rejection is the fail, at the laxer 0.05 (docs/claims.md, version 4).
CLAIM_LEVEL, ABSENCE_LEVEL = 0.025, 0.05


@dataclass(frozen=True)
class Outcome:
    status: str
    value: float
    measured: str
    # False when the measurement could not follow the paper's (e.g. an unmatched control): a fail
    # then says "not tested as stated", never "not reproduced".
    as_stated: bool = True


def _composition_runs(ev: Evidence, rep: Replicate) -> list[str]:
    return [
        r for r in rep.runs.values() if ev.task(r) == "composition" and ev.run(r).get("training_facts", "all") == "all"
    ]


def fit_then_generalize(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C1: at the first step training fits, ID is at most the ceiling; later ID generalizes."""
    c = ev.criteria
    run = rep.runs.get(c.get("grokking_run"))
    if run is None:
        return None
    fit = ev.first_step(run, TRAIN, c["fit_threshold"])
    last = ev.last_step(run)
    if fit is None:
        best = ev.rows(run, TRAIN)["accuracy"].max()
        return Outcome(
            INCONCLUSIVE,
            math.nan,
            f"censored: train never reached {c['fit_threshold']} in {last} steps (best {best:.3f}); "
            "a longer run is needed before the gap can be read",
        )
    correct, n = ev.count(run, ID, fit)
    generalized = ev.first_step(run, ID, c["generalize_threshold"])
    measured = f"train >= {c['fit_threshold']} at step {fit}, ID then {accuracy_text(correct, n)}; "
    if correct / n > c["id_at_fit_ceiling"]:
        return Outcome(FAIL, correct / n, measured + f"ID was above the ceiling {c['id_at_fit_ceiling']} already")
    if generalized is None:
        final = ev.at(run, ID)["accuracy"]
        return Outcome(
            INCONCLUSIVE,
            correct / n,
            measured + f"censored: ID never reached {c['generalize_threshold']} in {last} steps (final {final:.3f}); "
            f"the run must go on past step {last}",
        )
    return Outcome(PASS, correct / n, measured + f"ID >= {c['generalize_threshold']} at step {generalized}")


def _id_crossing_step(ev: Evidence, run: str) -> float:
    """The step of the run's sustained ID crossing (+inf when censored)."""
    rows = ev.rows(run, ID)
    return sustained_crossing(rows["step"], rows["accuracy"], ev.criteria["generalize_threshold"])


@dataclass(frozen=True)
class _AgainstBaseline:
    """A run's OOD items at its last evaluation against the relation-frequency baseline, item by item:
    b items only the model gets right, c only the baseline."""

    run: str
    step: int
    n: int
    b: int
    c: int
    model: float
    baseline: float

    @property
    def p(self) -> float:
        return mcnemar_p(self.b, self.c)


def _against_baseline(ev: Evidence, run: str) -> _AgainstBaseline:
    step = ev.last_step(run)
    items = ev.correct_items(run, OOD, step)
    model = items.to_numpy(bool)
    baseline = items.index.isin(list(ev.baseline_correct(run, OOD)))
    b, c = int((model & ~baseline).sum()), int((~model & baseline).sum())
    return _AgainstBaseline(run, step, len(items), b, c, float(model.mean()), float(baseline.mean()))


def no_ood_generalization(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C2: in every run with a sustained ID crossing, at its last evaluation, the model answers no more
    OOD items than the relation-frequency baseline: exact one-sided McNemar, Holm over the runs at 0.05."""
    runs = _composition_runs(ev, rep)
    if not runs:
        return None
    threshold = ev.criteria["generalize_threshold"]
    tested = [r for r in runs if math.isfinite(_id_crossing_step(ev, r))]
    untested = [r for r in runs if r not in tested]
    skipped = f"; untested (no sustained ID crossing): {', '.join(untested)}" if untested else ""
    if not tested:
        return Outcome(
            INCONCLUSIVE,
            math.nan,
            f"no composition run has a sustained ID crossing of {threshold}, so an OOD failure says nothing" + skipped,
        )
    compared = [_against_baseline(ev, r) for r in tested]
    adjusted = holm([x.p for x in compared])
    level = ABSENCE_LEVEL / len(compared)  # the per-run level the detectable difference is sized at
    parts = [
        f"{x.run} at step {x.step}: {x.n} OOD items, model {x.model:.3f} vs relation-frequency baseline "
        f"{x.baseline:.3f}, b = {x.b}, c = {x.c}, McNemar p = {x.p:.4f}, Holm p = {holm_p:.4f}, minimal detectable "
        f"difference {minimal_detectable_difference(x.n, (x.b + x.c) / x.n, level):.2f}"
        for x, holm_p in zip(compared, adjusted, strict=True)
    ]
    rejected = [x.run for x, holm_p in zip(compared, adjusted, strict=True) if holm_p <= ABSENCE_LEVEL]
    verdict = (
        f"beyond the baseline at {ABSENCE_LEVEL} (Holm over {len(compared)}): {', '.join(rejected)}"
        if rejected
        else f"no run beyond the baseline at {ABSENCE_LEVEL} (Holm over {len(compared)})"
    )
    value = max(x.model - x.baseline for x in compared)
    return Outcome(FAIL if rejected else PASS, value, "; ".join(parts) + "; " + verdict + skipped)


def _paired_gain(ev: Evidence, lower: str, higher: str, step: int) -> tuple[float, float, float, int]:
    """Mean per-item gain of `higher` over `lower` on the ID test items both runs were evaluated on at
    `step` (1 right, 0 wrong), with its paired bootstrap 95 % CI, and the number of shared items."""
    a, b = ev.correct_items(lower, ID, step), ev.correct_items(higher, ID, step)
    shared = a.index.intersection(b.index)
    if len(shared) < MIN_PAIRED_ITEMS:
        return math.nan, math.nan, math.nan, len(shared)
    differences = b.loc[shared].to_numpy(int) - a.loc[shared].to_numpy(int)
    mean, low, high = paired_difference_ci(differences)
    return mean, low, high, len(shared)


def _ordered_contrast(ev: Evidence, runs: list[str], key, label: str) -> Outcome:
    """At the last evaluation step all runs share (fixed in advance), ID accuracy rises with key(run):
    every consecutive pair's paired per-item gain on the shared ID items has a 95 % CI above 0, and the
    top run's Wilson lower bound is above its relation-frequency baseline's upper bound."""
    runs = sorted(runs, key=key)
    common = min(ev.last_step(r) for r in runs)
    counts = [ev.count(r, ID, common) for r in runs]
    gains = [_paired_gain(ev, lower, higher, common) for lower, higher in itertools.pairwise(runs)]
    base = ev.baseline(runs[-1], ID)
    learned = wilson_interval(*counts[-1])[0] > base["interval"][1]
    measured = "; ".join(f"{label}={key(r)}: ID {accuracy_text(k, n)}" for r, (k, n) in zip(runs, counts, strict=True))
    measured += f" (step {common}; relation-frequency baseline {base['accuracy']:.3f}); paired gains " + ", ".join(
        f"{key(lo)}->{key(hi)} {g:+.3f} [{gl:+.3f}, {gh:+.3f}] on {n} items"
        for (lo, hi), (g, gl, gh, n) in zip(itertools.pairwise(runs), gains, strict=True)
    )
    if any(np.isnan(g) for g, *_ in gains):
        return Outcome(INCONCLUSIVE, math.nan, measured + f"; fewer than {MIN_PAIRED_ITEMS} shared ID items")
    value = counts[-1][0] / counts[-1][1] - counts[0][0] / counts[0][1]
    return Outcome(PASS if all(gl > 0 for _, gl, _, _ in gains) and learned else FAIL, value, measured)


def _largest_group(runs: list[str], world, varied) -> list[str] | None:
    groups: dict = {}
    for run in runs:
        groups.setdefault(world(run), []).append(run)
    contrasts = [g for g in groups.values() if len({varied(r) for r in g}) > 1]
    return max(contrasts, key=len) if contrasts else None


def _crossing_difference(slower: pd.DataFrame, faster: pd.DataFrame, threshold: float) -> Bootstrap:
    """T(slower) - T(faster), T the step of the sustained crossing, on the same items (rows) of two
    runs' item tables; each resample draws items once and applies them to both runs' curves."""
    counts = resample_counts(len(slower))

    def crossings(table: pd.DataFrame) -> tuple[float, np.ndarray]:
        observed = sustained_crossing(table.columns, table.mean(axis=0), threshold)
        return observed, resampled_crossings(table.columns, table.to_numpy(), counts, threshold)

    (slow, slow_resampled), (fast, fast_resampled) = crossings(slower), crossings(faster)
    with np.errstate(invalid="ignore"):  # both censored in a resample: no difference (NaN)
        return Bootstrap.of(slow - fast, slow_resampled - fast_resampled, len(slower))


def _area_difference(lower: pd.DataFrame, higher: pd.DataFrame) -> tuple[Bootstrap | None, int]:
    """Mean per-item area of `higher` minus `lower` over the evaluation steps both share, up to the
    earlier of their last evaluations (the horizon), with its paired bootstrap; and the horizon."""
    horizon = min(lower.columns.max(), higher.columns.max())
    steps = sorted(set(lower.columns) & set(higher.columns))  # a shared step is never past the horizon
    if len(steps) < 2:
        return None, int(horizon)
    return paired_bootstrap(item_areas(steps, higher[steps]) - item_areas(steps, lower[steps])), int(horizon)


def _shared(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    items = a.index.intersection(b.index)
    return a.loc[items], b.loc[items]


def _sooner(ev: Evidence, lower: str, higher: str, label) -> tuple[float, str]:
    """C3's test of one pair, `higher` generalizing sooner than `lower`: its one-sided p (NaN when
    it cannot be read) and what was measured."""
    slow, fast = _shared(ev.item_table(lower, ID), ev.item_table(higher, ID))
    name = f"{label(lower)}->{label(higher)}"
    if len(slow) < MIN_ITEMS:
        return math.nan, f"{name}: {len(slow)} shared ID items, fewer than {MIN_ITEMS}"
    if all(math.isfinite(_id_crossing_step(ev, r)) for r in (lower, higher)):
        test = _crossing_difference(slow, fast, ev.criteria["generalize_threshold"])
        return test.p, f"{name}: crossing steps, lower minus higher, {test.text(digits=0)}"
    test, horizon = _area_difference(slow, fast)
    if test is None:
        return math.nan, f"{name}: a run is censored and the runs share fewer than two evaluations"
    return test.p, f"{name}: a run is censored, so the ID area to step {horizon}, higher minus lower, {test.text()}"


def _crossing_text(ev: Evidence, run: str, label: str) -> str:
    step = _id_crossing_step(ev, run)
    if math.isfinite(step):
        return f"{label}: sustained ID crossing at step {step:.0f}"
    return f"{label}: no sustained ID crossing by step {ev.last_step(run)} (censored)"


def _group_area_gain(ev: Evidence, runs: list[str]) -> float:
    """The headline of C3: the mean per-item area difference, last run minus first, over the horizon
    and the evaluation steps every run of the group shares."""
    tables = [ev.item_table(r, ID) for r in runs]
    steps = sorted(set.intersection(*(set(t.columns) for t in tables)))  # none past the shared horizon
    first, last = _shared(tables[0], tables[-1])
    if len(steps) < 2 or len(first) == 0:
        return math.nan
    return float((item_areas(steps, last[steps]) - item_areas(steps, first[steps])).mean())


def phi_order(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C3: in one world, each higher phi reaches the sustained ID crossing sooner than the next lower
    (paired item bootstrap, p <= 0.025 per pair), or, where a run is censored, has more area under
    its ID curve over the pair's horizon."""

    def world(r):
        d, run = ev.dataset(r), ev.run(r)
        return d["entities"], d["relations"], d["out_degree"], d["seed"], run["weight_decay"], run["model"]

    def phi(r):
        return ev.dataset(r)["phi"]

    group = _largest_group(_composition_runs(ev, rep), world, phi)
    if group is None:
        return None
    runs = sorted(group, key=phi)
    pairs = [_sooner(ev, lower, higher, phi) for lower, higher in itertools.pairwise(runs)]
    measured = "; ".join([*(_crossing_text(ev, r, f"phi={phi(r)}") for r in runs), *(text for _, text in pairs)])
    value = _group_area_gain(ev, runs)
    if not math.isfinite(_id_crossing_step(ev, runs[-1])):
        return Outcome(INCONCLUSIVE, value, measured + "; the highest phi has not crossed: a longer run is needed")
    if any(math.isnan(p) for p, _ in pairs):
        return Outcome(INCONCLUSIVE, value, measured)
    passed = all(p <= CLAIM_LEVEL for p, _ in pairs)
    return Outcome(PASS if passed else FAIL, value, measured + f"; every pair needs p <= {CLAIM_LEVEL}")


def _crossing_steps_printed(ev: Evidence, runs: list[str], label) -> str:
    """C5's printed extra: the paired difference of sustained-crossing steps of consecutive runs."""
    threshold, parts = ev.criteria["generalize_threshold"], []
    for lower, higher in itertools.pairwise(runs):
        slow, fast = _shared(ev.item_table(lower, ID), ev.item_table(higher, ID))
        name = f"{label(lower)}->{label(higher)}"
        censored = [r for r in (lower, higher) if not math.isfinite(_id_crossing_step(ev, r))]
        if censored or len(slow) < MIN_ITEMS:
            why = f"{', '.join(censored)} not crossed" if censored else f"{len(slow)} shared items"
            parts.append(f"{name} not computed ({why})")
        else:
            parts.append(f"{name} {_crossing_difference(slow, fast, threshold).text(digits=0)}")
    return "; gating nothing, sustained-crossing steps lower minus higher: " + "; ".join(parts)


def weight_decay_order(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C5: on one dataset, larger weight decay generalizes faster (version 3's rule), with the paired
    difference of sustained-crossing steps printed beside it."""

    def wd(r):
        return ev.run(r)["weight_decay"]

    group = _largest_group(_composition_runs(ev, rep), lambda r: (ev.run(r)["dataset"], ev.run(r)["model"]), wd)
    if group is None:
        return None
    outcome = _ordered_contrast(ev, group, wd, "wd")
    extra = _crossing_steps_printed(ev, sorted(group, key=wd), wd)
    return dataclasses.replace(outcome, measured=outcome.measured + extra)


def _epoch_crossings(ev: Evidence, run: str, rng: np.random.Generator) -> tuple[float, np.ndarray]:
    """The epoch of the run's sustained ID crossing, and its value in each resample of its own ID items."""
    table, threshold = ev.item_table(run, ID), ev.criteria["generalize_threshold"]
    epochs = ev.epochs(run, table.columns)
    observed = sustained_crossing(epochs, table.mean(axis=0), threshold)
    return observed, resampled_crossings(epochs, table.to_numpy(), resample_counts(len(table), rng), threshold)


def _ratio(numerator, denominator):
    """rho = E(smaller) / E(largest): +inf when only the smaller is censored, 0 when only the largest
    is, NaN (undefined) when both are."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(numerator, denominator)


def epochs_across_sizes(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C4: at fixed phi, the epoch ratio of each smaller world size's sustained ID crossing to the
    largest's has a bootstrap interval inside (1/r, r); fail when an interval lies wholly outside."""

    def world(r):
        d, run = ev.dataset(r), ev.run(r)
        return d["phi"], d["relations"], d["out_degree"], run["weight_decay"], run["model"]

    def size(r):
        return ev.dataset(r)["entities"]

    group = _largest_group(_composition_runs(ev, rep), world, size)
    if group is None:
        return None
    runs = sorted(group, key=size)
    rng = np.random.default_rng(SEED)  # one generator: each run's items are drawn independently, in size order
    crossings = {r: _epoch_crossings(ev, r, rng) for r in runs}
    limit = ev.criteria["epoch_ratio"]
    # The fail reading is Bonferroni-corrected over the k - 1 pairs (the same interval when k = 2).
    fail_confidence = 1 - (1 - CONFIDENCE) / (len(runs) - 1)
    parts = [_epoch_text(ev, r, crossings[r][0]) for r in runs]
    ratios, inside, outside = [], True, False
    for smaller in runs[:-1]:
        resampled = _ratio(crossings[smaller][1], crossings[runs[-1]][1])
        ratios.append(float(_ratio(crossings[smaller][0], crossings[runs[-1]][0])))
        low, high = percentile_interval(resampled, CONFIDENCE)
        fail_low, fail_high = percentile_interval(resampled, fail_confidence)
        inside &= 1 / limit < low and high < limit
        outside |= _beyond(fail_low, fail_high, limit)
        text = f"rho |E|={size(smaller)}/{size(runs[-1])} {ratios[-1]:.3f}, {CONFIDENCE:.0%} [{low:.3f}, {high:.3f}]"
        parts.append(text + (f", {fail_confidence:.1%} [{fail_low:.3f}, {fail_high:.3f}]" if len(runs) > 2 else ""))
    status = PASS if inside else FAIL if outside else INCONCLUSIVE
    value = max(ratios, key=_distance_from_one)
    return Outcome(status, value, "; ".join(parts) + f"; pass inside ({1 / limit:.3f}, {limit}), fail wholly outside")


def _beyond(low: float, high: float, limit: float) -> bool:
    """An epoch-ratio interval wholly above `limit` or wholly below 1/limit. A bound at 0 or +inf comes
    from resamples without a crossing (censored), which cannot decide (docs/claims.md, "Bootstrap and
    censoring"), so only a bound strictly between them counts."""
    return (0 < low < math.inf and low > limit) or (0 < high < math.inf and high < 1 / limit)


def _distance_from_one(rho: float) -> float:
    """How far an epoch ratio is from 1 either way (|log rho|); an undefined ratio comes last."""
    if math.isnan(rho):
        return -1.0
    return math.inf if rho in (0, math.inf) else abs(math.log(rho))


def _epoch_text(ev: Evidence, run: str, epoch: float) -> str:
    if math.isfinite(epoch):
        return f"|E|={ev.dataset(run)['entities']}: sustained ID crossing at epoch {epoch:.1f}"
    return f"|E|={ev.dataset(run)['entities']}: no sustained ID crossing in {ev.epoch_at(run):.0f} epochs (censored)"


def comparison_generalizes(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C6: ID and OOD accuracy both above their majority-label baselines by the margin (95 % lower bounds)."""
    run = rep.runs.get(ev.criteria.get("comparison_run"))
    if run is None:
        return None
    margin, ok, parts = ev.criteria["comparison_margin"], True, []
    for split, name in ((ID, "ID"), (OOD, "OOD")):
        correct, n = ev.count(run, split)
        base = ev.baseline(run, split)
        ok &= wilson_interval(correct, n)[0] > base["accuracy"] + margin
        parts.append(f"{name} {accuracy_text(correct, n)} vs majority label {base['accuracy']:.3f}")
    ood_correct, ood_n = ev.count(run, OOD)
    value = ood_correct / ood_n - ev.baseline(run, OOD)["accuracy"]
    return Outcome(PASS if ok else FAIL, value, f"{run} at step {ev.last_step(run)}: " + "; ".join(parts))
