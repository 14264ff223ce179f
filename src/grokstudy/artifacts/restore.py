"""`grokstudy restore`: pull a preset's sealed artifacts and make Snakemake treat them as up to date."""

from pathlib import Path

from grokstudy.artifacts import classes, dvc_repo, git_tree, integrity, workflow_state
from grokstudy.errors import ArtifactError
from grokstudy.paths import inside


def _refuse_local_changes(root: Path) -> None:
    changed = git_tree.local_changes(root)
    if changed:
        listed = "\n".join(f"    {path}" for path in changed[:10]) + ("\n    ..." if len(changed) > 10 else "")
        raise ArtifactError("restore refuses to run on local changes to the workflow, configs or source:\n"
                            f"{listed}\nThey would be recorded as the producer of the pulled artifacts. Commit or"
                            " stash them (`git stash`), restore, then reapply. Nothing was pulled or changed.")


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


def restore(root: Path, configfile: str, results: Path, chosen=None, log=print) -> dict[str, int]:
    """Pull the chosen classes (default: all) and what they need; returns the jobs still pending."""
    git_tree.require_repo(root)
    dvc_repo.require_repo(root)
    _refuse_local_changes(root)
    chosen = list(chosen or classes.ARTIFACT_CLASSES)
    bad = classes.unknown(chosen)
    if bad:
        raise ArtifactError(f"unknown artifact class {', '.join(bad)}; allowed: {', '.join(classes.ARTIFACT_CLASSES)}")
    names = classes.closure(chosen)
    added = [n for n in names if n not in chosen]
    if added:
        log(f"restore: also pulling {', '.join(added)} (needed for the workflow to count {', '.join(chosen)} as up to date)")
    pointers = [classes.pointer(d) for d in classes.directories(results, names)]
    unsealed = [str(p.relative_to(root)) for p in pointers if not p.exists()]
    if unsealed:
        raise ArtifactError(f"no sealed artifacts at this commit for {', '.join(unsealed)}; the author runs"
                            f" `grokstudy seal --configfile {configfile}`, or compute them with Snakemake")

    remote, url = dvc_repo.default_remote(root)
    log(f"restore: pulling {', '.join(names)} from remote '{remote}' ({url})")
    targets = [str(p.relative_to(root)) for p in pointers]
    cache = dvc_repo.cache_dir(root)
    # Checked before fetching: DVC drops a corrupt object it meets, after which it cannot be named.
    corrupt = integrity.corrupt_cache_objects(pointers, cache)
    for path, obj in corrupt:
        log(f"restore: corrupt DVC cache object {obj} (for {path.relative_to(root)}); fetching a fresh copy")
        integrity.discard(obj)
    # Fetch into the cache first, check out only once everything arrived: a failed transfer
    # leaves the working tree exactly as it was (a failed `dvc pull` can remove a whole directory).
    # `dvc fetch` can exit 0 with objects missing (a remote path that does not exist), so the
    # cache itself is checked.
    fetched = dvc_repo.run(root, "fetch", *targets, check=False)
    missing = integrity.missing_cache_objects(pointers, cache)
    if fetched.returncode != 0 or missing:
        if corrupt:
            listed = "\n".join(f"    {path.relative_to(root)}  (cache object {obj})" for path, obj in corrupt)
            raise ArtifactError(f"corrupt files in the DVC cache, and remote '{remote}' ({url}) could not replace"
                                f" them:\n{listed}\nThe corrupt objects were removed; run restore again with the"
                                " remote reachable. Snakemake's records were not changed.")
        listed = "\n".join(f"    {path.relative_to(root)}" for path in missing[:10])
        listed += "\n    ..." if len(missing) > 10 else ""
        raise ArtifactError(f"could not pull from remote '{remote}' ({url}); missing from the cache:\n{listed}\n"
                            f"dvc said:\n{dvc_repo.tail(fetched)}\n"
                            "Snakemake's records were not changed; check the remote (README, 'Reproduce without"
                            " retraining') or compute everything with `snakemake`.")
    checked_out = dvc_repo.run(root, "checkout", "--force", *targets, check=False)
    if checked_out.returncode != 0:
        raise ArtifactError(f"dvc checkout failed after a complete fetch:\n{dvc_repo.tail(checked_out)}\n"
                            "Snakemake's records were not changed.")
    damaged = integrity.workspace_mismatches(pointers, cache)
    if damaged:
        listed = "\n".join(f"    {path.relative_to(root)}" for path in damaged)
        raise ArtifactError(f"restored files do not match their recorded hashes:\n{listed}\nSnakemake's records were"
                            " not changed; run `dvc checkout --force` on them or restore again.")

    target = classes.snakemake_target(names)
    if target:
        log(f"restore: marking the restored results up to date for Snakemake (target '{target}')")
        logs = classes.directories(results, ["logs"])[0]
        existing = set(logs.rglob("*")) if logs.exists() else set()
        workflow_state.mark_up_to_date(root, configfile, target)
        _remove_touched_logs(logs, existing)
    pending = workflow_state.pending_jobs(root, configfile)
    log(f"restore: done; Snakemake now plans {sum(pending.values())} jobs")
    return pending
