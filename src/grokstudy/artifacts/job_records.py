"""What each job of the workflow ran with: its recorded params (code digest and settings).

Every rule declares the params that decide its numbers through `JobParams.wrap`. Snakemake records
those params as it runs a job, and reruns the job when they change. This module keeps a copy of
them that the study owns, keyed by rule and wildcards:

- a seal writes the record of every job (`results/<preset>/jobs.json`, committed with the pointers),
  with the commit it was made at and, per code digest, the hash of every module behind it;
- a restore replays that record: with `REPLAY_ENV` naming it, `snakemake --touch` records the sealed
  params for the restored files instead of today's, so a later dry run plans exactly the jobs whose
  code or settings differ between the seal and the checkout (and what depends on them);
- every successful run merges the params of the jobs it covered into the local record, so that
  `grokstudy why` can say what changed since the files on disk were made.

With `RECORD_ENV` naming a file, every evaluation of a job's params is also written there: a dry run
with --forceall evaluates every job's, which is how seal and `why` read the checkout's.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path

from grokstudy import code_digest

RECORD_ENV = "GROKSTUDY_RECORD_JOBS"
REPLAY_ENV = "GROKSTUDY_REPLAY_JOBS"
SEALED_RECORD = "jobs.json"
FORMAT_VERSION = 1
# A param that the replayed record does not hold: a value no job can have, so the job reruns.
NOT_RECORDED = "<not recorded at the seal>"


def local_record(preset: str) -> Path:
    """The record of what the files of a preset on disk were made with, kept beside Snakemake's own."""
    return Path(".snakemake") / "grokstudy" / f"{preset}.jobs.json"


def job_key(rule: str, wildcards: dict) -> str:
    """A job's name: its rule and its wildcards, sorted (`train[run=comp_s0]`)."""
    return f"{rule}[{','.join(f'{name}={wildcards[name]}' for name in sorted(wildcards))}]"


def module_hashes(entries, root: Path) -> dict[str, str]:
    """Each module a job's code digest covers, with the hash of its normalized syntax tree."""
    hashes = {}
    for module in code_digest.closure(entries, root):
        source = code_digest.normalized_source(code_digest.module_file(module, root))
        hashes[module] = hashlib.sha256(source.encode()).hexdigest()[:16]
    return hashes


@dataclass
class Record:
    """Jobs by key ({"rule", "wildcards", "params"}), and the modules behind each code digest."""

    jobs: dict[str, dict] = field(default_factory=dict)
    code: dict[str, dict[str, str]] = field(default_factory=dict)
    commit: str | None = None

    def to_json(self) -> dict:
        return {"format": FORMAT_VERSION, "commit": self.commit, "jobs": self.jobs, "code": self.code}

    @classmethod
    def from_json(cls, data: dict) -> Record:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"job record format {data.get('format')!r}; this code reads format {FORMAT_VERSION}")
        return cls(jobs=data["jobs"], code=data["code"], commit=data.get("commit"))

    def merged(self, newer: Record) -> Record:
        """This record with the jobs (and code digests) of `newer` replacing or adding theirs."""
        return Record({**self.jobs, **newer.jobs}, {**self.code, **newer.code}, newer.commit or self.commit)

    def note(self, rule: str, wildcards: dict, name: str, value) -> None:
        job = self.jobs.setdefault(job_key(rule, wildcards), {"rule": rule, "wildcards": wildcards, "params": {}})
        job["params"][name] = value


def read(path: Path) -> Record:
    return Record.from_json(json.loads(Path(path).read_text()))


def write(record: Record, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(json.dumps(record.to_json(), indent=1, sort_keys=True) + "\n")
    scratch.replace(path)


def read_evaluations(path: Path) -> Record:
    """The record that a Snakemake call with `RECORD_ENV` wrote (one JSON line per evaluation)."""
    record = Record()
    for line in Path(path).read_text().splitlines():
        entry = json.loads(line)
        if "digest" in entry:
            record.code[entry["digest"]] = entry["modules"]
        else:
            record.note(entry["rule"], entry["wildcards"], entry["param"], entry["value"])
    return record


class JobParams:
    """The Snakefile's side: wraps each rule's recorded params, remembers what they evaluated to."""

    def __init__(self, evaluations: Path | None = None, replay: Record | None = None):
        self.evaluations = Path(evaluations) if evaluations else None
        self.replay = replay
        self.seen = Record()
        self.digests: dict[str, tuple] = {}

    @classmethod
    def from_environment(cls, environ) -> JobParams:
        replay = read(environ[REPLAY_ENV]) if environ.get(REPLAY_ENV) else None
        return cls(environ.get(RECORD_ENV) or None, replay)

    def wrap(self, rule: str, **params) -> dict:
        """The params of `rule`, each a function of the wildcards alone (so Snakemake records it)."""
        return {name: self._evaluated(rule, name, value) for name, value in params.items()}

    def _evaluated(self, rule: str, name: str, value):
        if callable(value) and len(inspect.signature(value).parameters) != 1:
            raise ValueError(f"rule {rule}: recorded param {name} must be a value or a function of the wildcards")

        def evaluate(wildcards):
            current = value(wildcards) if callable(value) else value
            wildcards = dict(wildcards.items())
            if self.replay is not None:
                sealed = self.replay.jobs.get(job_key(rule, wildcards))
                if sealed is not None:
                    current = sealed["params"].get(name, NOT_RECORDED)
            self.seen.note(rule, wildcards, name, current)
            self._append({"rule": rule, "wildcards": wildcards, "param": name, "value": current})
            return current

        return evaluate

    def code(self, digest: str, entries, root: Path) -> str:
        """A code digest (the param named `code` of every rule), remembered with its entry modules."""
        self.digests[digest] = (tuple(entries), Path(root))
        if self.evaluations is not None:
            self._append({"digest": digest, "modules": module_hashes(entries, root)})
        return digest

    def _append(self, entry: dict) -> None:
        if self.evaluations is not None:
            with self.evaluations.open("a") as out:
                out.write(json.dumps(entry, sort_keys=True) + "\n")

    def save_after_run(self, path: Path) -> None:
        """Merge the jobs this (successful) run covered into the local record at `path`.

        After a successful run every job of its DAG either ran with these params or was up to date,
        which Snakemake only grants when its recorded params equal these.
        """
        previous = read(path) if Path(path).is_file() else Record()
        known = {**previous.code, **(self.replay.code if self.replay else {})}
        code = {}
        for job in self.seen.jobs.values():
            digest = job["params"].get("code")
            if digest in self.digests:
                code[digest] = module_hashes(*self.digests[digest])
            elif digest in known:
                code[digest] = known[digest]
        write(previous.merged(Record(self.seen.jobs, code)), path)
