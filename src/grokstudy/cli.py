"""The `grokstudy` command: one subcommand per workflow step, so Snakemake rules stay thin.

Rules pass tunables as JSON strings (from Snakemake `params`), so a changed value is
seen by Snakemake and reruns exactly the rules that use it.
"""

import argparse
import json
import sys
from pathlib import Path

from grokstudy.errors import ArtifactError, ConfigError, CorruptArtifactError


def _json(text: str):
    return json.loads(text)


def cmd_validate(args) -> None:
    from grokstudy import config

    resolved = config.load(args.configfile)
    print(f"{args.configfile}: valid ({len(resolved['datasets'])} datasets, {len(resolved['runs'])} runs)")


def cmd_prepare(args) -> None:
    from grokstudy.data import store

    dataset = store.generate(args.params)
    store.write(dataset, args.params, args.out)
    print(f"{args.out}: {dataset.counts} phi achieved {dataset.phi_achieved:.4f}")


def cmd_train(args) -> None:
    from grokstudy.training.loop import train_run

    result = train_run(args.run_params, args.model_params, args.data, args.out, args.checkpoints, device=args.device,
                       threads=args.threads, stop_after_step=args.stop_after_step)
    print(json.dumps(result.get("final", result)))


def cmd_probe(args) -> None:
    from grokstudy import provenance
    from grokstudy.probes.run_probes import probe_run, write_table

    lens, accuracy = probe_run(args.run, args.task, args.run_dir, args.data, args.probes, threads=args.threads,
                               checkpoint_dir=args.checkpoints)
    meta = {"probes": args.probes, "versions": provenance.versions(), "run_fingerprint": json.loads((Path(args.run_dir) / "run.json").read_text())["fingerprint"]}
    write_table(lens, args.out_lens, meta)
    write_table(accuracy, args.out_accuracy, meta)
    gap = (accuracy["accuracy"] - accuracy["accuracy_logged"]).abs().max()
    print(f"probed {accuracy['step'].nunique()} checkpoints; max |reloaded - logged accuracy| = {gap:.2e}")


def cmd_probe_null(args) -> None:
    from grokstudy import provenance
    from grokstudy.probes.run_probes import probe_nulls, write_table

    nulls = probe_nulls(args.run, args.task, args.model_params, args.data, args.probes, threads=args.threads)
    write_table(nulls, args.out, {"probes": args.probes, "model_params": args.model_params, "versions": provenance.versions()})


def cmd_trace(args) -> None:
    from grokstudy import provenance
    from grokstudy.probes.run_probes import trace_run, write_table

    table = trace_run(args.run, args.model_params, args.data, args.probes, args.checkpoints, threads=args.threads)
    write_table(table, args.out, {"probes": args.probes, "model_params": args.model_params, "versions": provenance.versions()})
    final = table[(table["network"] == "trained") & (table["step"] == table["step"].max()) & (table["split"] == "train_inferred")]
    print(final.pivot_table(index="layer", columns="position", values="effect").round(3).to_string())


def _metrics(paths: list[Path]):
    import pandas as pd

    return pd.concat([pd.read_parquet(p).assign(run=Path(p).parent.name) for p in paths], ignore_index=True)


def cmd_figure(args) -> None:
    import pandas as pd

    from grokstudy.figures import curves, lens, save

    save.style()
    if args.kind == "logit_lens":
        data = lens.lens_table(pd.read_parquet(args.inputs[0]), pd.read_parquet(args.inputs[1]))
        fig = lens.logit_lens(data)
    elif args.kind == "causal_tracing":
        data = pd.read_parquet(args.inputs[0])
        fig = lens.causal_tracing(data)
    else:
        data = curves.label_runs(_metrics(args.inputs), args.config["runs"], args.config)
        fig = getattr(curves, args.kind)(data, step_axis=args.step_axis)
    save.save(fig, data, args.out_prefix, args.dpi)


def cmd_claims(args) -> None:
    import pandas as pd

    from grokstudy import claims

    lens = pd.concat([pd.read_parquet(p) for p in args.lens], ignore_index=True) if args.lens else pd.DataFrame()
    majority = None
    if args.comparison_ood:
        majority = float(pd.read_parquet(args.comparison_ood)["answer"].value_counts(normalize=True).max())
    causal = pd.concat([pd.read_parquet(p) for p in args.causal], ignore_index=True) if args.causal else None
    table = claims.evaluate(args.config, _metrics(args.metrics), lens, majority, causal)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table[["claim", "status", "measured"]].to_string(index=False))


def cmd_report(args) -> None:
    import pandas as pd

    from grokstudy import report

    report.build(args.name, args.description, args.figures, pd.read_csv(args.claims), args.runs, args.out)


def _preset(configfile: Path) -> tuple[Path, Path]:
    """(repository root, results directory) of a preset; the root is the current directory."""
    from grokstudy import config

    root = Path.cwd()
    if not (root / "Snakefile").exists():
        raise ArtifactError(f"run this from the repository root (no Snakefile in {root})")
    return root, root / "results" / config.load(configfile)["name"]


def cmd_seal(args) -> None:
    from grokstudy.artifacts.seal import seal

    root, results = _preset(args.configfile)
    seal(root, str(args.configfile), results)


def cmd_restore(args) -> None:
    from grokstudy.artifacts.restore import restore

    root, results = _preset(args.configfile)
    restore(root, str(args.configfile), results, chosen=args.only)


