"""One analysis on the null networks of a dataset and model."""

from __future__ import annotations


def run(args) -> None:
    from grokstudy import provenance
    from grokstudy.analyses import runner

    job = runner.make_job(
        args.run, args.task, args.data, args.settings, args.device, args.threads, model_spec=args.model_params
    )
    frames = runner.analyse_nulls(args.module, job, tuple(args.tables))
    meta = {"settings": args.settings, "model_params": args.model_params, "versions": provenance.versions()}
    runner.write_tables(frames, args.out_dir, meta)
    print(", ".join(f"{name}: {len(frame)} rows" for name, frame in frames.items()))
