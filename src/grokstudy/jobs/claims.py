"""The preset's claims table."""

from __future__ import annotations


from pathlib import Path


def run(args) -> None:
    from grokstudy import claims as study_claims

    table = study_claims.evaluate_files(
        args.config,
        args.metrics,
        args.lens,
        args.causal,
        args.baselines,
        args.lens_queries,
        args.predictions,
        args.sweep,
        args.sweep_items,
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table[["claim", "status", "measured"]].to_string(index=False))
