"""Every file a job writes or deletes stays inside that job's own directory.

Names in a preset are validated, but a path can still arrive from the command line; these
checks are the last line: resolve, then refuse whatever lands outside the expected directory.
"""

from pathlib import Path

from grokstudy.errors import ArtifactError


def refuse_dot_parts(path: Path, what: str) -> Path:
    """`path` unchanged, or an error if any part of it is "." or ".." (it could climb out)."""
    if any(part in (".", "..") for part in Path(path).parts):
        raise ArtifactError(f"refusing {what} {path}: '.' and '..' are not allowed in its path")
    return Path(path)


def inside(path: Path, directory: Path, what: str) -> Path:
    """`path` resolved, or an error if it resolves outside `directory` (links followed)."""
    resolved, base = Path(path).resolve(), Path(directory).resolve()
    if resolved != base and base not in resolved.parents:
        raise ArtifactError(f"refusing to {what} {path}: it resolves to {resolved}, outside {base}")
    return resolved
