"""`grokstudy why`: for every job Snakemake would run, what changed since the files on disk were made.

The recorded side is the local job record (written by every successful run and by a restore), or
else the seal's; the current side is the checkout's params, evaluated by a dry run. Snakemake's own
reason is kept beside them: it is what decides, this only explains.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from grokstudy.artifacts import job_records, workflow_state

CODE_PARAM = "code"
# Snakemake's reasons, by how they start, in the words of the summary.
SNAKEMAKE_REASONS = (
    ("Missing output files", "missing output"),
    ("Params have changed", "params"),
    ("Code has changed", "rule code"),
    ("Set of input files has changed", "inputs"),
    ("Input files updated by another job", "upstream"),
    ("Updated input files", "changed input"),
    ("Forced execution", "forced"),
    ("Incomplete output files", "incomplete output"),
)


@dataclass
class Explanation:
    job: workflow_state.PlannedJob
    recorded: bool = False
    code: tuple[str, str] | None = None
    modules: list[tuple[str, str]] = field(default_factory=list)  # (module, "changed" | "added" | "removed")
    settings: list[tuple[str, object, object]] = field(default_factory=list)  # (key, recorded, current)

    @property
    def cause(self) -> str:
        """One word for summaries: what of the job itself changed, else why Snakemake runs it."""
        if self.code or self.modules:
            return "code"
        if self.settings:
            return "settings"
        for start, cause in SNAKEMAKE_REASONS:
            if self.job.reason.startswith(start):
                return cause
        return "other"


def _flat(value, prefix: str = "") -> dict:
    """A param as dotted keys: JSON text is read as its object, nested objects are spelled out."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict | list):
            value = decoded
    if isinstance(value, dict):
        flat = {}
        for key, item in value.items():
            flat.update(_flat(item, f"{prefix}.{key}" if prefix else key))
        return flat
    return {prefix: value}


def settings_changes(recorded: dict, current: dict) -> list[tuple[str, object, object]]:
    """Every param key (code aside) whose value differs, as (key, recorded, current); absent is None."""
    old = _flat({k: v for k, v in recorded.items() if k != CODE_PARAM})
    new = _flat({k: v for k, v in current.items() if k != CODE_PARAM})
    keys = sorted(old.keys() | new.keys())
    return [(key, old.get(key), new.get(key)) for key in keys if old.get(key) != new.get(key)]


def module_changes(recorded: dict[str, str], current: dict[str, str]) -> list[tuple[str, str]]:
    """Modules whose normalized syntax tree differs between two code digests, or that only one covers."""
    changes = []
    for module in sorted(recorded.keys() | current.keys()):
        if module not in current:
            changes.append((module, "removed"))
        elif module not in recorded:
            changes.append((module, "added"))
        elif recorded[module] != current[module]:
            changes.append((module, "changed"))
    return changes


def recorded_state(root: Path, results: Path) -> job_records.Record | None:
    """What the files on disk were made with: the local record, else the seal's, else None."""
    for path in (root / job_records.local_record(results.name), results / job_records.SEALED_RECORD):
        if path.is_file():
            return job_records.read(path)
    return None


def explain_jobs(jobs, recorded: job_records.Record | None, current: job_records.Record) -> list[Explanation]:
    explanations = []
    for job in jobs:
        explanation = Explanation(job)
        old = recorded.jobs.get(job.key) if recorded else None
        new = current.jobs.get(job.key)
        if old is not None and new is not None:
            explanation.recorded = True
            old_code, new_code = old["params"].get(CODE_PARAM), new["params"].get(CODE_PARAM)
            if old_code != new_code:
                explanation.code = (old_code, new_code)
                explanation.modules = module_changes(recorded.code.get(old_code, {}), current.code.get(new_code, {}))
            explanation.settings = settings_changes(old["params"], new["params"])
        explanations.append(explanation)
    return explanations


def explain(root: Path, configfile: str, results: Path, targets=()) -> list[Explanation]:
    """Why each job of a plain `snakemake` (for `targets`) would run."""
    jobs, current = workflow_state.planned_with_params(root, configfile, targets)
    if not jobs:
        return []
    if any(job.key not in current.jobs for job in jobs):  # a plan need not evaluate every job's params
        current = workflow_state.evaluate_jobs(root, configfile, targets)
    return explain_jobs(jobs, recorded_state(root, results), current)


def _short(value, width: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 3] + "..."


def describe(explanation: Explanation) -> list[str]:
    job = explanation.job
    lines = [f"{job.key}", f"    snakemake: {_short(job.reason or '(no reason given)', 160)}"]
    if not explanation.recorded:
        lines.append("    no record of what made its files: it has not run here, and no seal or restore recorded it")
    if explanation.code:
        old, new = explanation.code
        lines.append(f"    code {old} -> {new}")
        lines += [f"        {change:<8} {module}" for module, change in explanation.modules]
    lines += [f"    setting {key}: {_short(old)} -> {_short(new)}" for key, old, new in explanation.settings]
    return lines


def summary(explanations: list[Explanation]) -> str:
    """How many jobs would rerun, by cause (one line)."""
    if not explanations:
        return "0 jobs would rerun"
    counts: dict[str, int] = {}
    for explanation in explanations:
        counts[explanation.cause] = counts.get(explanation.cause, 0) + 1
    causes = ", ".join(f"{n} {cause}" for cause, n in sorted(counts.items(), key=lambda item: -item[1]))
    return f"{len(explanations)} jobs would rerun ({causes})"


def report(explanations: list[Explanation]) -> str:
    if not explanations:
        return "Nothing to rerun: every job's code, settings and inputs are as recorded."
    return "\n".join([line for e in explanations for line in describe(e)] + ["", summary(explanations)])
