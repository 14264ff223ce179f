"""Check restored files and DVC cache objects against the hashes the committed pointers record."""

import json
from pathlib import Path

import yaml

from grokstudy import provenance

DIR_SUFFIX = ".dir"  # DVC names a directory's listing object by the md5 of the listing plus this


def _md5(path: Path) -> str:
    return provenance.file_hash(path, "md5")  # DVC addresses its cache by md5


def object_key(md5: str) -> str:
    """Where DVC keeps an object, relative to a cache or a remote."""
    return f"files/md5/{md5[:2]}/{md5[2:]}"


def md5_of(path: Path) -> str:
    return _md5(path)


def sha256_of(path: Path) -> str:
    return provenance.file_sha256(path)


def pointer_md5(pointer: Path) -> str:
    """The md5 a pointer records: of its file, or of its directory's listing (ending in .dir)."""
    return _out(pointer)["md5"]


def listed_md5s(cache: Path, md5: str) -> list[str]:
    """The md5 of every file a directory listing in the cache names ([] for a file's own md5, or a
    listing that is not in the cache or does not match its md5)."""
    listing = _object(cache, md5)
    if not md5.endswith(DIR_SUFFIX) or not listing.exists() or not _listing_intact(listing, md5):
        return []
    return [entry["md5"] for entry in json.loads(listing.read_text())]


def _object(cache: Path, md5: str) -> Path:
    return cache / object_key(md5)


def _out(pointer: Path) -> dict:
    return yaml.safe_load(pointer.read_text())["outs"][0]


def _listing_intact(listing: Path, md5: str) -> bool:
    return _md5(listing) == md5.removesuffix(DIR_SUFFIX)


def tracked_files(pointer: Path, cache: Path) -> list[tuple[Path, Path, str]]:
    """(workspace path, cache object, md5) for every file a directory pointer records.

    Returns [] when the directory listing itself is not in the cache (nothing pulled yet).
    """
    out = _out(pointer)
    directory = pointer.with_name(out["path"])
    md5 = out["md5"]
    if not md5.endswith(DIR_SUFFIX):
        return [(directory, _object(cache, md5), md5)]
    listing = _object(cache, md5)
    if not listing.exists():
        return []
    return [(directory / e["relpath"], _object(cache, e["md5"]), e["md5"]) for e in json.loads(listing.read_text())]


def corrupt_cache_objects(pointers, cache: Path, skip=frozenset()) -> list[tuple[Path, Path]]:
    """Cache objects whose content no longer matches their hash: (workspace path, object).

    A damaged directory listing is reported for the whole directory (its entries cannot be
    trusted). Objects in `skip` (already found intact) are not hashed again.
    """
    corrupt = []
    for pointer in pointers:
        out = _out(pointer)
        listing = _object(cache, out["md5"])
        is_listing = out["md5"].endswith(DIR_SUFFIX) and listing.exists() and listing not in skip
        if is_listing and not _listing_intact(listing, out["md5"]):
            corrupt.append((pointer.with_name(out["path"]), listing))
            continue
        corrupt += [
            (path, obj)
            for path, obj, md5 in tracked_files(pointer, cache)
            if obj.exists() and obj not in skip and _md5(obj) != md5
        ]
    return corrupt


def present_objects(pointers, cache: Path) -> set[Path]:
    """The cache objects (listings included) that the pointers need and the cache holds."""
    present = set()
    for pointer in pointers:
        listing = _object(cache, _out(pointer)["md5"])
        present |= {listing} if listing.exists() else set()
        present |= {obj for _, obj, _ in tracked_files(pointer, cache) if obj.exists()}
    return present


def remote_objects(pointers, corrupt, cache: Path, url: str) -> list[str]:
    """The remote objects to delete before a corrupt object can be pushed again: the object itself, and
    the listing of its directory (DVC takes a directory whose listing the remote has as fully pushed)."""
    keys = []
    for pointer in pointers:
        out = _out(pointer)
        listing, tracked = _object(cache, out["md5"]), pointer.with_name(out["path"])
        inside = [obj for path, obj in corrupt if path == tracked or tracked in path.parents]
        keys += [str(obj.relative_to(cache)) for obj in inside if obj != listing]
        if inside and out["md5"].endswith(DIR_SUFFIX):
            keys.append(object_key(out["md5"]))
    return [f"{url.rstrip('/')}/{key}" for key in dict.fromkeys(keys)]


def workspace_mismatches(pointers, cache: Path) -> list[Path]:
    """Restored files that are missing or differ from what the pointers record."""
    return [
        path for p in pointers for path, _, md5 in tracked_files(p, cache) if not path.exists() or _md5(path) != md5
    ]


def discard(obj: Path) -> None:
    """Remove a cache object (DVC stores them read-only)."""
    obj.chmod(0o644)
    obj.unlink()


def missing_cache_objects(pointers, cache: Path) -> list[Path]:
    """Tracked paths whose content is not in the cache (a whole directory when its listing is missing)."""
    missing = []
    for pointer in pointers:
        out = _out(pointer)
        if not _object(cache, out["md5"]).exists():
            missing.append(pointer.with_name(out["path"]))
            continue
        missing += [path for path, obj, _ in tracked_files(pointer, cache) if not obj.exists()]
    return missing
