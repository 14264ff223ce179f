"""The study's report page."""

from __future__ import annotations


def run(args) -> None:
    import importlib

    import pandas as pd

    from grokstudy import report as study_report
    from grokstudy.results import read_table

    captions = study_report.read_captions(args.captions)
    monitors = None
    if args.monitors_table:
        # Imported by name: the Snakefile adds this module to the report's digest where monitors are scored.
        verdicts = importlib.import_module("grokstudy.monitors.verdicts")
        monitors = verdicts.monitors_view(read_table(args.monitors_table[0]))
    study_report.build(
        args.name, args.description, args.figures, captions, pd.read_csv(args.claims), args.runs, args.out, monitors
    )
