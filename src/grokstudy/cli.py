"""The `grokstudy` command: one subcommand per workflow step, so Snakemake rules stay thin.

Rules pass each job's settings as JSON (Snakemake `params` picked by
grokstudy.config.job_settings), so an edit reruns exactly the jobs that use the edited value.
Each command's arguments are declared right above its handler.
"""

import argparse
import json
import sys
from pathlib import Path

from grokstudy.errors import ArtifactError, ConfigError, CorruptArtifactError
from grokstudy.jobs import handler
from grokstudy.monitors.commands import COMMANDS as MONITOR_COMMANDS
from grokstudy.paths import inside

TASK_CHOICES = ("composition", "comparison")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
DEFAULT_PRESET = Path("config/config.yaml")


def _json(text: str):
    return json.loads(text)


def validate_arguments(p):
    p.add_argument("--configfile", type=Path, required=True)


def validate(args) -> None:
    from grokstudy import config

    resolved = config.load(args.configfile)
    print(f"{args.configfile}: valid ({len(resolved['datasets'])} datasets, {len(resolved['runs'])} runs)")


def prepare_arguments(p):
    p.add_argument("--params", type=_json, required=True, help="the dataset's settings as JSON")
    p.add_argument("--out", type=Path, required=True)


def train_arguments(p):
    p.add_argument("--run-params", type=_json, required=True, help="the run's settings as JSON")
    p.add_argument("--model-params", type=_json, required=True, help="the run's model as JSON")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="directory for metrics and the run summary")
    p.add_argument("--checkpoints", type=Path, default=None, help="checkpoint directory (default: OUT/checkpoints)")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--stop-after-step", type=int, default=None, help=argparse.SUPPRESS)


def _analysis_common(p):
    p.add_argument("--module", required=True, help="the analysis module (its registry row names it)")
    p.add_argument("--tables", nargs="+", required=True, help="the tables it writes, in OUT_DIR/<table>.parquet")
    p.add_argument("--run", required=True)
    p.add_argument("--task", required=True, choices=TASK_CHOICES)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--settings", type=_json, required=True, help="the probe settings this job reads, as JSON")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", choices=DEVICE_CHOICES, help="where the networks run (fp32 either way)")
    p.add_argument("--out-dir", type=Path, required=True)


def analyze_arguments(p):
    _analysis_common(p)
    p.add_argument("--checkpoints", type=Path, required=True)
    p.add_argument(
        "--run-dir", type=Path, required=True, help="the run's summary (and metrics, for analyses that read them)"
    )


def analyze_nulls_arguments(p):
    _analysis_common(p)
    p.add_argument(
        "--model-params", type=_json, required=True, help="the run's model, of which null networks are built"
    )


def analysis_figure_arguments(p):
    p.add_argument("--draw", required=True, help="module:function drawing the figure (its registry row names it)")
    p.add_argument("--inputs", nargs="+", required=True, metavar="TABLE=PATH")
    p.add_argument("--dpi", type=int, default=150)
    p.add_argument("--out-prefix", type=Path, required=True)


def figure_arguments(p):
    from grokstudy.config.model import CURVE_FIGURES

    p.add_argument("kind", choices=CURVE_FIGURES)
    p.add_argument("--inputs", type=Path, nargs="+", required=True)
    p.add_argument(
        "--baselines", type=Path, nargs="*", default=[], help="curve figures: the runs' datasets' baselines.json"
    )
    p.add_argument(
        "--labels",
        type=_json,
        default=[],
        help="accuracy curves: per run in order, its task, phi and weight decay (JSON)",
    )
    p.add_argument("--dpi", type=int, default=150)
    p.add_argument("--step-axis", choices=["log", "linear"], default="log", help="accuracy curves only")
    p.add_argument("--out-prefix", type=Path, required=True)


