"""The events a monitor's alarm is scored against, read off a run's logged accuracies.

T_fit: the first evaluation with training two-hop accuracy at or above `fit`; T50 and T90: the
first evaluation with ID test accuracy at or above 0.5 (0.9) there and at the next evaluation, so
that one lucky evaluation does not count. A run that never crosses is right-censored: None.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

TRAIN_SPLIT = "train_inferred"
ID_SPLIT = "test_inferred_id"


def first_sustained(steps: list[int], values: list[float], threshold: float, points: int = 2) -> int | None:
    """The first step whose value and the next `points - 1` values are all at or above `threshold`."""
    for i in range(len(values) - points + 1):
        if all(v >= threshold for v in values[i : i + points]):
            return steps[i]
    return None


@dataclass(frozen=True)
class Events:
    t_fit: int | None
    t50: int | None
    t90: int | None
    last_step: int


def events(metrics: pd.DataFrame, fit: float = 0.99) -> Events:
    """The events of one run from its metrics table (columns step, split, accuracy)."""

    def series(split: str) -> tuple[list[int], list[float]]:
        rows = metrics[metrics["split"] == split].sort_values("step")
        if rows.empty:
            raise ValueError(f"the metrics have no {split!r} rows; splits present: {sorted(metrics['split'].unique())}")
        return rows["step"].astype(int).tolist(), rows["accuracy"].astype(float).tolist()

    train_steps, train = series(TRAIN_SPLIT)
    id_steps, id_accuracy = series(ID_SPLIT)
    return Events(
        t_fit=first_sustained(train_steps, train, fit, points=1),
        t50=first_sustained(id_steps, id_accuracy, 0.5),
        t90=first_sustained(id_steps, id_accuracy, 0.9),
        last_step=max(train_steps[-1], id_steps[-1]),
    )


def read_tables(paths) -> pd.DataFrame:
    """Monitor tables of any groups and runs, as one frame."""
    from grokstudy import results

    return pd.concat([results.read_table(path) for path in paths], ignore_index=True)


def read_scored_runs(runs, monitor_paths, metrics_paths) -> tuple[dict, dict]:
    """Each run's monitors (every group's table, joined), and the events of its logged metrics
    (T_fit, T50, T90). Every run must have a table of each group that any run has."""
    from grokstudy import results

    if len(runs) != len(metrics_paths):
        raise ValueError("--runs and --metrics must name the same runs in the same order")
    tables = read_tables(monitor_paths)
    groups = set(tables["group"])
    frames = {run: tables[tables["run"] == run].reset_index(drop=True) for run in runs}
    for run, frame in frames.items():
        if set(frame["group"]) != groups:
            raise ValueError(f"{run}: monitor groups {sorted(set(frame['group']))}; every run needs {sorted(groups)}")
    scored = {run: events(results.read_run_metrics(path)) for run, path in zip(runs, metrics_paths, strict=True)}
    return frames, scored
