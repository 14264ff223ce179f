"""Fetching published objects: each checked against its md5 before the cache takes it, failures
named with their URL and cause; tarballs byte-reproducible and checked before unpacking."""

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from grokstudy.artifacts import integrity, publish, sources
from grokstudy.errors import ArtifactError


def _put(tree: Path, data: bytes, suffix: str = "") -> str:
    md5 = hashlib.md5(data).hexdigest() + suffix
    path = tree / integrity.object_key(md5)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return md5


@pytest.fixture
def published(tmp_path) -> dict:
    """A remote tree with one directory (two files and its listing) and the pointer that records it."""
    tree = tmp_path / "remote"
    files = {"a.txt": b"alpha\n", "b/c.bin": bytes(range(256))}
    entries = [{"md5": _put(tree, data), "relpath": rel} for rel, data in files.items()]
    listing = _put(tree, json.dumps(entries).encode(), ".dir")
    pointer = tmp_path / "repo" / "results" / "p" / "figures.dvc"
    pointer.parent.mkdir(parents=True)
    pointer.write_text(yaml.safe_dump({"outs": [{"md5": listing, "path": "figures", "hash": "md5"}]}))
    return {"tree": tree, "pointer": pointer, "listing": listing, "entries": entries}


def test_every_object_arrives_checked(published, tmp_path):
    cache = tmp_path / "cache"
    fetched = sources.fetch(
        sources.TreeSource(str(published["tree"])), [published["pointer"]], cache, log=lambda m: None
    )
    assert fetched == sum(p.stat().st_size for p in published["tree"].rglob("*") if p.is_file())
    for md5 in [published["listing"], *(e["md5"] for e in published["entries"])]:
        assert (cache / integrity.object_key(md5)).read_bytes() == (
            published["tree"] / integrity.object_key(md5)
        ).read_bytes()


def test_a_corrupt_object_never_enters_the_cache_and_is_named(published, tmp_path):
    damaged = published["tree"] / integrity.object_key(published["entries"][1]["md5"])
    damaged.write_bytes(b"not the bytes")
    cache = tmp_path / "cache"
    with pytest.raises(ArtifactError) as caught:
        sources.fetch(sources.TreeSource(str(published["tree"])), [published["pointer"]], cache, log=lambda m: None)
    message = str(caught.value)
    assert f"{damaged}: corrupt: its md5 is {hashlib.md5(b'not the bytes').hexdigest()}" in message
    assert not (cache / integrity.object_key(published["entries"][1]["md5"])).exists()


def test_a_missing_listing_is_named_and_nothing_it_lists_is_trusted(published, tmp_path):
    (published["tree"] / integrity.object_key(published["listing"])).unlink()
    with pytest.raises(ArtifactError, match=r"figures|not found") as caught:
        sources.fetch(sources.TreeSource(str(published["tree"])), [published["pointer"]], tmp_path / "c", log=print)
    assert "1 objects" in str(caught.value) and "not found" in str(caught.value)


def test_tarballs_are_byte_reproducible_and_checked_before_unpacking(published, tmp_path):
    keys = [str(p.relative_to(published["tree"])) for p in published["tree"].rglob("*") if p.is_file()]
    first = publish.write_tarball(keys, published["tree"], tmp_path / "one.tar.gz")
    second = publish.write_tarball(list(reversed(keys)), published["tree"], tmp_path / "two.tar.gz")
    assert first == second and (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
    assert (tmp_path / "one.tar.gz.sha256").read_text() == f"{first}  one.tar.gz\n"
    with pytest.raises(ArtifactError, match=r"one\.tar\.gz is corrupt: its sha256 is"):
        sources.unpack_tarball(tmp_path / "one.tar.gz", "0" * 64, tmp_path / "unpacked")
    assert not (tmp_path / "unpacked").exists()
    with pytest.raises(ArtifactError, match="no sha256 is recorded"):
        sources.unpack_tarball(tmp_path / "one.tar.gz", None, tmp_path / "unpacked")
    unpacked = sources.unpack_tarball(tmp_path / "one.tar.gz", first, tmp_path / "unpacked")
    cache = tmp_path / "cache"
    sources.fetch(unpacked, [published["pointer"]], cache, log=lambda m: None)
    assert (cache / integrity.object_key(published["listing"])).exists()


def test_a_network_failure_says_what_happened():
    refused = ConnectionRefusedError()
    assert "connection refused" in sources._network_cause(refused)
    assert "timed out" in sources._network_cause(TimeoutError())
