"""The monitors' figures: each group's course, as its registry row names it, and the evaluation's."""

from __future__ import annotations


def run(args) -> None:
    import importlib

    from grokstudy import results
    from grokstudy.figures import monitors as draw
    from grokstudy.figures import save
    from grokstudy.monitors import registry
    from grokstudy.monitors.events import read_tables

    tables = read_tables(args.monitors)
    frames = {run: tables[tables["run"] == run] for run in args.runs}
    metrics = {run: results.read_run_metrics(path) for run, path in zip(args.runs, args.metrics, strict=True)}
    band, lead_times, table = (
        read_tables(args.band),
        results.read_table(args.lead_times),
        results.read_table(args.table),
    )
    roles = {run: tuple(role) for run, role in args.roles.items()}
    save.style()
    for group in registry.MONITORS:
        module, function = group.figure.split(":")
        figure = getattr(importlib.import_module(module), function)
        fig, data = figure(group.name, frames, metrics, band[band["group"] == group.name], lead_times, roles)
        save.save(fig, data, args.out_dir / group.figure_stem, args.dpi)
    for stem, (function, frame) in {
        "monitor_leads": (draw.lead_forest_figure, table),
        "monitor_alarm_times": (draw.alarm_times_figure, lead_times),
        "monitor_false_alarms": (draw.false_alarm_figure, table),
    }.items():
        fig, data = function(frame)
        save.save(fig, data, args.out_dir / stem, args.dpi)
