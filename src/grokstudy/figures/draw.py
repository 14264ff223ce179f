"""Draw one accuracy-curve figure from its runs' metrics, and save it as PNG, PDF and CSV."""

from pathlib import Path

from grokstudy.figures import curves, save
from grokstudy.data.store import read_baselines
from grokstudy.results import read_metrics


def _figure_and_data(kind: str, inputs: list[Path], labels: dict, step_axis: str, baselines: list[Path]):
    data = curves.label_runs(read_metrics(inputs), labels)
    references = curves.reference_lines({Path(p).parent.name: read_baselines(p) for p in baselines}, labels)
    return getattr(curves, kind)(data, references, step_axis=step_axis), data


def draw(
    kind: str, inputs: list[Path], labels: dict, step_axis: str, dpi: int, out_prefix: Path, baselines: list[Path] = ()
) -> list[Path]:
    save.style()
    fig, data = _figure_and_data(kind, inputs, labels, step_axis, baselines)
    return save.save(fig, data, out_prefix, dpi)
