"""Artifact sizes of the paper preset per class, projected from a finished rehearsal.

    .venv/bin/python benchmarks/paper_sizes.py --rehearsal RESULTS [--paper-data DIR]

RESULTS is a finished rehearsal (results/rehearsal, or the copy tests/test_rehearsal.py leaves in
pytest's temporary directory). The rehearsal has the paper's worlds and model, so its checkpoint
files are the paper's byte for byte; what differs is how many there are. Per class:

- data: the paper's datasets generated (or read from --paper-data) and measured: exact;
- checkpoints: the rehearsal's weights-only checkpoint and optimizer file per task (the two tasks'
  vocabularies differ), times the paper's checkpoint count per run, optimizer state in the newest only;
- metrics, probes: each rehearsal table resampled to the paper's row count (evaluation steps,
  checkpoints, null seeds) with its floats made distinct, as real ones are, and written as Parquet;
- figures: the PNG and PDF of each figure kind as measured, the CSV scaled by rows;
- logs: the rehearsal's logs plus one progress line (about 150 bytes) per 5 s of paper training,
  at an assumed --steps-per-second (no GPU has run it yet).
It prints a markdown table, and the checkpoint totals under the storage plans of docs/paper-scale.md.
"""

import argparse
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from grokstudy import config
from grokstudy.data import store
from grokstudy.training.schedule import checkpoint_steps, evaluation_steps

OPTIMIZER = "optimizer.safetensors"
WEIGHTS = "model.safetensors"
PROGRESS_LINE_BYTES = 150
PROGRESS_EVERY_S = 5  # tqdm's mininterval in the training loop


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def schedule_counts(run: dict) -> tuple[int, int]:
    """(checkpoints, evaluation steps) of a run."""
    ckpt = run["checkpoints"]
    steps = checkpoint_steps(run["steps"], ckpt["count"], ckpt["dense_fraction"], ckpt["dense_count"])
    return len(steps), len(evaluation_steps(run["steps"], run["eval_every"], steps))


def resampled_parquet_bytes(frame: pd.DataFrame, rows: int, seed: int = 0) -> int:
    """Bytes of a Parquet table like `frame` with `rows` rows, its floats distinct as in a real run."""
    rng = np.random.default_rng(seed)
    grown = frame.iloc[rng.integers(0, len(frame), size=rows)].reset_index(drop=True)
    for column in grown.columns:
        if pd.api.types.is_float_dtype(grown[column]):
            grown[column] = grown[column] + rng.random(rows) * 1e-3
    buffer = io.BytesIO()
    grown.to_parquet(buffer, index=False)
    return buffer.tell()


def checkpoint_files(rehearsal_results: Path, rehearsal: dict) -> dict[str, dict[str, int]]:
    """Per task: bytes of a weights-only checkpoint, of its weights file alone, and of the optimizer state."""
    found = {}
    for run in rehearsal["runs"]:
        task = config.task_of(rehearsal, run)
        steps = sorted((rehearsal_results / "checkpoints" / run).glob("step_*"))
        oldest, newest = steps[0], steps[-1]
        found[task] = {
            "weights_only": tree_bytes(oldest),
            "weights": (oldest / WEIGHTS).stat().st_size,
            "optimizer": (newest / OPTIMIZER).stat().st_size,
        }
    return found


