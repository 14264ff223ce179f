"""Every monitor at every checkpoint of a run (training data only)."""

from __future__ import annotations


def rounded(seconds: dict) -> dict:
    return {group: round(value, 3) for group, value in seconds.items()}


def run(args) -> None:
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
    print(f"{frame['step'].nunique()} checkpoints; seconds per checkpoint by group: {rounded(seconds)}")