def cmd_bench(args) -> None:
    from grokstudy.benchmark.measure import append_rows, benchmark

    rows = benchmark(args.configfile, args.run, args.loops, args.steps, args.warmup, args.processes, args.device,
                     compile=args.compile)
    append_rows(args.out, rows)
    print(f"appended {len(rows)} rows to {args.out}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="grokstudy", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("validate", help="check a preset against the schema")
    s.add_argument("--configfile", type=Path, required=True)
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("prepare", help="generate one dataset")
    s.add_argument("--params", type=_json, required=True, help="the dataset's config section as JSON")
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_prepare)

    s = sub.add_parser("train", help="train (or resume) one run")
    s.add_argument("--run-params", type=_json, required=True)
    s.add_argument("--model-params", type=_json, required=True)
    s.add_argument("--data", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True, help="directory for metrics and the run summary")
    s.add_argument("--checkpoints", type=Path, default=None, help="checkpoint directory (default: OUT/checkpoints)")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--stop-after-step", type=int, default=None, help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_train)

    for name, func, help_text in (("probe", cmd_probe, "probe every checkpoint of a run"),
                                  ("probe-null", cmd_probe_null, "probe randomly initialized networks")):
        s = sub.add_parser(name, help=help_text)
        s.add_argument("--run", required=True)
        s.add_argument("--task", required=True, choices=["composition", "comparison"])
        s.add_argument("--data", type=Path, required=True)
        s.add_argument("--probes", type=_json, required=True)
        s.add_argument("--threads", type=int, default=1)
        s.set_defaults(func=func)
        if name == "probe":
            s.add_argument("--run-dir", type=Path, required=True)
            s.add_argument("--checkpoints", type=Path, default=None, help="default: RUN_DIR/checkpoints")
            s.add_argument("--out-lens", type=Path, required=True)
            s.add_argument("--out-accuracy", type=Path, required=True)
        else:
            s.add_argument("--model-params", type=_json, required=True)
            s.add_argument("--out", type=Path, required=True)

    s = sub.add_parser("trace", help="causal tracing of every checkpoint of a composition run, and of null networks")
    s.add_argument("--run", required=True)
    s.add_argument("--data", type=Path, required=True)
    s.add_argument("--checkpoints", type=Path, required=True)
    s.add_argument("--model-params", type=_json, required=True)
    s.add_argument("--probes", type=_json, required=True)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_trace)

    s = sub.add_parser("figure", help="draw one figure")
    s.add_argument("kind", choices=["accuracy_curves", "phi_sweep", "weight_decay", "logit_lens", "causal_tracing"])
    s.add_argument("--inputs", type=Path, nargs="+", required=True)
    s.add_argument("--config", type=_json, default={}, help="datasets and runs sections as JSON")
    s.add_argument("--dpi", type=int, default=150)
    s.add_argument("--step-axis", choices=["log", "linear"], default="log", help="accuracy curves only")
    s.add_argument("--out-prefix", type=Path, required=True)
    s.set_defaults(func=cmd_figure)

    s = sub.add_parser("claims", help="check the paper's claims against this preset's results")
    s.add_argument("--config", type=_json, required=True)
    s.add_argument("--metrics", type=Path, nargs="+", required=True)
    s.add_argument("--lens", type=Path, nargs="*", default=[])
    s.add_argument("--causal", type=Path, nargs="*", default=[], help="causal tracing tables")
    s.add_argument("--comparison-ood", type=Path, default=None)
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_claims)

    s = sub.add_parser("report", help="assemble the HTML report")
    s.add_argument("--name", required=True)
    s.add_argument("--description", default="")
    s.add_argument("--figures", type=Path, nargs="+", required=True)
    s.add_argument("--claims", type=Path, required=True)
    s.add_argument("--runs", type=Path, nargs="+", required=True)
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("seal", help="record an up-to-date preset's artifacts in DVC and push them (author)")
    s.add_argument("--configfile", type=Path, default=Path("config/config.yaml"))
    s.set_defaults(func=cmd_seal)

    from grokstudy.artifacts.classes import ARTIFACT_CLASSES

    s = sub.add_parser("restore", help="pull a preset's sealed artifacts; Snakemake then reruns nothing",
                       epilog="classes: " + "; ".join(f"{c.name}: {c.contents}" for c in ARTIFACT_CLASSES.values()))
    s.add_argument("--configfile", type=Path, default=Path("config/config.yaml"))
    s.add_argument("--only", nargs="+", metavar="CLASS", default=None,
                   help="pull only these classes (and what they need), e.g. --only figures probes")
    s.set_defaults(func=cmd_restore)

    s = sub.add_parser("bench", help="training speed: the original loop's costs against the fast path")
    s.add_argument("--configfile", type=Path, default=Path("config/config.yaml"))
    s.add_argument("--run", required=True, help="the run whose model, data and batch size are measured")
    s.add_argument("--loops", nargs="+", default=["reference", "fast", "fast-concurrent"],
                   choices=["reference", "fast", "fast-concurrent"])
    s.add_argument("--steps", type=int, default=30, help="timed steps per loop")
    s.add_argument("--warmup", type=int, default=5)
    s.add_argument("--processes", type=int, default=2, help="processes for fast-concurrent")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--compile", action="store_true", help="capture the fast step with torch.compile (the preset's setting otherwise)")
    s.add_argument("--out", type=Path, default=Path("benchmarks/results.csv"))
    s.set_defaults(func=cmd_bench)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except (ArtifactError, ConfigError, CorruptArtifactError, FileNotFoundError) as error:
        print(f"grokstudy {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