def data_bytes(paper: dict, paper_data: Path | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(paper_data) if paper_data else Path(tmp)
        for name, params in paper["datasets"].items():
            if not (root / name / "manifest.json").exists():
                store.write(store.generate(params), params, root / name)
        return sum(tree_bytes(root / name) for name in paper["datasets"])


def checkpoint_bytes(paper: dict, files: dict, plan: str = "as configured") -> int:
    """All runs' checkpoints. Plans: 'as configured'; 'fp16 analysis' (every checkpoint but the newest
    keeps fp16 weights); 'fp16 + probe schedule' (runs nobody probes keep only their newest)."""
    total = 0
    for run_name, run in paper["runs"].items():
        kind = files[paper["datasets"][run["dataset"]]["task"]]
        count, _ = schedule_counts(run)
        older = count - 1
        if plan == "fp16 + probe schedule" and run_name not in paper["probes"]["runs"]:
            older = 0
        per_older = kind["weights_only"] - (kind["weights"] // 2 if plan != "as configured" else 0)
        total += older * per_older + kind["weights_only"] + kind["optimizer"]
    return total


def _by_task(preset: dict, runs) -> dict[str, str]:
    """One run of each task among `runs`: the rehearsal run that stands for the paper's runs of that task."""
    return {config.task_of(preset, run): run for run in runs}


def metrics_bytes(rehearsal_results: Path, rehearsal: dict, paper: dict) -> int:
    total = 0
    stand_in = _by_task(rehearsal, rehearsal["runs"])
    for run_name, run in paper["runs"].items():
        source = stand_in[config.task_of(paper, run_name)]
        run_dir = rehearsal_results / "runs" / source
        factor = schedule_counts(run)[1] / schedule_counts(rehearsal["runs"][source])[1]
        frame = pd.read_parquet(run_dir / "metrics.parquet")
        total += resampled_parquet_bytes(frame, round(len(frame) * factor))
        total += round((run_dir / "metrics.jsonl").stat().st_size * factor) + (run_dir / "run.json").stat().st_size
    return total


def probe_factors(rehearsal: dict, paper: dict, source: str, run: str) -> dict[str, float]:
    """Row-count ratios paper / rehearsal of each probe table."""
    ckpt_r, ckpt_p = schedule_counts(rehearsal["runs"][source])[0], schedule_counts(paper["runs"][run])[0]
    seeds_r, seeds_p = len(rehearsal["probes"]["null_seeds"]), len(paper["probes"]["null_seeds"])
    return {
        "logit_lens": ckpt_p / ckpt_r,
        "checkpoint_accuracy": ckpt_p / ckpt_r,
        "null_logit_lens": seeds_p / seeds_r,
        "causal_tracing": (ckpt_p + seeds_p) / (ckpt_r + seeds_r),
    }


def probe_bytes(rehearsal_results: Path, rehearsal: dict, paper: dict) -> int:
    total = 0
    stand_in = _by_task(rehearsal, rehearsal["probes"]["runs"])
    for run in paper["probes"]["runs"]:
        source = stand_in[config.task_of(paper, run)]
        for table, factor in probe_factors(rehearsal, paper, source, run).items():
            path = rehearsal_results / "probes" / source / f"{table}.parquet"
            if path.exists():
                frame = pd.read_parquet(path)
                total += (
                    resampled_parquet_bytes(frame, round(len(frame) * factor))
                    + path.with_suffix(".json").stat().st_size
                )
    return total


def figure_bytes(rehearsal_results: Path, rehearsal: dict, paper: dict) -> int:
    figures, total = rehearsal_results / "figures", 0
    probed = _by_task(rehearsal, rehearsal["probes"]["runs"])
    evals = (
        schedule_counts(paper["runs"][paper["claims"]["grokking_run"]])[1]
        / schedule_counts(rehearsal["runs"][rehearsal["claims"]["grokking_run"]])[1]
    )
    for kind in ("accuracy_curves", "phi_sweep", "weight_decay"):
        if kind in paper["figures"]:
            runs_factor = len(paper["figures"][kind]["runs"]) / len(rehearsal["figures"][kind]["runs"])
            total += sum((figures / f"{kind}.{ext}").stat().st_size for ext in ("png", "pdf"))
            total += round((figures / f"{kind}.csv").stat().st_size * evals * runs_factor)
    for run in paper["probes"]["runs"]:
        source = probed[config.task_of(paper, run)]
        factors = probe_factors(rehearsal, paper, source, run)
        stems = {"logit_lens": factors["logit_lens"], "causal_tracing": factors["causal_tracing"]}
        for kind, factor in stems.items():
            stem = f"{kind}_{source}"  # run names hold dots: no Path.with_suffix here
            if (figures / f"{stem}.png").exists():
                total += sum((figures / f"{stem}.{ext}").stat().st_size for ext in ("png", "pdf"))
                total += round((figures / f"{stem}.csv").stat().st_size * factor)
    return total + tree_bytes(rehearsal_results / "report")


def log_bytes(rehearsal_results: Path, paper: dict, steps_per_second: float) -> int:
    progress = sum(
        run["steps"] / steps_per_second / PROGRESS_EVERY_S * PROGRESS_LINE_BYTES for run in paper["runs"].values()
    )
    return tree_bytes(rehearsal_results / "logs") + round(progress)


def megabytes(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.2f} MB"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rehearsal", type=Path, required=True, help="a finished rehearsal's results/rehearsal")
    parser.add_argument("--rehearsal-preset", type=Path, default=Path("config/rehearsal.yaml"))
    parser.add_argument("--paper", type=Path, default=Path("config/paper.yaml"))
    parser.add_argument("--paper-data", type=Path, default=None, help="the paper's datasets, generated here if absent")
    parser.add_argument("--steps-per-second", type=float, default=150.0, help="assumed per run, for the log estimate")
    args = parser.parse_args(argv)
    rehearsal, paper, results = config.load(args.rehearsal_preset), config.load(args.paper), args.rehearsal
    files = checkpoint_files(results, rehearsal)
    sizes = {
        "data": (data_bytes(paper, args.paper_data), "generated and measured"),
        "checkpoints": (checkpoint_bytes(paper, files), "rehearsal files x the paper's checkpoint count"),
        "metrics": (metrics_bytes(results, rehearsal, paper), "rehearsal tables resampled to the paper's rows"),
        "probes": (probe_bytes(results, rehearsal, paper), "rehearsal tables resampled to the paper's rows"),
        "figures": (figure_bytes(results, rehearsal, paper), "PNG/PDF as measured, CSV scaled by rows"),
        "logs": (
            log_bytes(results, paper, args.steps_per_second),
            f"assumes {args.steps_per_second:g} steps/s per run",
        ),
    }
    print("| class | projected size | basis |\n|---|---|---|")
    for name, (size, basis) in sizes.items():
        print(f"| {name} | {megabytes(size)} | {basis} |")
    print(f"| total | {megabytes(sum(s for s, _ in sizes.values()))} | |")
    print("\ncheckpoints per file (bytes):", files)
    for plan in ("as configured", "fp16 analysis", "fp16 + probe schedule"):
        print(f"checkpoints, {plan}: {megabytes(checkpoint_bytes(paper, files, plan))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
