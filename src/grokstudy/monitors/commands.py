"""The `grokstudy monitor*` commands: the monitor jobs, tuning, freezing, and scoring."""

from __future__ import annotations

import json
from pathlib import Path


def _json(text: str):
    return json.loads(text)


def _common(p) -> None:
    p.add_argument("--data", type=Path, required=True, help="the run's dataset (its training file is read)")
    p.add_argument("--settings", type=_json, required=True, help="the preset's monitors section, as JSON")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--out", type=Path, required=True)


def monitor_arguments(p) -> None:
    _common(p)
    p.add_argument("--run", required=True)
    p.add_argument("--checkpoints", type=Path, required=True)


def monitor(args) -> None:
    from grokstudy import provenance
    from grokstudy.analyses.runner import write_table
    from grokstudy.data import store
    from grokstudy.monitors.compute import MonitorSettings
    from grokstudy.monitors.run import monitor_checkpoints
    from grokstudy.training.device import resolve_device

    import torch

    torch.set_num_threads(args.threads)
    settings = MonitorSettings.of(args.settings)
    frame, seconds = monitor_checkpoints(
        args.checkpoints, args.data, store.load_tokenizer(args.data), settings, resolve_device(args.device), args.run
    )
    meta = {"settings": args.settings, "seconds_per_checkpoint": seconds, "versions": provenance.versions()}
    write_table(frame, args.out, meta)
    print(f"{frame['step'].nunique()} checkpoints; seconds per checkpoint by group: {_rounded(seconds)}")


def band_arguments(p) -> None:
    _common(p)
    p.add_argument("--model-params", type=_json, required=True, help="the architecture of the fresh networks")
    p.add_argument("--steps", type=_json, required=True, help="the checkpoint slots, as a JSON list of steps")
    p.add_argument("--label", required=True)


def band(args) -> None:
    from grokstudy import provenance
    from grokstudy.analyses.runner import write_table
    from grokstudy.data import store
    from grokstudy.monitors.compute import MonitorSettings
    from grokstudy.monitors.run import monitor_band
    from grokstudy.training.device import resolve_device

    import torch

    torch.set_num_threads(args.threads)
    frame, seconds = monitor_band(
        args.model_params,
        args.steps,
        args.data,
        store.load_tokenizer(args.data),
        MonitorSettings.of(args.settings),
        args.settings["band_trajectories"],
        resolve_device(args.device),
        args.label,
    )
    meta = {"settings": args.settings, "model_params": args.model_params, "seconds_per_network": seconds}
    write_table(frame, args.out, {**meta, "versions": provenance.versions()})
    print(f"{frame['trajectory'].nunique()} trajectories x {frame['step'].nunique()} slots: {_rounded(seconds)}")


def _rounded(seconds: dict) -> dict:
    return {group: round(value, 3) for group, value in seconds.items()}


def _scored_arguments(p) -> None:
    p.add_argument("--runs", nargs="+", required=True, help="the runs, in the order of --monitors and --metrics")
    p.add_argument("--monitors", nargs="+", type=Path, required=True)
    p.add_argument("--metrics", nargs="+", type=Path, required=True, help="read for the events only (T_fit, T90)")
    p.add_argument("--band", type=Path, required=True)
    p.add_argument("--settings", type=_json, required=True)


def _read_runs(args) -> tuple[dict, dict]:
    from grokstudy import results
    from grokstudy.monitors.events import events

    if not len(args.runs) == len(args.monitors) == len(args.metrics):
        raise ValueError("--runs, --monitors and --metrics must name the same runs in the same order")
    frames = {run: results.read_table(path) for run, path in zip(args.runs, args.monitors, strict=True)}
    scored = {run: events(results.read_run_metrics(path)) for run, path in zip(args.runs, args.metrics, strict=True)}
    return frames, scored


def tune_arguments(p) -> None:
    _scored_arguments(p)
    p.add_argument("--seeds", type=_json, required=True, help="the development seeds, as a JSON list")
    p.add_argument("--out", type=Path, required=True)


def tune(args) -> None:
    from grokstudy import provenance, results
    from grokstudy.monitors import frozen, protocol

    frames, scored = _read_runs(args)
    settings = protocol.TuningSettings.of(args.settings)
    record = protocol.tuning_record(frames, scored, args.seeds, results.read_table(args.band), settings)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    digest = frozen.write_frozen(record, args.out)
    provenance.write_json(args.out.with_suffix(".meta.json"), {"sha256": digest, "versions": provenance.versions()})
    print(f"tuned on {record['development']['runs']}: sha256 {digest}")


def freeze_arguments(p) -> None:
    p.add_argument("--tuning", type=Path, required=True, help="a tuning.json the monitor_tuning job wrote")
    p.add_argument("--out", type=Path, required=True, help="the frozen file, e.g. config/monitors.detectors.json")


