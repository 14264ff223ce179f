"""Train (or resume) one run."""

from __future__ import annotations


import json


def run(args) -> None:
    from grokstudy.training.loop import train_run

    result = train_run(
        args.run_params,
        args.model_params,
        args.data,
        args.out,
        args.checkpoints,
        device=args.device,
        threads=args.threads,
        stop_after_step=args.stop_after_step,
    )
    print(json.dumps(result.get("final", result)))
