"""Where sealed objects come from when a reader restores: a published DVC remote tree (a directory
or an http(s) URL that keeps paths) or a tarball of one.

DVC's HTTP remote neither hashes what it downloads nor says why an object is missing, so restore
fetches published trees itself: every object is checked against the md5 the committed pointers
record (a `.dir` listing before any file it lists is trusted) and written to the DVC cache only
then; a failure names the URL and its cause. Nothing here touches results/.
"""

import hashlib
import shutil
import socket
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from grokstudy.artifacts import integrity
from grokstudy.errors import ArtifactError

TIMEOUT_SECONDS = 30
TARBALL_SUFFIXES = (".tar.gz", ".tgz")


class SourceError(Exception):
    """One object could not be had from a source; `cause` says why, in words a reader can act on."""

    def __init__(self, location: str, cause: str):
        super().__init__(f"{location}: {cause}")
        self.location, self.cause = location, cause


class TreeSource:
    """A DVC 3.x remote tree (files/md5/xx/yyyy), in a directory or behind an http(s) URL."""

    def __init__(self, location: str):
        self.location = location.rstrip("/")
        self.remote = location.startswith(("http://", "https://"))

    def describe(self) -> str:
        return self.location

    def url(self, md5: str) -> str:
        return f"{self.location}/{integrity.object_key(md5)}"

    def read(self, md5: str) -> bytes:
        where = self.url(md5)
        if not self.remote:
            try:
                return Path(where).read_bytes()
            except FileNotFoundError:
                raise SourceError(where, "not found") from None
            except OSError as error:
                raise SourceError(where, f"unreadable ({error.strerror})") from None
        try:
            with urllib.request.urlopen(where, timeout=TIMEOUT_SECONDS) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            kind = "not found" if error.code in (403, 404, 410) else "server error"
            raise SourceError(where, f"{kind} (HTTP {error.code})") from None
        except urllib.error.URLError as error:
            raise SourceError(where, _network_cause(error.reason)) from None
        except TimeoutError:
            raise SourceError(where, f"timed out after {TIMEOUT_SECONDS} s") from None


def _network_cause(reason) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the server up?)"
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"timed out after {TIMEOUT_SECONDS} s"
    if isinstance(reason, socket.gaierror):
        return f"host not found ({reason})"
    return f"unreachable ({reason})"


def _fetch_object(source: TreeSource, md5: str, cache: Path) -> int:
    """Copy one object into the cache once its bytes have the recorded md5; returns its size."""
    target = cache / integrity.object_key(md5)
    if target.exists() and integrity.md5_of(target) == md5.removesuffix(".dir"):
        return target.stat().st_size
    data = source.read(md5)
    actual = hashlib.md5(data).hexdigest()
    if actual != md5.removesuffix(".dir"):
        raise SourceError(source.url(md5), f"corrupt: its md5 is {actual}, the committed pointers record {md5}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(data)
    partial.replace(target)
    return len(data)


def fetch(source: TreeSource, pointers, cache: Path, log=print) -> int:
    """Every object the pointers need, into the cache, each checked; raises ArtifactError naming each
    failure's URL and cause (verified objects that did arrive stay in the cache, where they do no harm).
    Returns the bytes fetched."""
    listings = [integrity.pointer_md5(p) for p in pointers]
    failures: list[SourceError] = []
    total = 0
    for md5 in listings:
        try:
            total += _fetch_object(source, md5, cache)
        except SourceError as error:
            failures.append(error)
    files = [m for listing in listings for m in integrity.listed_md5s(cache, listing)]
    for md5 in tqdm(files, desc=f"restore from {source.describe()}", unit="object", mininterval=2):
        try:
            total += _fetch_object(source, md5, cache)
        except SourceError as error:
            failures.append(error)
    if failures:
        causes = sorted({f.cause.split(":")[0] for f in failures})
        listed = "\n".join(f"    {f.location}: {f.cause}" for f in failures[:10])
        more = f"\n    ... and {len(failures) - 10} more" if len(failures) > 10 else ""
        raise ArtifactError(
            f"could not restore from {source.describe()} ({'; '.join(causes)}), {len(failures)} objects:\n"
            f"{listed}{more}\nNothing in results/ or in Snakemake's records changed."
        )
    log(f"restore: {len(files) + len(listings)} objects, {total / 1e6:.1f} MB, all checked against their md5")
    return total


def download(url: str, target: Path) -> Path:
    """A file from a URL or a local path, to `target` (atomically), with a progress bar."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    if not url.startswith(("http://", "https://")):
        shutil.copyfile(url, partial)
        return partial.replace(target)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response, open(partial, "wb") as out:
            size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=size, desc=f"download {Path(url).name}", unit="B", unit_scale=True, mininterval=2) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as error:
        kind = "not found" if error.code in (403, 404, 410) else "server error"
        raise ArtifactError(f"could not download {url}: {kind} (HTTP {error.code}). Nothing changed.") from None
    except urllib.error.URLError as error:
        raise ArtifactError(f"could not download {url}: {_network_cause(error.reason)}. Nothing changed.") from None
    return partial.replace(target)


def read_text(url: str) -> str:
    """A small text file from a URL or a path."""
    if not url.startswith(("http://", "https://")):
        try:
            return Path(url).read_text()
        except OSError as error:
            raise ArtifactError(f"cannot read {url}: {error.strerror}") from None
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return response.read().decode()
    except (urllib.error.URLError, TimeoutError, UnicodeDecodeError) as error:
        raise ArtifactError(f"cannot read {url}: {error}") from None


def unpack_tarball(tarball: Path, expected_sha256: str | None, into: Path) -> TreeSource:
    """Check a published tarball's sha256, then unpack its remote tree (regular files under files/md5/
    only, nothing outside `into`)."""
    if expected_sha256 is None:
        raise ArtifactError(f"no sha256 is recorded for {tarball.name}; refusing to unpack an unchecked tarball")
    actual = integrity.sha256_of(tarball)
    if actual != expected_sha256:
        raise ArtifactError(
            f"{tarball.name} is corrupt: its sha256 is {actual}, the published record says {expected_sha256}."
            " Nothing was unpacked; nothing in results/ or in Snakemake's records changed."
        )
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive.getmembers():
            parts = Path(member.name).parts
            if not member.isfile() or parts[:2] != ("files", "md5") or ".." in parts or Path(member.name).is_absolute():
                continue
            archive.extract(member, into, filter="data")
    return TreeSource(str(into))


def is_tarball(location: str) -> bool:
    return location.endswith(TARBALL_SUFFIXES)
