"""The monitors' figures."""

from __future__ import annotations


def run(args) -> None:
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
