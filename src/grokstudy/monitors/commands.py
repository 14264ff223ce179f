"""The `grokstudy monitor*` commands: the monitor jobs, tuning, freezing, and scoring."""

from __future__ import annotations

import json
from pathlib import Path

from grokstudy.jobs import handler


def _json(text: str):
    return json.loads(text)


def _common(p) -> None:
    p.add_argument("--group", required=True, help="the monitor group, a row of grokstudy.monitors.registry")
    p.add_argument("--module", required=True, help="the group's module (its prepare and read)")
    p.add_argument("--data", type=Path, required=True, help="the run's dataset (its training file is read)")
    p.add_argument("--settings", type=_json, required=True, help="the group's monitor settings, as JSON")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--out", type=Path, required=True)


def monitor_arguments(p) -> None:
    _common(p)
    p.add_argument("--run", required=True)
    p.add_argument("--checkpoints", type=Path, required=True)


def band_arguments(p) -> None:
    _common(p)
    p.add_argument("--model-params", type=_json, required=True, help="the architecture of the fresh networks")
    p.add_argument("--steps", type=_json, required=True, help="the checkpoint slots, as a JSON list of steps")
    p.add_argument("--label", required=True)


def _scored_arguments(p) -> None:
    p.add_argument("--runs", nargs="+", required=True, help="the runs, in the order of --metrics")
    p.add_argument("--monitors", nargs="+", type=Path, required=True, help="every group's table of every run")
    p.add_argument("--metrics", nargs="+", type=Path, required=True, help="read for the events only (T_fit, T90)")
    p.add_argument("--band", nargs="+", type=Path, required=True, help="every group's random-init band")
    p.add_argument("--settings", type=_json, required=True)


def tune_arguments(p) -> None:
    _scored_arguments(p)
    p.add_argument("--seeds", type=_json, required=True, help="the development seeds, as a JSON list")
    p.add_argument("--out", type=Path, required=True)


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


def figures_arguments(p) -> None:
    p.add_argument("--runs", nargs="+", required=True, help="the runs, in the order of --metrics")
    p.add_argument("--monitors", nargs="+", type=Path, required=True, help="every group's table of every run")
    p.add_argument("--metrics", nargs="+", type=Path, required=True)
    p.add_argument("--band", nargs="+", type=Path, required=True, help="every group's random-init band")
    p.add_argument("--lead-times", type=Path, required=True)
    p.add_argument("--table", type=Path, required=True)
    p.add_argument("--roles", type=_json, required=True, help="run -> [role, configuration], as JSON")
    p.add_argument("--dpi", type=int, default=150)
    p.add_argument("--out-dir", type=Path, required=True)


COMMANDS = (
    (
        "monitor",
        "one monitor group at every checkpoint of a run (training data only)",
        monitor_arguments,
        handler("monitor"),
    ),
    (
        "monitor-band",
        "one monitor group on fresh networks at a run's checkpoint slots",
        band_arguments,
        handler("monitor_band"),
    ),
    ("monitor-tune", "tune the detectors on the development runs", tune_arguments, handler("monitor_tune")),
    ("monitor-freeze", "freeze a tuning as the preset's detector file", freeze_arguments, freeze),
    (
        "monitor-leads",
        "score every run with the frozen detectors; the monitors table",
        leads_arguments,
        handler("monitor_leads"),
    ),
    ("monitor-figures", "draw the monitors' figures", figures_arguments, handler("monitor_figures")),
)
