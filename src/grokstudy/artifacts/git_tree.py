"""The state of the git working tree, as far as artifact provenance cares."""

import subprocess
from pathlib import Path

from grokstudy.errors import ArtifactError

# What produces the artifacts: a local change here would be recorded as their producer.
PRODUCER_PATHS = ("Snakefile", "workflow", "config", "src", "envs", "profiles", "pyproject.toml")


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def require_repo(root: Path) -> None:
    if _git(root, "rev-parse", "--show-toplevel").returncode != 0:
        raise ArtifactError(f"{root} is not a git repository; clone the study with git first")


def local_changes(root: Path, paths=PRODUCER_PATHS) -> list[str]:
    """Modified, staged, deleted or untracked files under `paths`, as `git status` names them."""
    existing = [p for p in paths if (root / p).exists()]
    out = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *existing)
    return [line[3:] for line in out.stdout.splitlines() if line.strip()]


def head(root: Path) -> str | None:
    """The commit checked out, or None in a repository without one."""
    result = _git(root, "rev-parse", "HEAD")
    return result.stdout.strip() if result.returncode == 0 else None


def stage(root: Path, files) -> None:
    result = _git(root, "add", "--", *map(str, files))
    if result.returncode != 0:
        raise ArtifactError(f"`git add` of the DVC pointers failed: {result.stderr.strip()}")
