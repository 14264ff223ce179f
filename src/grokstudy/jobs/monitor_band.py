"""The monitors of fresh networks at a run's checkpoint slots."""

from __future__ import annotations


def run(args) -> None:
    from grokstudy import provenance
    from grokstudy.analyses.runner import write_table
    from grokstudy.data import store
    from grokstudy.jobs.monitor import rounded
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
    print(f"{frame['trajectory'].nunique()} trajectories x {frame['step'].nunique()} slots: {rounded(seconds)}")
