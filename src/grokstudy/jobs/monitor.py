"""One monitor group at every checkpoint of a run (training data only)."""

from __future__ import annotations


def run(args) -> None:
    import importlib

    from grokstudy import provenance
    from grokstudy.analyses.runner import write_table
    from grokstudy.data import store
    from grokstudy.monitors.run import monitor_checkpoints
    from grokstudy.training.device import resolve_device

    import torch

    torch.set_num_threads(args.threads)
    group = importlib.import_module(args.module)
    tokenizer = store.load_tokenizer(args.data)
    device = resolve_device(args.device)
    frame, seconds = monitor_checkpoints(group, args.checkpoints, args.data, tokenizer, args.settings, device, args.run)
    frame.insert(0, "group", args.group)
    meta = {"group": args.group, "settings": args.settings, "seconds_per_network": seconds}
    write_table(frame, args.out, {**meta, "versions": provenance.versions()})
    print(f"{args.group}: {frame['step'].nunique()} checkpoints, {seconds:.3f} s per checkpoint")
