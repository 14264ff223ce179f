"""The DVC command line, run in the repository, with failures turned into messages a person can act on."""

import subprocess
import sys
from pathlib import Path

from grokstudy.errors import ArtifactError


def run(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise ArtifactError(f"`dvc {' '.join(args[:2])}` failed:\n{tail(result)}")
    return result


def tail(result: subprocess.CompletedProcess, lines: int = 8) -> str:
    text = (result.stderr.strip() + "\n" + result.stdout.strip()).strip()
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def require_repo(root: Path) -> None:
    if not (root / ".dvc").is_dir():
        raise ArtifactError(f"{root} is not a DVC repository (no .dvc/); run this from the study's clone")


def default_remote(root: Path) -> tuple[str, str]:
    """(name, url) of the default remote; .dvc/config.local and `dvc remote default` override it."""
    name = run(root, "remote", "default", check=False).stdout.strip()
    if not name:
        raise ArtifactError(
            "no default DVC remote is configured; set one with `dvc remote add -d NAME URL` (see docs/remotes.md)"
        )
    # Not `dvc remote list`: it wraps a long URL onto a line of its own.
    url = run(root, "config", f"remote.{name}.url", check=False).stdout.strip()
    if url and "://" not in url and not Path(url).is_absolute():
        url = str((root / ".dvc" / url).resolve())  # DVC reads a relative path from its config file's directory
    return name, url or "?"


def cache_dir(root: Path) -> Path:
    path = run(root, "cache", "dir").stdout.strip()
    return Path(path) if Path(path).is_absolute() else root / path
