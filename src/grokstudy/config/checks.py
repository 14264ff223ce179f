"""Checks across sections of a typed preset: references resolve, worlds are possible."""

from grokstudy.config.model import CURVE_FIGURES, CompositionDataset, Preset
from grokstudy.data.specs import ComparisonSpec, CompositionSpec, comparison_phi_max, composition_phi_max
from grokstudy.errors import ConfigError


def _check_dataset(key: str, ds) -> None:
    fields = ds.model_dump(exclude={"task"})
    if isinstance(ds, CompositionDataset):
        if ds.out_degree > ds.relations:
            raise ConfigError(f"{key}.out_degree", f"{ds.out_degree} exceeds relations; allowed: 1..{ds.relations}")
        n_atomic = ds.entities * ds.out_degree
        if round(ds.ood_fraction * n_atomic) < 1:
            raise ConfigError(f"{key}.ood_fraction", f"{ds.ood_fraction} selects no OOD fact among {n_atomic}; allowed: >= {1 / n_atomic:.4g}")
        limit = composition_phi_max(CompositionSpec(**fields))
    else:
        if round(ds.ood_fraction * ds.entities) < 2:
            raise ConfigError(f"{key}.ood_fraction", f"{ds.ood_fraction} gives fewer than 2 OOD entities; allowed: >= {2 / ds.entities:.4g}")
        limit = comparison_phi_max(ComparisonSpec(**fields))
    # The generator checks the exact bound; this catches clearly impossible values up front.
    if ds.phi > limit * 1.02:
        raise ConfigError(f"{key}.phi", f"{ds.phi} is beyond what the candidates allow; allowed range: (0, ~{limit:.2f}]")


def _check_runs(preset: Preset) -> None:
    for name, run in preset.runs.items():
        if run.dataset not in preset.datasets:
            raise ConfigError(f"runs.{name}.dataset", f"{run.dataset!r} is not defined; allowed: {sorted(preset.datasets)}")
        if run.model not in preset.models:
            raise ConfigError(f"runs.{name}.model", f"{run.model!r} is not defined; allowed: {sorted(preset.models)}")
        if run.checkpoints.dense_count >= run.checkpoints.count:
            raise ConfigError(f"runs.{name}.checkpoints.dense_count", f"{run.checkpoints.dense_count}; allowed: below count={run.checkpoints.count}")
        if run.warmup_steps > run.steps:
            raise ConfigError(f"runs.{name}.warmup_steps", f"{run.warmup_steps}; allowed: at most steps={run.steps}")


def _run_references(preset: Preset) -> list[tuple[str, list[str]]]:
    references = [("probes.runs", preset.probes.runs)]
    for figure in CURVE_FIGURES:
        section = getattr(preset.figures, figure)
        if section is not None:
            references.append((f"figures.{figure}.runs", section.runs))
    for key in ("grokking_run", "comparison_run"):
        if getattr(preset.claims, key) is not None:
            references.append((f"claims.{key}", [getattr(preset.claims, key)]))
    return references


def _check_references(preset: Preset) -> None:
    for key, names in _run_references(preset):
        for run in names:
            if run not in preset.runs:
                raise ConfigError(key, f"{run!r} is not a run; allowed: {sorted(preset.runs)}")
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ConfigError(key, f"lists {', '.join(twice)} more than once; allowed: each run once")
    if len(set(preset.probes.null_seeds)) != len(preset.probes.null_seeds):
        raise ConfigError("probes.null_seeds", f"{preset.probes.null_seeds} repeats a seed; allowed: distinct seeds")


def check(preset: Preset) -> None:
    """Raise a ConfigError for the first cross-section problem."""
    for name, ds in preset.datasets.items():
        _check_dataset(f"datasets.{name}", ds)
    for name, model in preset.models.items():
        if model.d_model % model.heads:
            raise ConfigError(f"models.{name}.heads", f"{model.heads} does not divide d_model={model.d_model}")
    _check_runs(preset)
    _check_references(preset)
