"""Score every run with the frozen detectors: lead times and the monitors table."""

from __future__ import annotations


import json
from pathlib import Path


def _costs(paths: list[Path], frames: dict) -> dict[str, float]:
    """Mean seconds per checkpoint of each series' group, over the runs' monitor jobs."""
    import numpy as np

    from grokstudy import results
    from grokstudy.monitors.protocol import key_name

    seconds: dict[str, list[float]] = {}
    for path in paths:
        meta = json.loads(results.sidecar(path).read_text())
        seconds.setdefault(meta["group"], []).append(meta["seconds_per_network"])
    frame = next(iter(frames.values()))
    pairs = frame[["group", "monitor", "site"]].drop_duplicates()
    return {key_name((m, s)): float(np.mean(seconds[g])) for g, m, s in pairs.itertuples(index=False)}


def run(args) -> None:
    from grokstudy.monitors.events import read_scored_runs, read_tables
    from grokstudy import provenance
    from grokstudy.analyses.runner import write_table
    from grokstudy.monitors import frozen, protocol, verdicts

    frozen_record = frozen.read_frozen(args.detectors, args.detectors_sha256)
    frames, scored = read_scored_runs(args.runs, args.monitors, args.metrics)
    roles = {run: tuple(role) for run, role in args.roles.items()}
    table = protocol.lead_times(frames, scored, roles, read_tables(args.band), frozen_record)
    costs = _costs(args.monitors, frames)
    summary = verdicts.monitors_table(table, frozen_record, costs, verdicts.JudgingSettings.of(args.settings))
    meta = {"detectors_sha256": args.detectors_sha256, "versions": provenance.versions()}
    write_table(table, args.out_lead_times, meta)
    write_table(summary, args.out_table, meta)
    print(summary[["monitor", "site", "detector", "hits", "held_out", "false_alarms", "verdict"]].to_string())
