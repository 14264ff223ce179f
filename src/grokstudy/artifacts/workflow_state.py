"""Ask Snakemake what it would run, and bring its records in line with restored files."""

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grokstudy.artifacts import job_records
from grokstudy.errors import ArtifactError


def _snakemake(root: Path, configfile: str, *args: str, targets=(), env=None) -> subprocess.CompletedProcess:
    # Targets go first: --configfile takes several values and would swallow them.
    command = [sys.executable, "-m", "snakemake", *targets, "--configfile", configfile, *args]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, env={**os.environ, **(env or {})})


@dataclass(frozen=True)
class PlannedJob:
    """One job of a dry run's plan: its rule, wildcards, outputs and Snakemake's reason."""

    rule: str
    wildcards: dict
    outputs: tuple[str, ...]
    reason: str

    @property
    def key(self) -> str:
        return job_records.job_key(self.rule, self.wildcards)


def _fields(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_planned_jobs(output: str) -> list[PlannedJob]:
    """The job blocks of a dry run (`rule NAME:` or `localrule NAME:`, then indented `key: value` lines)."""
    jobs, block, rule = [], {}, None
    for line in [*output.splitlines(), ""]:
        header = line.rstrip().removeprefix("local")
        if header.startswith("rule ") and header.endswith(":") and not line.startswith(" "):
            rule, block = header[len("rule ") : -1], {}
        elif rule and line.startswith("    ") and ": " in line:
            key, value = line.strip().split(": ", 1)
            block[key] = value
        elif rule:
            wildcards = dict(item.split("=", 1) for item in _fields(block.get("wildcards", "")))
            outputs = tuple(_fields(block.get("output", "")))
            if outputs:  # a target rule such as `all` makes nothing
                jobs.append(PlannedJob(rule, wildcards, outputs, block.get("reason", "")))
            rule = None
    return jobs


def _recorded_dry_run(root: Path, configfile: str, targets, *flags: str) -> tuple[str, job_records.Record]:
    """A dry run's output, and the params of every job it evaluated (each job's recorded params)."""
    with tempfile.TemporaryDirectory(prefix="grokstudy-jobs-") as scratch:
        evaluations = Path(scratch) / "evaluations.jsonl"
        env = {job_records.RECORD_ENV: str(evaluations)}
        result = _snakemake(root, configfile, "--dry-run", *flags, targets=list(targets), env=env)
        if result.returncode != 0:
            text = result.stdout + result.stderr
            raise ArtifactError(f"Snakemake could not plan the workflow:\n{text[-2000:]}")
        record = job_records.read_evaluations(evaluations) if evaluations.is_file() else job_records.Record()
        return result.stdout, record


def planned_with_params(root: Path, configfile: str, targets=()) -> tuple[list[PlannedJob], job_records.Record]:
    """Every job a plain `snakemake` (for `targets`, default the preset's `all`) would run now, and
    the params the checkout computes for the jobs it looked at, from one dry run."""
    output, record = _recorded_dry_run(root, configfile, targets)
    return parse_planned_jobs(output), record


def planned(root: Path, configfile: str, targets=()) -> list[PlannedJob]:
    return planned_with_params(root, configfile, targets)[0]


def evaluate_jobs(root: Path, configfile: str, targets=()) -> job_records.Record:
    """The recorded params of every job behind `targets`, as the checkout computes them now."""
    record = _recorded_dry_run(root, configfile, targets, "--forceall", "--quiet")[1]
    if not record.jobs:
        raise ArtifactError(f"Snakemake evaluated no job's params for {configfile}; the rules declare none")
    return record


def parse_job_stats(output: str) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run ({} when nothing is to be done)."""
    lines = output.splitlines()
    try:
        start = lines.index("Job stats:")
    except ValueError:
        return {}
    jobs = {}
    for line in lines[start + 1 :]:
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


LOCKS = Path(".snakemake") / "locks"


def _lock_held(root: Path, configfile: str) -> str:
    return (
        f"Snakemake's lock on {root} is held: a Snakemake run is going on here, or one was killed and left its"
        f" lock in {LOCKS}. If none is running, remove the lock with"
        f" `snakemake --unlock --configfile {configfile}`, then run this command again (docs/recovery.md)."
    )


def refuse_held_lock(root: Path, configfile: str) -> None:
    """Refuse before anything changes while Snakemake's lock files exist (a run, or a killed run's leftovers)."""
    locks = root / LOCKS
    if locks.is_dir() and any(locks.glob("*.lock")):
        raise ArtifactError(_lock_held(root, configfile) + " Nothing was changed.")


def mark_up_to_date(root: Path, configfile: str, targets, sealed: Path) -> None:
    """Record every job behind `targets` as run on the files now on disk, with the params (code
    digest and settings) that the seal's job record `sealed` holds, without running anything.

    --forceall makes Snakemake write metadata for every job, so a later change to a rule's
    parameters or code is still noticed (a plain --touch leaves untouched rules without records).
    """
    env = {job_records.REPLAY_ENV: str(sealed)}
    result = _snakemake(root, configfile, "--touch", "--forceall", "--cores", "1", targets=list(targets), env=env)
    text = result.stdout + result.stderr
    if result.returncode == 0:
        return
    if "LockException" in text or "cannot be locked" in text:
        raise ArtifactError(_lock_held(root, configfile))
    raise ArtifactError(f"Snakemake could not mark the restored files as up to date:\n{text[-2000:]}")


@dataclass(frozen=True)
class OutputRecord:
    """One output file of a job in the workflow, as `snakemake --detailed-summary` reports it."""

    path: str
    rule: str
    status: str  # "ok", "missing", or why Snakemake would rerun its job
    recorded: bool  # whether Snakemake's metadata holds a record of the job that wrote it

    @property
    def problem(self) -> str | None:
        if self.status != "ok":
            return self.status
        return None if self.recorded else "no record in Snakemake's metadata"


def parse_detailed_summary(output: str) -> list[OutputRecord]:
    """The rows of `snakemake --detailed-summary` (columns: output_file, date, rule, log-file(s),
    input-file(s), shellcmd, status, plan; log and input are '-' when the file has no record)."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("output_file\t")), None)
    if start is None:
        return []
    rows = []
    for line in lines[start + 1 :]:
        fields = line.split("\t")
        if len(fields) < 8:
            continue
        recorded = not (fields[3] == "-" and fields[4] == "-")
        rows.append(OutputRecord(path=fields[0], rule=fields[2], status=fields[-2], recorded=recorded))
    return rows


def output_records(root: Path, configfile: str, targets) -> list[OutputRecord]:
    """Every output file of every job behind `targets`, present or not, with Snakemake's view of it.

    A dry run is not enough: it plans nothing for a missing output that no target needs again
    (after a failed rerun, Snakemake deletes the outputs of the failed job).
    """
    result = _snakemake(root, configfile, "--detailed-summary", targets=list(targets))
    text = result.stdout + result.stderr
    rows = parse_detailed_summary(result.stdout)
    if result.returncode != 0 or not rows:
        raise ArtifactError(f"could not read Snakemake's summary of the workflow:\n{text[-2000:]}")
    return rows