def freeze(args) -> None:
    from grokstudy.monitors import frozen

    record = json.loads(args.tuning.read_text())
    if args.out.exists():
        raise FileExistsError(f"{args.out} exists; a frozen file is never overwritten: write a new one")
    digest = frozen.write_frozen(record, args.out)
    print(f"froze {args.out}; the preset's monitors section records it as")
    print(f"  detectors: {args.out}\n  detectors_sha256: {digest}")


def leads_arguments(p) -> None:
    _scored_arguments(p)
    p.add_argument("--roles", type=_json, required=True, help="run -> [role, configuration], as JSON")
    p.add_argument("--detectors", type=Path, required=True)
    p.add_argument("--detectors-sha256", required=True)
    p.add_argument("--out-lead-times", type=Path, required=True)
    p.add_argument("--out-table", type=Path, required=True, help="the monitors table")


def leads(args) -> None:
    from grokstudy import provenance, results
    from grokstudy.analyses.runner import write_table
    from grokstudy.monitors import frozen, protocol, verdicts

    frozen_record = frozen.read_frozen(args.detectors, args.detectors_sha256)
    frames, scored = _read_runs(args)
    roles = {run: tuple(role) for run, role in args.roles.items()}
    table = protocol.lead_times(frames, scored, roles, results.read_table(args.band), frozen_record)
    costs = _costs(args.monitors, frames)
    summary = verdicts.monitors_table(table, frozen_record, costs, verdicts.JudgingSettings.of(args.settings))
    meta = {"detectors_sha256": args.detectors_sha256, "versions": provenance.versions()}
    write_table(table, args.out_lead_times, meta)
    write_table(summary, args.out_table, meta)
    print(summary[["monitor", "site", "detector", "hits", "held_out", "false_alarms", "verdict"]].to_string())


def _costs(paths: list[Path], frames: dict) -> dict[str, float]:
    """Mean seconds per checkpoint of each series' group, over the runs' monitor jobs."""
    import numpy as np

    from grokstudy import results
    from grokstudy.monitors.protocol import key_name

    seconds = [json.loads(results.sidecar(path).read_text())["seconds_per_checkpoint"] for path in paths]
    groups = {group: float(np.mean([s[group] for s in seconds])) for group in seconds[0]}
    frame = next(iter(frames.values()))
    pairs = frame[["group", "monitor", "site"]].drop_duplicates()
    return {key_name((m, s)): groups[g] for g, m, s in pairs.itertuples(index=False)}


def figures_arguments(p) -> None:
    p.add_argument("--runs", nargs="+", required=True, help="the runs, in the order of --monitors and --metrics")
    p.add_argument("--monitors", nargs="+", type=Path, required=True)
    p.add_argument("--metrics", nargs="+", type=Path, required=True)
    p.add_argument("--band", type=Path, required=True)
    p.add_argument("--lead-times", type=Path, required=True)
    p.add_argument("--table", type=Path, required=True)
    p.add_argument("--roles", type=_json, required=True, help="run -> [role, configuration], as JSON")
    p.add_argument("--dpi", type=int, default=150)
    p.add_argument("--out-dir", type=Path, required=True)


def figures(args) -> None:
    from grokstudy import results
    from grokstudy.figures import monitors as draw
    from grokstudy.figures import save

    frames = {run: results.read_table(path) for run, path in zip(args.runs, args.monitors, strict=True)}
    metrics = {run: results.read_run_metrics(path) for run, path in zip(args.runs, args.metrics, strict=True)}
    band, lead_times, table = (results.read_table(path) for path in (args.band, args.lead_times, args.table))
    roles = {run: tuple(role) for run, role in args.roles.items()}
    save.style()
    configurations = sorted({base for role, base in roles.values() if role != "non_grokking"})
    for configuration in configurations:
        fig, data = draw.monitor_course_figure(frames, metrics, band, lead_times, roles, configuration)
        save.save(fig, data, args.out_dir / f"monitor_course_{configuration}", args.dpi)
    for stem, (function, frame) in {
        "monitor_leads": (draw.lead_forest_figure, table),
        "monitor_alarm_times": (draw.alarm_times_figure, lead_times),
        "monitor_false_alarms": (draw.false_alarm_figure, table),
    }.items():
        fig, data = function(frame)
        save.save(fig, data, args.out_dir / stem, args.dpi)


COMMANDS = (
    ("monitor", "every monitor at every checkpoint of a run (training data only)", monitor_arguments, monitor),
    ("monitor-band", "the monitors of fresh networks at a run's checkpoint slots", band_arguments, band),
    ("monitor-tune", "tune the detectors on the development runs", tune_arguments, tune),
    ("monitor-freeze", "freeze a tuning as the preset's detector file", freeze_arguments, freeze),
    ("monitor-leads", "score every run with the frozen detectors; the monitors table", leads_arguments, leads),
    ("monitor-figures", "draw the monitors' figures", figures_arguments, figures),
)
