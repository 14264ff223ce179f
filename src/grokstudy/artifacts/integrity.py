"""Check restored files and DVC cache objects against the hashes the committed pointers record."""

import json
from pathlib import Path

import yaml

from grokstudy import provenance


def _md5(path: Path) -> str:
    return provenance.file_hash(path, "md5")  # DVC addresses its cache by md5


def _object(cache: Path, md5: str) -> Path:
    return cache / "files" / "md5" / md5[:2] / md5[2:]


def tracked_files(pointer: Path, cache: Path) -> list[tuple[Path, Path, str]]:
    """(workspace path, cache object, md5) for every file a directory pointer records.

    Returns [] when the directory listing itself is not in the cache (nothing pulled yet).
    """
    out = yaml.safe_load(pointer.read_text())["outs"][0]
    directory = pointer.with_name(out["path"])
    md5 = out["md5"]
    if not md5.endswith(".dir"):
        return [(directory, _object(cache, md5), md5)]
    listing = _object(cache, md5)
    if not listing.exists():
        return []
    return [(directory / e["relpath"], _object(cache, e["md5"]), e["md5"]) for e in json.loads(listing.read_text())]


def corrupt_cache_objects(pointers, cache: Path) -> list[tuple[Path, Path]]:
    """Cache objects whose content no longer matches their hash: (workspace path, object)."""
    return [(path, obj) for p in pointers for path, obj, md5 in tracked_files(p, cache)
            if obj.exists() and _md5(obj) != md5]


def workspace_mismatches(pointers, cache: Path) -> list[Path]:
    """Restored files that are missing or differ from what the pointers record."""
    return [path for p in pointers for path, _, md5 in tracked_files(p, cache)
            if not path.exists() or _md5(path) != md5]


def discard(obj: Path) -> None:
    """Remove a cache object (DVC stores them read-only)."""
    obj.chmod(0o644)
    obj.unlink()


def missing_cache_objects(pointers, cache: Path) -> list[Path]:
    """Tracked paths whose content is not in the cache (a whole directory when its listing is missing)."""
    missing = []
    for pointer in pointers:
        out = yaml.safe_load(pointer.read_text())["outs"][0]
        if not _object(cache, out["md5"]).exists():
            missing.append(pointer.with_name(out["path"]))
            continue
        missing += [path for path, obj, _ in tracked_files(pointer, cache) if not obj.exists()]
    return missing
