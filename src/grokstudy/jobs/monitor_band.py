"""One monitor group on fresh networks at a run's checkpoint slots."""

from __future__ import annotations


def run(args) -> None:
    import importlib

    from grokstudy import provenance
    from grokstudy.analyses.runner import write_table
    from grokstudy.data import store
    from grokstudy.monitors.run import monitor_band
    from grokstudy.training.device import resolve_device

    import torch

    torch.set_num_threads(args.threads)
    frame, seconds = monitor_band(
        importlib.import_module(args.module),
        args.model_params,
        args.steps,
        args.data,
        store.load_tokenizer(args.data),
        args.settings,
        args.settings["band_trajectories"],
        resolve_device(args.device),
        args.label,
    )
    frame.insert(0, "group", args.group)
    meta = {"group": args.group, "settings": args.settings, "model_params": args.model_params}
    write_table(frame, args.out, {**meta, "seconds_per_network": seconds, "versions": provenance.versions()})
    print(f"{args.group}: {frame['trajectory'].nunique()} trajectories x {frame['step'].nunique()} slots")
