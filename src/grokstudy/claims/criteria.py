"""Each claim's test on one replicate. A test returns None when the replicate has nothing to test it
on, otherwise an Outcome: pass, fail or inconclusive, a headline value and what was measured.

Every criterion was fixed from the paper's statement (docs/study.md §4) before the runs it reads;
each needs a learned model to pass: a network that learned nothing fails or is inconclusive.
"""

import math
from dataclasses import dataclass

import itertools

import numpy as np

from grokstudy.claims.evidence import Evidence, Replicate, accuracy_text
from grokstudy.claims.paired import MIN_PAIRED_ITEMS
from grokstudy.stats import paired_difference_ci, wilson_interval

# One replicate's outcome.
PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
# A claim's status over its replicates (claims.summary.overall_status).
REPRODUCED, NOT_REPRODUCED, NOT_AS_STATED = "reproduced", "not reproduced", "not tested as stated"
NOT_TESTED, MIXED = "not tested", "mixed"
TRAIN, ID, OOD = "train_inferred", "test_inferred_id", "test_inferred_ood"


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


def no_ood_generalization(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C2: in runs whose ID generalized, OOD stays at or below the relation-frequency baseline's upper bound."""
    runs = _composition_runs(ev, rep)
    if not runs:
        return None
    threshold = ev.criteria["generalize_threshold"]
    generalized = {r: ev.first_step(r, ID, threshold) for r in runs}
    generalized = {r: step for r, step in generalized.items() if step is not None}
    if not generalized:
        return Outcome(
            INCONCLUSIVE, math.nan, f"no composition run reached ID {threshold}, so an OOD failure says nothing"
        )
    parts, ok, peak_of_all = [], True, 0.0
    for run, step in generalized.items():
        ood = ev.rows(run, OOD)
        peak = float(ood.loc[ood["step"] >= step, "accuracy"].max())
        base = ev.baseline(run, OOD)
        ok &= peak <= base["interval"][1]
        peak_of_all = max(peak_of_all, peak)
        parts.append(
            f"{run}: OOD at most {peak:.3f} from step {step} (ID generalized) on; relation-frequency "
            f"baseline {base['accuracy']:.3f}, upper 95% bound {base['interval'][1]:.3f}"
        )
    return Outcome(PASS if ok else FAIL, peak_of_all, "; ".join(parts))


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


def phi_order(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C3: in one world, higher phi generalizes faster."""

    def world(r):
        d, run = ev.dataset(r), ev.run(r)
        return d["entities"], d["relations"], d["out_degree"], d["seed"], run["weight_decay"], run["model"]

    group = _largest_group(_composition_runs(ev, rep), world, lambda r: ev.dataset(r)["phi"])
    return None if group is None else _ordered_contrast(ev, group, lambda r: ev.dataset(r)["phi"], "phi")


def weight_decay_order(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C5: on one dataset, larger weight decay generalizes faster."""
    group = _largest_group(
        _composition_runs(ev, rep),
        lambda r: (ev.run(r)["dataset"], ev.run(r)["model"]),
        lambda r: ev.run(r)["weight_decay"],
    )
    return None if group is None else _ordered_contrast(ev, group, lambda r: ev.run(r)["weight_decay"], "wd")


def epochs_across_sizes(ev: Evidence, rep: Replicate) -> Outcome | None:
    """C4: at fixed phi, the epochs each |E| needs for ID to generalize differ by at most the stated ratio."""

    def world(r):
        d, run = ev.dataset(r), ev.run(r)
        return d["phi"], d["relations"], d["out_degree"], run["weight_decay"], run["model"]

    group = _largest_group(_composition_runs(ev, rep), world, lambda r: ev.dataset(r)["entities"])
    if group is None:
        return None
    c = ev.criteria
    epochs, parts, reached_runs = [], [], set()
    for run in sorted(group, key=lambda r: ev.dataset(r)["entities"]):
        rows = ev.rows(run, ID)
        reached = rows[rows["accuracy"] >= c["generalize_threshold"]]
        entities = ev.dataset(run)["entities"]
        if reached.empty:
            parts.append(
                f"|E|={entities}: ID never reached {c['generalize_threshold']} in {rows['epoch'].max():.0f} epochs "
                f"(final {rows['accuracy'].iloc[-1]:.3f})"
            )
            continue
        epochs.append(float(reached["epoch"].iloc[0]))
        reached_runs.add(run)
        parts.append(f"|E|={entities}: ID >= {c['generalize_threshold']} at epoch {epochs[-1]:.0f}")
    if not epochs:
        return Outcome(INCONCLUSIVE, math.nan, "; ".join(parts) + "; censored: no world size generalized yet")
    if len(epochs) < len(group):
        # A size still short of the threshold: decided only once it has run epoch_ratio x the fastest's epochs.
        needed = c["epoch_ratio"] * min(epochs)
        shortest = min(ev.epoch_at(r) for r in group if r not in reached_runs)
        text = "; ".join(parts) + f"; the ratio is decided after {needed:.0f} epochs"
        if shortest >= needed:
            bound = shortest / min(epochs)  # the ratio is at least this
            return Outcome(FAIL, bound, text + f": past it, so the ratio is above {bound:.2f}")
        return Outcome(INCONCLUSIVE, math.nan, text + f", and a run ended at {shortest:.0f} (censored)")
    ratio = max(epochs) / min(epochs)
    return Outcome(PASS if ratio <= c["epoch_ratio"] else FAIL, ratio, "; ".join(parts) + f"; ratio {ratio:.2f}")


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
