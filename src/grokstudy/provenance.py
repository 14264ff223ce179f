"""What produced an artifact: package versions, seeds and the code revision."""

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from grokstudy.errors import CorruptArtifactError

PACKAGES = ("grokstudy", "torch", "transformers", "tokenizers", "safetensors", "numpy", "pandas", "pyarrow")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def fingerprint(*parts) -> str:
    """A stable hash of JSON-serialisable parts, for telling configurations apart."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_hash(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in blocks (checkpoints are too large to read at once)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    return file_hash(path, "sha256")


# sha256 of files already verified by this process, by identity and size and mtime: each job
# hashes a file once however often it reads it, and hashes it again if it changes.
_VERIFIED: dict[tuple, str] = {}


def _identity(path: Path) -> tuple:
    stat = path.stat()
    return str(path.resolve()), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def verify_sha256(path: Path, expected: str | None, recorded_in: Path, way_out: str) -> str:
    """The sha256 of `path`, once it equals `expected` (recorded in `recorded_in` by the step that wrote it).

    Raises CorruptArtifactError naming both hashes and `way_out` (how to get a good copy back).
    """
    path = Path(path)
    if not isinstance(expected, str) or not expected:
        why = "it records no sha256 for this file (an older version wrote it, or the record is damaged)"
        raise CorruptArtifactError.unrecorded(path, recorded_in, why, way_out)
    if not path.is_file():
        raise CorruptArtifactError.unrecorded(path, recorded_in, "the file is missing", way_out)
    key = _identity(path)
    actual = _VERIFIED.get(key) or file_sha256(path)
    if actual != expected:
        raise CorruptArtifactError.mismatch(path, expected, actual, recorded_in, way_out)
    _VERIFIED[key] = actual
    return actual


def read_record(path: Path, way_out: str) -> dict:
    """A JSON record a step wrote (manifest, run summary, table sidecar); unreadable ones are named as corrupt."""
    path = Path(path)
    if not path.is_file():
        raise CorruptArtifactError(f"{path} is missing; {way_out}")
    try:
        record = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptArtifactError(f"{path} is corrupt: it is not valid JSON ({error}); {way_out}") from None
    if not isinstance(record, dict):
        raise CorruptArtifactError(f"{path} is corrupt: it holds no JSON object; {way_out}")
    return record


def write_json(path: Path, payload: dict) -> None:
    """Write JSON atomically so an interrupted job never leaves half a manifest."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(path)
