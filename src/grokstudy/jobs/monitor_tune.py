"""Tune the detectors on the development runs."""

from __future__ import annotations


def run(args) -> None:
    from grokstudy.monitors.events import read_scored_runs, read_tables
    from grokstudy import provenance
    from grokstudy.monitors import frozen, protocol

    frames, scored = read_scored_runs(args.runs, args.monitors, args.metrics)
    settings = protocol.TuningSettings.of(args.settings)
    record = protocol.tuning_record(frames, scored, args.seeds, read_tables(args.band), settings)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    digest = frozen.write_frozen(record, args.out)
    provenance.write_json(args.out.with_suffix(".meta.json"), {"sha256": digest, "versions": provenance.versions()})
    print(f"tuned on {record['development']['runs']}: sha256 {digest}")
