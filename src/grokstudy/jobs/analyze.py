"""One analysis at every checkpoint of a run."""

from __future__ import annotations


def _print_summary(module_name: str, frames: dict) -> None:
    """The module's own summary of its tables when it has one, else their sizes."""
    import importlib

    module = importlib.import_module(module_name)
    if hasattr(module, "summary"):
        print(module.summary(frames))
    else:
        print(", ".join(f"{name}: {len(frame)} rows" for name, frame in frames.items()))


def run(args) -> None:
    from grokstudy import provenance
    from grokstudy.analyses import runner

    job = runner.make_job(
        args.run, args.task, args.data, args.settings, args.device, args.threads, run_dir=args.run_dir
    )
    frames = runner.analyse_checkpoints(args.module, job, args.checkpoints, tuple(args.tables))
    meta = {
        "settings": args.settings,
        "versions": provenance.versions(),
        "run_fingerprint": runner.run_fingerprint(args.run_dir),
    }
    runner.write_tables(frames, args.out_dir, meta)
    _print_summary(args.module, frames)
