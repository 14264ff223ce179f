"""Repositories for end-to-end tests: the working tree as a git origin, clones of it, and commands in them."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMOKE = "config/smoke.yaml"
SMOKE_RESULTS = Path("results/smoke")
# Build products and local state that a clone would not have.
NOT_CLONED = (
    ".git",
    ".venv",
    ".venv-moto",
    "results",
    ".snakemake",
    "__pycache__",
    "*.egg-info",
    ".pytest_cache",
    "cache",
    "tmp",
)


def env(**extra) -> dict:
    """Rules call the `grokstudy` command: put this interpreter's scripts first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {
        **os.environ,
        "PATH": path,
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.org",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.org",
        **extra,
    }


def run(cwd: Path, *command: str, check: bool = True, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900, env=env(**(extra_env or {})))
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def snakemake(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(cwd, sys.executable, "-m", "snakemake", *args, check=check)


def grokstudy(cwd: Path, *args: str, check: bool = True, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    return run(cwd, sys.executable, "-m", "grokstudy", *args, check=check, extra_env=extra_env)


def dvc(cwd: Path, *args: str, check: bool = True, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    return run(cwd, sys.executable, "-m", "dvc", *args, check=check, extra_env=extra_env)


def copy_tree(dest: Path) -> Path:
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(*NOT_CLONED))
    return dest


def make_origin(dest: Path) -> Path:
    """The current working tree, committed as a fresh git repository."""
    copy_tree(dest)
    run(dest, "git", "init", "-q", "-b", "main")
    run(dest, "git", "add", "-A")
    run(dest, "git", "commit", "-q", "-m", "study")
    return dest


def clone(origin: Path, dest: Path, remote_url: Path | str | None = None) -> Path:
    """A git clone whose default DVC remote points at `remote_url` (kept out of git, in config.local)."""
    run(dest.parent, "git", "clone", "-q", str(origin), str(dest))
    if remote_url is not None:
        dvc(dest, "remote", "modify", "--local", "public", "url", str(remote_url))
    return dest


def planned_jobs(cwd: Path, configfile: str = SMOKE) -> dict[str, int]:
    """What a plain `snakemake` would run now, by rule ({} when nothing), without the `all` target."""
    from grokstudy.artifacts.workflow_state import pending_jobs

    return {rule: n for rule, n in pending_jobs(cwd, configfile).items() if rule != "all"}
