"""The artifact classes under results/PRESET/, each one DVC-tracked directory or more."""

from dataclasses import dataclass
from pathlib import Path

from grokstudy.paths import inside


@dataclass(frozen=True)
class ArtifactClass:
    name: str
    directories: tuple[str, ...]
    contents: str
    # Classes the workflow needs on disk to count this one as up to date. Checkpoints are
    # never needed: they are not declared outputs, so figures restore without them.
    needs: tuple[str, ...] = ()
    # The Snakefile target that covers this class (None: no rule produces it as declared output).
    target: str | None = None


ARTIFACT_CLASSES = {
    c.name: c
    for c in (
        ArtifactClass("data", ("data",), "datasets: Parquet splits, tokenizer, manifest", (), "datasets"),
        ArtifactClass(
            "checkpoints", ("checkpoints",), "model checkpoints (safetensors, tokenizer, optimizer of the newest)"
        ),
        ArtifactClass("metrics", ("runs",), "training metrics and run summaries", ("data",), "trained_runs"),
        ArtifactClass(
            "probes",
            ("probes",),
            "probe tables: per-checkpoint accuracy, logit lens, causal tracing, weight norms, recurrence sweep,"
            " null networks, monitors",
            ("metrics", "data"),
            "probe_tables",
        ),
        ArtifactClass(
            "figures",
            ("figures", "report"),
            "figures (PNG, PDF, CSV), claims table and report",
            ("probes", "metrics", "data"),
            "all",
        ),
        ArtifactClass("logs", ("logs",), "the log of every job"),
    )
}
# Most complete first: the order in which restore names the targets it marks.
TARGET_ORDER = ("figures", "probes", "metrics", "data")


def unknown(names) -> list[str]:
    return [n for n in names if n not in ARTIFACT_CLASSES]


def closure(names) -> list[str]:
    """The chosen classes plus every class they need, in the canonical order."""
    chosen = set(names)
    for name in names:
        chosen.update(ARTIFACT_CLASSES[name].needs)
    return [n for n in ARTIFACT_CLASSES if n in chosen]


def snakemake_targets(names) -> list[str]:
    """Every Snakefile target that covers one of the classes, most complete first (no job is left out:
    a dataset no run uses is in `datasets` but not in `all`)."""
    return [ARTIFACT_CLASSES[n].target for n in TARGET_ORDER if n in names and ARTIFACT_CLASSES[n].target]


def directories(results: Path, names) -> list[Path]:
    """The class directories under results/<preset>/; none may resolve outside it."""
    found = [results / d for n in names for d in ARTIFACT_CLASSES[n].directories]
    for directory in found:
        inside(directory, results, "seal or restore")
    return found


def pointer(directory: Path) -> Path:
    """DVC's pointer file for a tracked directory, committed to git beside it."""
    return directory.with_name(directory.name + ".dvc")
