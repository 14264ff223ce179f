"""The way out of a damaged artifact: the command that brings a good copy back (docs/recovery.md).

Jobs run at the repository root and name artifacts as results/<preset>/<class directory>/...;
from such a path the preset file and the artifact class follow.
"""

import re
from pathlib import Path

from grokstudy.artifacts.classes import ARTIFACT_CLASSES

RESULTS = "results"


def locate(path: Path) -> tuple[Path, str, str] | None:
    """(repository root, preset name, class directory) of a path under results/<preset>/<directory>/, else None."""
    parts = Path(path).parts
    for i in range(len(parts) - 3, -1, -1):
        if parts[i] == RESULTS:
            return Path(*parts[:i]) if i else Path("."), parts[i + 1], parts[i + 2]
    return None


def preset_file(root: Path, preset: str) -> str:
    """The preset file under root/config whose `name:` is `preset`, relative to root; a placeholder if none is."""
    pattern = re.compile(rf"^name:\s*['\"]?{re.escape(preset)}['\"]?\s*(#.*)?$", re.MULTILINE)
    config = Path(root) / "config"
    for candidate in sorted(config.rglob("*.yaml")) if config.is_dir() else []:
        if pattern.search(candidate.read_text(errors="replace")):
            return str(candidate.relative_to(root))
    return "PRESET.yaml"


def _from_root(path: Path, root: Path) -> Path:
    """`path` as a command run at the repository root names it."""
    path = Path(path)
    return path.relative_to(root) if path.is_absolute() and path.is_relative_to(root) else path


def class_of(directory: str) -> str | None:
    """The artifact class (for `grokstudy restore --only`) that holds a directory under results/<preset>/."""
    return next((c.name for c in ARTIFACT_CLASSES.values() if directory in c.directories), None)


def way_out(path: Path, regenerate: Path | None = None) -> str:
    """The commands that replace a damaged artifact: rerun the job that wrote it, or restore the sealed copy.

    `regenerate` is the declared workflow output to force (default: `path` itself).
    """
    located = locate(path)
    if located is None:
        return "regenerate it with the step that wrote it"
    root, preset, directory = located
    config = preset_file(root, preset)
    text = f"regenerate it: `snakemake --configfile {config} --forcerun {_from_root(regenerate or path, root)}`"
    klass = class_of(directory)
    if klass:
        text += f", or restore the sealed copy: `grokstudy restore --configfile {config} --only {klass}`"
    return text


def checkpoint_way_out(run_checkpoints: Path) -> str:
    """How to replace a run's damaged checkpoints: restore them, or train the run again from scratch.

    Retraining needs the directory gone: a rerun otherwise resumes from (or stops at) what is there.
    """
    located = locate(run_checkpoints)
    if located is None:
        return f"delete {run_checkpoints} and train the run again"
    root, preset, _ = located
    config = preset_file(root, preset)
    metrics = Path(RESULTS, preset, "runs", Path(run_checkpoints).name, "metrics.parquet")
    return (
        f"restore the sealed checkpoints: `grokstudy restore --configfile {config} --only checkpoints`,"
        f" or train the run again: `rm -r {_from_root(run_checkpoints, root)}`,"
        f" then `snakemake --configfile {config} --forcerun {metrics}`"
    )


def newest_checkpoint_way_out(step_dir: Path) -> str:
    """How to get past a damaged newest checkpoint: delete it, and the run's next attempt starts afresh."""
    located = locate(step_dir)
    rerun = "run the training again"
    if located is not None:
        root, preset, _ = located
        step_dir = _from_root(step_dir, root)
        rerun = f"`snakemake --configfile {preset_file(root, preset)}`"
    return (
        f"delete that checkpoint (`rm -r {step_dir}`), then {rerun}: training restarts from step 0, since older"
        " checkpoints keep no optimizer state"
    )
