"""`grokstudy seal`: record an up-to-date preset's artifacts in DVC and push them (the author's step)."""

from pathlib import Path

import yaml

from grokstudy.artifacts import classes, dvc_repo, git_tree, job_records, workflow_state
from grokstudy.errors import ArtifactError


def class_sizes(results: Path, names) -> list[dict]:
    """Size and file count of each class, read from its committed pointers."""
    rows = []
    for name in names:
        size = files = 0
        for directory in classes.directories(results, [name]):
            out = yaml.safe_load(classes.pointer(directory).read_text())["outs"][0]
            size, files = size + out.get("size", 0), files + out.get("nfiles", 1)
        rows.append({"class": name, "files": files, "bytes": size})
    return rows


def _refuse_incomplete_outputs(root: Path, configfile: str, names) -> None:
    """Every output of every job behind the classes' targets must exist and be recorded by Snakemake."""
    records = workflow_state.output_records(root, configfile, classes.snakemake_targets(names))
    bad = [r for r in records if r.problem]
    if not bad:
        return
    listed = "\n".join(f"    {r.path}  ({r.rule}: {r.problem})" for r in bad[:20])
    listed += f"\n    ... and {len(bad) - 20} more" if len(bad) > 20 else ""
    paths = " ".join(dict.fromkeys(r.path for r in bad))
    raise ArtifactError(
        f"the workflow for {configfile} is incomplete: {len(bad)} outputs are missing, unrecorded or out of date,"
        f" although a dry run may plan nothing for them (no target needs them again):\n{listed}\n"
        f"Recompute them: `snakemake --configfile {configfile} --forcerun {paths}`; or, if they came from an"
        f" interrupted restore, run `grokstudy restore --configfile {configfile}` again. Nothing was sealed."
    )


def _job_record(root: Path, configfile: str, results: Path, names, log) -> Path:
    """Write what every job ran with (its code digest and settings) beside the pointers.

    Nothing is pending, so each job's params as the checkout computes them are the ones Snakemake
    recorded when it ran the job.
    """
    record = workflow_state.evaluate_jobs(root, configfile, classes.snakemake_targets(names))
    record.commit = git_tree.head(root)
    changed = git_tree.local_changes(root)
    if changed:
        log(f"seal: {len(changed)} files differ from commit {record.commit}; the job record holds what ran")
    path = results / job_records.SEALED_RECORD
    if _unchanged(path, record):
        log(f"seal: {path.relative_to(root)} unchanged: every job ran as the last seal recorded")
        return path
    job_records.write(record, path)
    log(f"seal: the code digest and settings of {len(record.jobs)} jobs in {path.relative_to(root)}")
    return path


def _unchanged(path: Path, record: job_records.Record) -> bool:
    """Whether the committed record already says exactly this (then it keeps its commit)."""
    if not path.is_file():
        return False
    try:
        sealed = job_records.read(path)
    except (ValueError, KeyError):
        return False
    return sealed.jobs == record.jobs and sealed.code == record.code


def seal(root: Path, configfile: str, results: Path, log=print) -> list[dict]:
    git_tree.require_repo(root)
    dvc_repo.require_repo(root)
    remote, url = dvc_repo.default_remote(root)
    if url.startswith(("http://", "https://")):
        raise ArtifactError(
            f"remote '{remote}' is {url}, which readers pull from and nobody can push to. Authors set their"
            f" writable remote under the same name, outside git: `dvc remote add -d --local {remote} PATH_OR_URL`"
            " (docs/remotes.md). Nothing was sealed."
        )
    workflow_state.refuse_held_lock(root, configfile)
    pending = workflow_state.pending_jobs(root, configfile)
    if pending:
        plan = ", ".join(f"{rule} x{n}" for rule, n in pending.items())
        raise ArtifactError(
            f"the workflow for {configfile} is not up to date ({sum(pending.values())} jobs pending:"
            f" {plan}); run `snakemake --configfile {configfile}` first. Nothing was sealed."
        )
    names = list(classes.ARTIFACT_CLASSES)
    _refuse_incomplete_outputs(root, configfile, names)
    directories = classes.directories(results, names)
    missing = [str(d.relative_to(root)) for d in directories if not d.is_dir()]
    if missing:
        raise ArtifactError(f"artifact directories missing: {', '.join(missing)}; nothing was sealed")
    record = _job_record(root, configfile, results, names, log)
    log(f"seal: recording {len(directories)} directories of {results.relative_to(root)} in DVC")
    dvc_repo.run(root, "add", "--quiet", *[str(d.relative_to(root)) for d in directories])
    pointers = [classes.pointer(d) for d in directories]
    log(f"seal: pushing to remote '{remote}' ({url})")
    pushed = dvc_repo.run(root, "push", *[str(p.relative_to(root)) for p in pointers], check=False)
    if pushed.returncode != 0:
        raise ArtifactError(
            f"could not push to remote '{remote}' ({url}):\n{dvc_repo.tail(pushed)}\n"
            "The pointers are recorded locally; run seal again once the remote is reachable."
        )
    git_tree.stage(root, [*pointers, record])
    sizes = class_sizes(results, names)
    for row in sizes:
        log(f"  {row['class']:<12} {row['files']:>6} files {row['bytes'] / 1e6:>10.2f} MB")
    log("seal: pointers staged; commit them (git commit) so the commit pins these artifacts")
    return sizes
