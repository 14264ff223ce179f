"""`grokstudy restore`: pull a preset's sealed artifacts and make Snakemake treat them as up to date."""

import json
from pathlib import Path

from grokstudy.artifacts import classes, dvc_repo, git_tree, integrity, job_records, publish, sources, why
from grokstudy.artifacts import workflow_state
from grokstudy.errors import ArtifactError
from grokstudy.paths import inside

# The sealed small classes of the shipped presets, as a published remote tree inside the repository.
EVIDENCE_TREE = Path("evidence/remote")


def _sealed_record(results: Path, configfile: str) -> Path:
    path = results / job_records.SEALED_RECORD
    if not path.is_file():
        raise ArtifactError(
            f"the seal at this commit has no job record ({path}): without it, the restored files would be"
            " marked as made by today's code. The author reseals the preset"
            f" (`grokstudy seal --configfile {configfile}`). Nothing was pulled or changed."
        )
    try:
        job_records.read(path)
    except (ValueError, KeyError) as error:
        raise ArtifactError(f"{path} is not a job record this code reads: {error}. Nothing was pulled.") from None
    return path


def _remove_touched_logs(logs: Path, existing: set[Path]) -> None:
    """`snakemake --touch` creates every job's log, empty. Remove those it created: left in place,
    a later seal would record them over the real logs of a class that was never pulled."""
    if not logs.exists():
        return
    for path in sorted(logs.rglob("*"), reverse=True):
        if path in existing:
            continue
        inside(path, logs, "remove")
        if path.is_file() and path.stat().st_size == 0:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _listed(paths, root: Path, limit: int = 10) -> str:
    lines = [f"    {path.relative_to(root)}" for path in paths[:limit]]
    return "\n".join(lines + (["    ..."] if len(paths) > limit else []))


def _discard_corrupt_local_objects(root: Path, pointers, cache: Path, log) -> list:
    """Damaged objects already in the local cache are removed so that the fetch replaces them.

    Checked before fetching: DVC drops a corrupt object it meets, after which it cannot be named.
    """
    corrupt = integrity.corrupt_cache_objects(pointers, cache)
    for path, obj in corrupt:
        log(f"restore: corrupt DVC cache object {obj} (for {path.relative_to(root)}); fetching a fresh copy")
        integrity.discard(obj)
    return corrupt


def _refuse_corrupt_remote_objects(
    root: Path, configfile: str, pointers, cache: Path, intact, remote: str, url: str
) -> None:
    """Check what the fetch brought before anything is checked out: a damaged object came from the remote."""
    corrupt = integrity.corrupt_cache_objects(pointers, cache, skip=intact)
    if not corrupt:
        return
    for _, obj in corrupt:
        integrity.discard(obj)
    listed = "\n".join(f"    {path.relative_to(root)}  (md5 {obj.parent.name}{obj.name})" for path, obj in corrupt)
    bad = "\n".join(f"    {key}" for key in integrity.remote_objects(pointers, corrupt, cache, url))
    raise ArtifactError(
        f"remote '{remote}' ({url}) holds corrupt copies: what it sent does not match the md5 the committed"
        f" pointers record:\n{listed}\nNothing in {pointers[0].parent.relative_to(root)}/ or in Snakemake's records"
        " changed; the corrupt objects were removed from the local cache. To repair the remote, delete these objects"
        f" from it:\n{bad}\nthen seal again from a clone whose files are good (the author's):"
        f" `grokstudy seal --configfile {configfile}`; then run restore again (docs/recovery.md)."
    )


def _fetch_verified(root: Path, configfile: str, pointers, cache: Path, remote: str, url: str, log) -> None:
    """Fill the cache with every object the pointers need, each checked, or raise with nothing checked out."""
    corrupt = _discard_corrupt_local_objects(root, pointers, cache, log)
    intact = integrity.present_objects(pointers, cache)
    # Fetch into the cache first, check out only once everything arrived: a failed transfer
    # leaves the working tree exactly as it was (a failed `dvc pull` can remove a whole directory).
    # `dvc fetch` can exit 0 with objects missing (a remote path that does not exist), so the
    # cache itself is checked.
    fetched = dvc_repo.run(root, "fetch", *[str(p.relative_to(root)) for p in pointers], check=False)
    _refuse_corrupt_remote_objects(root, configfile, pointers, cache, intact, remote, url)
    missing = integrity.missing_cache_objects(pointers, cache)
    if fetched.returncode == 0 and not missing:
        return
    if corrupt:
        listed = "\n".join(f"    {path.relative_to(root)}  (cache object {obj})" for path, obj in corrupt)
        raise ArtifactError(
            f"corrupt files in the DVC cache, and remote '{remote}' ({url}) could not replace"
            f" them:\n{listed}\nThe corrupt objects were removed; run restore again with the"
            " remote reachable. Snakemake's records were not changed."
        )
    raise ArtifactError(
        f"could not pull from remote '{remote}' ({url}); missing from the cache:\n"
        f"{_listed(missing, root)}\ndvc said:\n{dvc_repo.tail(fetched)}\n"
        "Snakemake's records were not changed; check the remote (docs/remotes.md)"
        " or compute everything with `snakemake`."
    )


