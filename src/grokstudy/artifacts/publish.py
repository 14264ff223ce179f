"""`grokstudy publish`: a sealed preset as files anyone can serve read-only.

It writes, under the chosen directory:
- `remote/`, a DVC 3.x remote tree holding exactly the objects of the preset's pointers (directory
  listings included), which any static host that keeps paths can serve as-is (an S3 website, a
  Hugging Face dataset repository); publishing again adds only new objects;
- per group of classes, a reproducible tarball of that tree (sorted names, fixed times and owners,
  gzip without a name or time), for hosts with flat file names (Zenodo, a GitHub release), and its
  sha256; checkpoints are a group of their own, the rest (data, metrics, probes, figures, logs)
  the other;
- `<preset>.manifest.json`: every object with its class and size, and each tarball's sha256.
"""

import gzip
import io
import json
import shutil
import tarfile
from pathlib import Path

from grokstudy import provenance
from grokstudy.artifacts import classes, dvc_repo, git_tree, integrity
from grokstudy.errors import ArtifactError

GROUPS = {"evidence": ("data", "metrics", "probes", "figures", "logs"), "checkpoints": ("checkpoints",)}
# Where published presets say their objects live (beside the pointers, in git).
RECORD = "published.json"


def preset_objects(results: Path, names, cache: Path) -> dict[str, list[str]]:
    """Per class, the md5 of every object its pointers need (listings first), each present and intact
    in the cache; raises naming what is missing or damaged."""
    objects: dict[str, list[str]] = {}
    for name in names:
        for directory in classes.directories(results, [name]):
            pointer = classes.pointer(directory)
            if not pointer.exists():
                raise ArtifactError(f"{pointer} does not exist: seal the preset before publishing it")
            listing = integrity.pointer_md5(pointer)
            objects.setdefault(name, []).extend([listing, *integrity.listed_md5s(cache, listing)])
    bad = [
        md5
        for found in objects.values()
        for md5 in found
        if not (cache / integrity.object_key(md5)).exists()
        or integrity.md5_of(cache / integrity.object_key(md5)) != md5.removesuffix(integrity.DIR_SUFFIX)
    ]
    if bad:
        raise ArtifactError(
            f"{len(bad)} objects of the preset are missing or damaged in the DVC cache (first: {bad[0]});"
            " run `grokstudy restore` from the author's remote first. Nothing was published."
        )
    return objects


def copy_tree(objects: dict[str, list[str]], cache: Path, tree: Path) -> int:
    """Copy the objects into the remote tree; returns how many were new."""
    added = 0
    for md5 in dict.fromkeys(m for found in objects.values() for m in found):
        target = tree / integrity.object_key(md5)
        if target.exists() and integrity.md5_of(target) == md5.removesuffix(integrity.DIR_SUFFIX):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(cache / integrity.object_key(md5), partial)
        partial.replace(target)
        added += 1
    return added


def write_tarball(keys: list[str], tree: Path, target: Path) -> str:
    """A byte-reproducible .tar.gz of the given remote-tree paths; returns its sha256."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for key in sorted(set(keys)):
            data = (tree / key).read_bytes()
            info = tarfile.TarInfo(key)
            info.size, info.mtime, info.mode = len(data), 0, 0o444
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    partial = target.with_name(target.name + ".partial")
    with open(partial, "wb") as out, gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as zipped:
        zipped.write(raw.getvalue())
    partial.replace(target)
    sha256 = provenance.file_sha256(target)
    target.with_name(target.name + ".sha256").write_text(f"{sha256}  {target.name}\n")
    return sha256


def publish(root: Path, results: Path, to: Path, chosen=None, log=print) -> dict:
    """Write the preset's remote tree, tarballs and manifest under `to`; returns the manifest."""
    git_tree.require_repo(root)
    dvc_repo.require_repo(root)
    names = list(chosen or classes.ARTIFACT_CLASSES)
    unknown = classes.unknown(names)
    if unknown:
        raise ArtifactError(
            f"unknown artifact class {', '.join(unknown)}; allowed: {', '.join(classes.ARTIFACT_CLASSES)}"
        )
    cache = dvc_repo.cache_dir(root)
    objects = preset_objects(results, names, cache)
    to = Path(to)
    tree = to / "remote"
    added = copy_tree(objects, cache, tree)
    preset = results.name
    manifest = {"preset": preset, "commit": provenance.git_revision(), "classes": {}, "tarballs": {}}
    for name, found in objects.items():
        unique = list(dict.fromkeys(found))
        sizes = {m: (tree / integrity.object_key(m)).stat().st_size for m in unique}
        manifest["classes"][name] = {"objects": len(unique), "bytes": sum(sizes.values()), "md5": sizes}
    for group, members in GROUPS.items():
        keys = [integrity.object_key(m) for name in members for m in objects.get(name, [])]
        if keys:
            tarball = to / f"grokstudy-{preset}-{group}.tar.gz"
            sha256 = write_tarball(keys, tree, tarball)
            manifest["tarballs"][group] = {"file": tarball.name, "sha256": sha256, "bytes": tarball.stat().st_size}
    provenance.write_json(to / f"{preset}.manifest.json", manifest)
    log(f"publish: {sum(len(set(f)) for f in objects.values())} objects of {preset}, {added} new, in {tree}")
    for entry in manifest["tarballs"].values():
        log(f"publish: {entry['file']} ({entry['bytes'] / 1e6:.1f} MB) sha256 {entry['sha256']}")
    log(upload_recipe(to))
    return manifest


def upload_recipe(to: Path) -> str:
    return (
        "To publish: serve the remote tree as-is from any host that keeps paths, e.g.\n"
        f"    aws s3 sync {to}/remote s3://BUCKET/grokstudy   (an S3 website; url https://BUCKET.s3.amazonaws.com/grokstudy)\n"
        f"    huggingface-cli upload ORG/NAME {to}/remote . --repo-type dataset"
        "   (url https://huggingface.co/datasets/ORG/NAME/resolve/<revision>)\n"
        "and/or upload the tarballs with their .sha256 files to a Zenodo record or a GitHub release.\n"
        "Then record the URLs in results/<preset>/published.json (and the tree's URL as the `public`\n"
        "remote in .dvc/config); readers restore with `grokstudy restore --from URL`."
    )


def record(results: Path) -> dict:
    """What results/<preset>/published.json says: the tree's URL and each tarball's URL and sha256."""
    path = results / RECORD
    return json.loads(path.read_text()) if path.exists() else {}


def sha256_for(results: Path, tarball_url: str) -> str | None:
    """The sha256 the repository records for a published tarball, by its file name."""
    name = tarball_url.rstrip("/").rsplit("/", 1)[-1]
    for entry in record(results).get("tarballs", {}).values():
        if entry.get("file") == name:
            return entry.get("sha256")
    return None