def claims_arguments(p):
    p.add_argument("--config", type=_json, required=True, help="the claim criteria and the facts of each run, as JSON")
    p.add_argument("--metrics", type=Path, nargs="+", required=True)
    p.add_argument("--lens", type=Path, nargs="*", default=[])
    p.add_argument("--causal", type=Path, nargs="*", default=[], help="per-query causal tracing tables")
    p.add_argument("--lens-queries", type=Path, nargs="*", default=[], help="per-query logit-lens tables")
    p.add_argument("--predictions", type=Path, nargs="*", default=[], help="the runs' per-item test predictions")
    p.add_argument("--sweep", type=Path, nargs="*", default=[], help="looped runs' test-time recurrence sweeps")
    p.add_argument("--sweep-items", type=Path, nargs="*", default=[], help="the same sweeps per ID item")
    p.add_argument(
        "--baselines", type=Path, nargs="+", required=True, help="the baselines.json of every dataset the runs use"
    )
    p.add_argument("--out", type=Path, required=True)


def report_arguments(p):
    p.add_argument("--name", required=True)
    p.add_argument("--description", default="")
    p.add_argument("--figures", type=Path, nargs="+", required=True)
    p.add_argument("--captions", type=Path, nargs="+", required=True, help="one caption file per figure kind")
    p.add_argument("--claims", type=Path, required=True)
    p.add_argument("--runs", type=Path, nargs="+", required=True)
    p.add_argument("--monitors-table", type=Path, nargs="*", default=[], help="the monitors table, when scored")
    p.add_argument("--out", type=Path, required=True)


def _preset_arguments(p):
    p.add_argument("--configfile", type=Path, default=DEFAULT_PRESET)


def _preset(configfile: Path) -> tuple[Path, Path]:
    """(repository root, results directory) of a preset; the root is the current directory."""
    from grokstudy import config

    root = Path.cwd()
    if not (root / "Snakefile").exists():
        raise ArtifactError(f"run this from the repository root (no Snakefile in {root})")
    results = root / "results" / config.load(configfile)["name"]
    inside(results, root / "results", "seal or restore")
    return root, results


def seal(args) -> None:
    from grokstudy.artifacts.seal import seal as seal_preset

    root, results = _preset(args.configfile)
    seal_preset(root, str(args.configfile), results)


def restore_arguments(p):
    _preset_arguments(p)
    p.add_argument(
        "--only",
        nargs="+",
        metavar="CLASS",
        default=None,
        help="pull only these classes (and what they need), e.g. --only figures probes",
    )
    p.add_argument(
        "--from",
        dest="origin",
        metavar="URL_OR_PATH",
        default=None,
        help="a published remote tree or tarball (.tar.gz), a URL or a path, to pull from instead of the"
        " repository's evidence tree and its default remote",
    )


def publish_arguments(p):
    _preset_arguments(p)
    p.add_argument("--to", type=Path, required=True, help="directory for the remote tree, tarballs and manifest")
    p.add_argument("--only", nargs="+", metavar="CLASS", default=None, help="publish only these classes")


def publish(args) -> None:
    from grokstudy.artifacts.publish import publish as publish_preset

    root, results = _preset(args.configfile)
    publish_preset(root, results, args.to, chosen=args.only)


def claims_table(args) -> None:
    from grokstudy.claims_table import markdown

    print(markdown(_preset(args.configfile)[1]))


def monitors_table(args) -> None:
    from grokstudy.claims_table import monitors_markdown

    print(monitors_markdown(_preset(args.configfile)[1]))


def results_page_arguments(p):
    _preset_arguments(p)
    p.add_argument(
        "--status-lines",
        action="store_true",
        help="print the preset's status lines as the README quotes them, instead of writing its page",
    )


def results_page(args) -> None:
    from grokstudy import config
    from grokstudy import results_page as pages

    root, results = _preset(args.configfile)
    if args.status_lines:
        print(pages.status_lines(results))
        return
    written = pages.write(root, args.configfile, config.load(args.configfile), results)
    print(f"wrote {written.relative_to(root)}")


def restore(args) -> None:
    from grokstudy.artifacts.restore import restore as restore_preset

    root, results = _preset(args.configfile)
    restore_preset(root, str(args.configfile), results, chosen=args.only, origin=args.origin)