def _check_out(root: Path, pointers, cache: Path) -> None:
    targets = [str(p.relative_to(root)) for p in pointers]
    checked_out = dvc_repo.run(root, "checkout", "--force", *targets, check=False)
    if checked_out.returncode != 0:
        raise ArtifactError(
            f"dvc checkout failed after a complete fetch:\n{dvc_repo.tail(checked_out)}\n"
            "Snakemake's records were not changed; run restore again."
        )
    damaged = integrity.workspace_mismatches(pointers, cache)
    if damaged:
        raise ArtifactError(
            f"restored files do not match their recorded hashes:\n{_listed(damaged, root)}\n"
            "Snakemake's records were not changed; run restore again."
        )


def _chosen_classes(chosen, log) -> list[str]:
    chosen = list(chosen or classes.ARTIFACT_CLASSES)
    bad = classes.unknown(chosen)
    if bad:
        raise ArtifactError(f"unknown artifact class {', '.join(bad)}; allowed: {', '.join(classes.ARTIFACT_CLASSES)}")
    names = classes.closure(chosen)
    added = [n for n in names if n not in chosen]
    if added:
        log(
            f"restore: also pulling {', '.join(added)}"
            f" (needed for the workflow to count {', '.join(chosen)} as up to date)"
        )
    return names


def _evidence_holds(tree: Path, pointers) -> bool:
    """Whether the repository's own published tree has every object the pointers need."""
    for pointer in pointers:
        listing = integrity.pointer_md5(pointer)
        path = tree / integrity.object_key(listing)
        if not path.exists() or integrity.md5_of(path) != listing.removesuffix(integrity.DIR_SUFFIX):
            return False
        entries = json.loads(path.read_text()) if listing.endswith(integrity.DIR_SUFFIX) else []
        if not all((tree / integrity.object_key(e["md5"])).exists() for e in entries):
            return False
    return True


def _published_source(root: Path, results: Path, pointers, cache: Path, origin: str | None, log):
    """Where to fetch from: `--from` (a tree or a tarball, a URL or a path); else the repository's own
    evidence tree when it holds everything asked for; else the default remote when it is an http(s)
    URL (fetched and checked here). None: let DVC fetch from the default remote."""
    if origin:
        if not sources.is_tarball(origin):
            return sources.TreeSource(origin if "://" in origin else str(Path(origin).resolve()))
        tarball = sources.download(origin, root / ".dvc" / "tmp" / "grokstudy" / Path(origin).name)
        expected = publish.sha256_for(results, origin) or _sibling_sha256(origin)
        return sources.unpack_tarball(tarball, expected, root / ".dvc" / "tmp" / "grokstudy" / "unpacked")
    evidence = root / EVIDENCE_TREE
    if evidence.is_dir() and _evidence_holds(evidence, pointers):
        return sources.TreeSource(str(evidence))
    _, url = dvc_repo.default_remote(root)
    return sources.TreeSource(url) if url.startswith(("http://", "https://")) else None


def _sibling_sha256(url: str) -> str | None:
    """The sha256 published next to a tarball (`<tarball>.sha256`), if there is one."""
    try:
        text = sources.read_text(url + ".sha256")
    except ArtifactError:
        return None
    return text.split()[0] if text.strip() else None


def restore(root: Path, configfile: str, results: Path, chosen=None, log=print, origin: str | None = None) -> dict:
    """Pull the chosen classes (default: all) and what they need; returns the jobs still pending.

    `origin` is a published tree or tarball (a URL or a path) to pull from instead of the
    repository's evidence tree or its default remote. Safe to run again after an interruption:
    every step starts from what is on disk.
    """
    git_tree.require_repo(root)
    dvc_repo.require_repo(root)
    workflow_state.refuse_held_lock(root, configfile)
    names = _chosen_classes(chosen, log)
    pointers = [classes.pointer(d) for d in classes.directories(results, names)]
    unsealed = [str(p.relative_to(root)) for p in pointers if not p.exists()]
    if unsealed:
        raise ArtifactError(
            f"no sealed artifacts at this commit for {', '.join(unsealed)}; the author runs"
            f" `grokstudy seal --configfile {configfile}`, or compute them with Snakemake"
        )
    sealed = _sealed_record(results, configfile)

    cache = dvc_repo.cache_dir(root)
    source = _published_source(root, results, pointers, cache, origin, log)
    if source is not None:
        _discard_corrupt_local_objects(root, pointers, cache, log)
        log(f"restore: pulling {', '.join(names)} from {source.describe()}")
        sources.fetch(source, pointers, cache, log)
    else:
        remote, url = dvc_repo.default_remote(root)
        log(f"restore: pulling {', '.join(names)} from remote '{remote}' ({url})")
        _fetch_verified(root, configfile, pointers, cache, remote, url, log)
    _check_out(root, pointers, cache)

    targets = classes.snakemake_targets(names)
    if targets:
        log(f"restore: marking the restored results up to date for Snakemake (targets {', '.join(targets)})")
        logs = classes.directories(results, ["logs"])[0]
        existing = set(logs.rglob("*")) if logs.exists() else set()
        workflow_state.mark_up_to_date(root, configfile, targets, sealed)
        _remove_touched_logs(logs, existing)
    explanations = why.explain(root, configfile, results)
    log(f"restore: done; against the seal's record, {why.summary(explanations)}")
    if explanations:
        log(f"restore: `grokstudy why --configfile {configfile}` names what changed for each")
    pending: dict[str, int] = {}
    for explanation in explanations:
        pending[explanation.job.rule] = pending.get(explanation.job.rule, 0) + 1
    return pending
