"""Each claim's test on one replicate. A test returns None when the replicate has nothing to test it
on, otherwise an Outcome: pass, fail or inconclusive, a headline value and what was measured.

Every criterion was fixed from the paper's statement (docs/study.md §4) before the runs it reads;
each needs a learned model to pass: a network that learned nothing fails or is inconclusive.
"""

import math
from dataclasses import dataclass

from grokstudy.claims.evidence import Evidence, Replicate, accuracy_text
from grokstudy.stats import wilson_interval
import itertools

PASS, FAIL, INCONCLUSIVE, NOT_TESTED, MIXED = "pass", "fail", "inconclusive", "not tested", "mixed"
TRAIN, ID, OOD = "train_inferred", "test_inferred_id", "test_inferred_ood"


@dataclass(frozen=True)
class Outcome:
    status: str
    value: float
    measured: str


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
    if fit is None:
        best = ev.rows(run, TRAIN)["accuracy"].max()
        return Outcome(FAIL, math.nan, f"train never reached {c['fit_threshold']} (best {best:.3f})")
    correct, n = ev.count(run, ID, fit)
    generalized = ev.first_step(run, ID, c["generalize_threshold"])
    later = (
        f"ID >= {c['generalize_threshold']} at step {generalized}"
        if generalized is not None
        else f"ID never reached {c['generalize_threshold']} (final {ev.at(run, ID)['accuracy']:.3f})"
    )
    ok = correct / n <= c["id_at_fit_ceiling"] and generalized is not None and generalized > fit
    return Outcome(
        PASS if ok else FAIL,
        correct / n,
        f"train >= {c['fit_threshold']} at step {fit}, ID then {accuracy_text(correct, n)}; {later}",
    )


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


def _ordered_contrast(ev: Evidence, runs: list[str], key, label: str) -> Outcome:
    """ID accuracy at the last step all runs share increases with key(run), each 95 % Wilson interval
    wholly above the previous one, and the top run's lower bound is above its relation-frequency baseline."""
    runs = sorted(runs, key=key)
    common = min(ev.last_step(r) for r in runs)
    counts = [ev.count(r, ID, common) for r in runs]
    intervals = [wilson_interval(k, n) for k, n in counts]
    increasing = all(prev[1] < nxt[0] for prev, nxt in itertools.pairwise(intervals))
    base = ev.baseline(runs[-1], ID)
    learned = intervals[-1][0] > base["interval"][1]
    measured = "; ".join(f"{label}={key(r)}: ID {accuracy_text(k, n)}" for r, (k, n) in zip(runs, counts, strict=True))
    measured += f" (step {common}; relation-frequency baseline {base['accuracy']:.3f})"
    value = counts[-1][0] / counts[-1][1] - counts[0][0] / counts[0][1]
    return Outcome(PASS if increasing and learned else FAIL, value, measured)


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
    epochs, parts = [], []
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
        parts.append(f"|E|={entities}: ID >= {c['generalize_threshold']} at epoch {epochs[-1]:.0f}")
    if len(epochs) < len(group):
        return Outcome(FAIL, math.nan, "; ".join(parts))
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
