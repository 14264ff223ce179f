"""Ask Snakemake what it would run, and bring its records in line with restored files."""

import subprocess
import sys
from pathlib import Path

from grokstudy.errors import ArtifactError


def _snakemake(root: Path, configfile: str, *args: str, targets=()) -> subprocess.CompletedProcess:
    # Targets go first: --configfile takes several values and would swallow them.
    command = [sys.executable, "-m", "snakemake", *targets, "--configfile", configfile, *args]
    return subprocess.run(command, cwd=root, capture_output=True, text=True)


def parse_job_stats(output: str) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run ({} when nothing is to be done)."""
    lines = output.splitlines()
    try:
        start = lines.index("Job stats:")
    except ValueError:
        return {}
    jobs = {}
    for line in lines[start + 1:]:
        fields = line.split()
        if not fields or fields[0] == "total":
            break
        if len(fields) == 2 and fields[1].isdigit():
            jobs[fields[0]] = int(fields[1])
    return jobs


def pending_jobs(root: Path, configfile: str) -> dict[str, int]:
    """The jobs a plain `snakemake` would run now, by rule."""
    result = _snakemake(root, configfile, "--dry-run")
    text = result.stdout + result.stderr
    if result.returncode != 0:
        raise ArtifactError(f"Snakemake could not plan the workflow:\n{text[-2000:]}")
    if "Nothing to be done" in text:
        return {}
    jobs = parse_job_stats(text)
    if not jobs:
        raise ArtifactError(f"could not read Snakemake's plan:\n{text[-2000:]}")
    return jobs


def mark_up_to_date(root: Path, configfile: str, target: str) -> None:
    """Record every job behind `target` as run on the files now on disk, without running anything.

    --forceall makes Snakemake write metadata for every job, so a later change to a rule's
    parameters or code is still noticed (a plain --touch leaves untouched rules without records).
    """
    result = _snakemake(root, configfile, "--touch", "--forceall", "--cores", "1", targets=[target])
    if result.returncode != 0:
        raise ArtifactError(f"Snakemake could not mark the restored files as up to date:\n{(result.stdout + result.stderr)[-2000:]}")
