"""The frozen detector file: a tuning record written once, read by its hash. Light enough for the
preset check to verify the hash before any job runs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from grokstudy.provenance import read_record

FORMAT_VERSION = 1


def canonical(record: dict) -> str:
    return json.dumps(record, sort_keys=True, indent=1) + "\n"


def record_hash(record: dict) -> str:
    return hashlib.sha256(canonical(record).encode()).hexdigest()


def write_frozen(record: dict, path: Path) -> str:
    """Write a tuning record as the frozen detector file; returns the hash the preset records."""
    Path(path).write_text(canonical(record))
    return record_hash(record)


def read_frozen(path: Path, expected_sha256: str) -> dict:
    """The frozen detectors, once their hash equals the one the preset recorded."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; allowed: a detector file written by grokstudy monitor-freeze")
    record = read_record(path, "freeze the development runs' tuning again with grokstudy monitor-freeze")
    actual = record_hash(record)
    if actual != expected_sha256:
        raise ValueError(
            f"{path} hashes to {actual}, the preset froze {expected_sha256}; detectors change only with a "
            "new freeze from the development runs, before any held-out run is read"
        )
    if record.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format version {record.get('version')!r}; allowed: {FORMAT_VERSION}")
    return record
