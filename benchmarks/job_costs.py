"""Wall time and peak memory of every `grokstudy` command a Snakemake run makes, without touching the workflow.

The rules call `grokstudy` through PATH, so a shim directory placed first on PATH sees every job:

    python benchmarks/job_costs.py shim DIR COSTS.jsonl   # writes DIR/grokstudy
    PATH=DIR:$PATH snakemake --configfile config/rehearsal.yaml --cores 2
    python benchmarks/job_costs.py table COSTS.jsonl      # markdown, one row per job

Each job is timed by a parent that waits for it and reads the child's peak resident set size
from getrusage (Linux reports it in KiB): no psutil, no /usr/bin/time.
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

OUTPUT_SUFFIXES = (".parquet", ".csv", ".html")


def job_label(argv: list[str]) -> tuple[str, str]:
    """(subcommand, subject) of a `grokstudy` call, e.g. ("train", "comp_phi18_wd0.1"): the run when the
    call names one, else the last part of its output path (a dataset, run directory or figure)."""
    command = argv[0] if argv else "?"
    if "--run" in argv:
        return command, argv[argv.index("--run") + 1]
    for option in ("--out-prefix", "--out"):
        if option in argv:
            name = Path(argv[argv.index(option) + 1]).name
            return command, next((name[: -len(s)] for s in OUTPUT_SUFFIXES if name.endswith(s)), name)
    return command, ""


def record(costs: Path, real: str, argv: list[str]) -> int:
    """Run the real command, then append its wall time, peak RSS and exit status as one JSON line."""
    started = time.perf_counter()
    status = subprocess.call([real, *argv])
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    command, subject = job_label(argv)
    line = {
        "command": command,
        "subject": subject,
        "wall_s": round(seconds, 2),
        "peak_rss_gb": round(peak_kib / 2**20, 3),
        "status": status,
        "finished": time.time(),
    }
    with open(costs, "a") as handle:  # one short write per line: concurrent jobs do not interleave
        handle.write(json.dumps(line) + "\n")
    return status


def write_shim(directory: Path, costs: Path, real: str | None = None) -> Path:
    """DIR/grokstudy, which records every call into COSTS and then exits as the real command did."""
    real = real or shutil.which("grokstudy")
    if real is None:
        raise FileNotFoundError("no `grokstudy` on PATH to wrap")
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "grokstudy"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" record "{costs}" "{real}" "$@"\n')
    shim.chmod(0o755)
    return shim


def read_costs(costs: Path) -> list[dict]:
    return [json.loads(line) for line in Path(costs).read_text().splitlines() if line.strip()]


def markdown_table(rows: list[dict]) -> str:
    lines = ["| job | subject | wall s | peak RSS GB |", "|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: r["finished"]):
        lines.append(f"| {row['command']} | {row['subject']} | {row['wall_s']:.1f} | {row['peak_rss_gb']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    mode, *rest = argv
    if mode == "record":
        costs, real, *command = rest
        return record(Path(costs), real, command)
    if mode == "shim":
        directory, costs = rest
        print(write_shim(Path(directory), Path(os.path.abspath(costs))))
        return 0
    if mode == "table":
        print(markdown_table(read_costs(Path(rest[0]))))
        return 0
    raise SystemExit(f"unknown mode {mode!r}; use shim, record or table")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