def why_arguments(p):
    _preset_arguments(p)
    p.add_argument("targets", nargs="*", help="Snakemake targets (default: everything the preset makes)")


def why(args) -> None:
    from grokstudy.artifacts import why as explain

    root, results = _preset(args.configfile)
    print(explain.report(explain.explain(root, str(args.configfile), results, args.targets)))


def bench_arguments(p):
    _preset_arguments(p)
    p.add_argument("--run", required=True, help="the run whose model, data and batch size are measured")
    p.add_argument(
        "--loops",
        nargs="+",
        default=["reference", "fast", "fast-concurrent"],
        choices=["reference", "fast", "fast-concurrent"],
    )
    p.add_argument("--steps", type=int, default=30, help="timed steps per loop")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--processes", type=int, default=2, help="processes for fast-concurrent")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument(
        "--compile",
        action="store_true",
        help="capture the fast step with torch.compile (the preset's setting otherwise)",
    )
    p.add_argument("--out", type=Path, default=Path("benchmarks/results.csv"))


def bench(args) -> None:
    from grokstudy.benchmark.measure import append_rows, benchmark

    rows = benchmark(
        args.configfile,
        args.run,
        args.loops,
        args.steps,
        args.warmup,
        args.processes,
        args.device,
        compile=args.compile,
    )
    append_rows(args.out, rows)
    print(f"appended {len(rows)} rows to {args.out}")


def _restore_epilog() -> str:
    from grokstudy.artifacts.classes import ARTIFACT_CLASSES

    return "classes: " + "; ".join(f"{c.name}: {c.contents}" for c in ARTIFACT_CLASSES.values())


# name, help, arguments, handler
COMMANDS = (
    ("validate", "check a preset before any job runs", validate_arguments, validate),
    ("prepare", "generate one dataset", prepare_arguments, handler("prepare")),
    ("train", "train (or resume) one run", train_arguments, handler("train")),
    ("analyze", "run one analysis over every checkpoint of a run", analyze_arguments, handler("analyze")),
    ("analyze-nulls", "run one analysis on its null networks", analyze_nulls_arguments, handler("analyze_nulls")),
    ("figure", "draw one accuracy-curve figure", figure_arguments, handler("figure")),
    ("analysis-figure", "draw one analysis's figure of a run", analysis_figure_arguments, handler("analysis_figure")),
    ("claims", "check the paper's claims against this preset's results", claims_arguments, handler("claims")),
    ("report", "assemble the HTML report", report_arguments, handler("report")),
    ("seal", "record an up-to-date preset's artifacts in DVC and push them (author)", _preset_arguments, seal),
    (
        "restore",
        "pull a preset's sealed artifacts; Snakemake then reruns what changed since the seal",
        restore_arguments,
        restore,
    ),
    ("why", "for each job Snakemake would run, what changed: settings, code by module, inputs", why_arguments, why),
    (
        "publish",
        "write a sealed preset as a read-only remote tree, tarballs and a manifest",
        publish_arguments,
        publish,
    ),
    ("claims-table", "print a preset's claims table as its results page has it", _preset_arguments, claims_table),
    ("monitors-table", "print a preset's monitors table as its results page has it", _preset_arguments, monitors_table),
    (
        "results-page",
        "write a preset's results page, docs/results/<name>.md, from its report (or print its README status lines)",
        results_page_arguments,
        results_page,
    ),
    ("bench", "training speed: the original loop's costs against the fast path", bench_arguments, bench),
    *MONITOR_COMMANDS,
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="grokstudy", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_text, arguments, run in COMMANDS:
        s = sub.add_parser(name, help=help_text, epilog=_restore_epilog() if name == "restore" else None)
        arguments(s)
        s.set_defaults(func=run)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except (ArtifactError, ConfigError, CorruptArtifactError, FileNotFoundError, FileExistsError) as error:
        print(f"grokstudy {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
