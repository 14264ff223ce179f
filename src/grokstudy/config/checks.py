"""Checks across sections of a typed preset: references resolve, worlds are possible."""

from pathlib import Path

from grokstudy import models, sites
from grokstudy.config.model import CURVE_FIGURES, CompositionDataset, Preset
from grokstudy.config.replicates import longest_suffix
from grokstudy.data.specs import ComparisonSpec, CompositionSpec, comparison_phi_max, composition_phi_max
from grokstudy.errors import ConfigError, CorruptArtifactError
from grokstudy.monitors import frozen


def _check_dataset(key: str, ds) -> None:
    fields = ds.model_dump(exclude={"task"})
    if isinstance(ds, CompositionDataset):
        if ds.out_degree > ds.relations:
            raise ConfigError(f"{key}.out_degree", f"{ds.out_degree} exceeds relations; allowed: 1..{ds.relations}")
        n_atomic = ds.entities * ds.out_degree
        if round(ds.ood_fraction * n_atomic) < 1:
            raise ConfigError(
                f"{key}.ood_fraction",
                f"{ds.ood_fraction} selects no OOD fact among {n_atomic}; allowed: >= {1 / n_atomic:.4g}",
            )
        limit = composition_phi_max(CompositionSpec(**fields))
    else:
        if round(ds.ood_fraction * ds.entities) < 2:
            raise ConfigError(
                f"{key}.ood_fraction",
                f"{ds.ood_fraction} gives fewer than 2 OOD entities; allowed: >= {2 / ds.entities:.4g}",
            )
        limit = comparison_phi_max(ComparisonSpec(**fields))
    # The generator checks the exact bound; this catches clearly impossible values up front.
    if ds.phi > limit * 1.02:
        raise ConfigError(
            f"{key}.phi", f"{ds.phi} is beyond what the candidates allow; allowed range: (0, ~{limit:.2f}]"
        )


def _check_runs(preset: Preset) -> None:
    for name, run in preset.runs.items():
        if run.dataset not in preset.datasets:
            raise ConfigError(
                f"runs.{name}.dataset", f"{run.dataset!r} is not defined; allowed: {sorted(preset.datasets)}"
            )
        if run.model not in preset.models:
            raise ConfigError(f"runs.{name}.model", f"{run.model!r} is not defined; allowed: {sorted(preset.models)}")
        if run.checkpoints.dense_count >= run.checkpoints.count:
            raise ConfigError(
                f"runs.{name}.checkpoints.dense_count",
                f"{run.checkpoints.dense_count}; allowed: below count={run.checkpoints.count}",
            )
        if run.warmup_steps > run.steps:
            raise ConfigError(f"runs.{name}.warmup_steps", f"{run.warmup_steps}; allowed: at most steps={run.steps}")


def _check_seeds(preset: Preset) -> None:
    """Either the preset lists seeds (replicates) or every dataset and run names its own."""
    if preset.seeds is None:
        for section in ("datasets", "runs"):
            for name, entry in getattr(preset, section).items():
                if entry.seed is None:
                    raise ConfigError(
                        f"{section}.{name}.seed", "missing; allowed: an integer seed here, or a top-level seeds list"
                    )
        return
    if len(set(preset.seeds)) != len(preset.seeds):
        raise ConfigError("seeds", f"{preset.seeds} repeats a seed; allowed: distinct seeds")
    for section in ("datasets", "runs"):
        for name, entry in getattr(preset, section).items():
            if entry.seed is not None:
                raise ConfigError(
                    f"{section}.{name}.seed",
                    "given with a top-level seeds list, which sets it; allowed: one or the other",
                )
            if len(name) + longest_suffix(preset.seeds) > 64:
                raise ConfigError(
                    f"{section}.{name}",
                    f"too long to carry a seed suffix; allowed: at most {64 - longest_suffix(preset.seeds)} characters",
                )


def _task(preset: Preset, run: str) -> str:
    return preset.datasets[preset.runs[run].dataset].task


def _check_claim_runs(preset: Preset) -> None:
    """Each claim's run can support its claim."""
    claims = preset.claims
    grok, comparison, control = claims.grokking_run, claims.comparison_run, claims.control_run
    if grok is not None and (_task(preset, grok) != "composition" or preset.runs[grok].training_facts != "all"):
        raise ConfigError(
            "claims.grokking_run", f"{grok!r} is not a composition run trained on all facts; allowed: such a run"
        )
    if comparison is not None and _task(preset, comparison) != "comparison":
        raise ConfigError(
            "claims.comparison_run", f"{comparison!r} is a {_task(preset, comparison)} run; allowed: a comparison run"
        )
    if control is None:
        for key in ("control_sensitivity_runs", "step_control_run"):
            if getattr(claims, key):
                raise ConfigError(f"claims.{key}", "given without claims.control_run; allowed: with a control_run")
        return
    if grok is None:
        raise ConfigError(
            "claims.control_run", "given without claims.grokking_run; allowed: a control of the grokking run"
        )
    step_control = [claims.step_control_run] if claims.step_control_run is not None else []
    for key, names in (
        ("claims.control_run", [control]),
        ("claims.step_control_run", step_control),
        ("claims.control_sensitivity_runs", claims.control_sensitivity_runs),
    ):
        for name in names:
            _check_control(preset, key, name, grok)
    for name in step_control:
        _check_same_schedule(preset, name, grok)


# What the step-matched control shares with the grokking run: its steps and their schedule.
SCHEDULE_KEYS = (
    "steps",
    "lr",
    "warmup_steps",
    "weight_decay",
    "batch_size",
    "grad_clip",
    "betas",
    "seed",
    "replicates",
)


def _check_same_schedule(preset: Preset, control: str, grok: str) -> None:
    differ = [key for key in SCHEDULE_KEYS if getattr(preset.runs[control], key) != getattr(preset.runs[grok], key)]
    if differ:
        raise ConfigError(
            "claims.step_control_run",
            f"{control!r} differs from {grok!r} in {', '.join(differ)}; allowed: the grokking run's steps and schedule",
        )


def _check_control(preset: Preset, key: str, control: str, grok: str) -> None:
    run = preset.runs[control]
    if run.training_facts != "atomic" or (run.dataset, run.model) != (
        preset.runs[grok].dataset,
        preset.runs[grok].model,
    ):
        raise ConfigError(
            key,
            f"{control!r} must train the dataset and model of {grok!r} on atomic facts only (training_facts: atomic)",
        )
    if control not in preset.probes.runs or grok not in preset.probes.runs:
        raise ConfigError(
            "probes.runs", f"must list {grok!r} and its control {control!r}: C7-bridge reads both runs' logit lens"
        )


# What a contrast figure varies, and the facts of a run it reads.
CONTRASTS = {
    "phi_sweep": ("phi", lambda preset, run: preset.datasets[preset.runs[run].dataset].phi),
    "weight_decay": ("weight decay", lambda preset, run: preset.runs[run].weight_decay),
    "data_size": ("entities", lambda preset, run: preset.datasets[preset.runs[run].dataset].entities),
}


def _check_contrasts(preset: Preset) -> None:
    for figure, (varied, value) in CONTRASTS.items():
        section = getattr(preset.figures, figure)
        if section is None:
            continue
        for run in section.runs:
            if _task(preset, run) != "composition":
                raise ConfigError(
                    f"figures.{figure}.runs", f"{run!r} is a {_task(preset, run)} run; allowed: composition runs"
                )
        if len({value(preset, run) for run in section.runs}) < 2:
            raise ConfigError(
                f"figures.{figure}.runs",
                f"all runs share one {varied}; allowed: runs with at least two values of {varied}",
            )


def _run_references(preset: Preset) -> list[tuple[str, list[str]]]:
    references = [("probes.runs", preset.probes.runs)]
    for figure in CURVE_FIGURES:
        section = getattr(preset.figures, figure)
        if section is not None:
            references.append((f"figures.{figure}.runs", section.runs))
    for key in ("grokking_run", "comparison_run", "control_run", "step_control_run"):
        if getattr(preset.claims, key) is not None:
            references.append((f"claims.{key}", [getattr(preset.claims, key)]))
    references.append(("claims.control_sensitivity_runs", list(preset.claims.control_sensitivity_runs)))
    if preset.monitors is not None:
        references.append(("monitors.grokking_runs", list(preset.monitors.grokking_runs)))
        references.append(("monitors.non_grokking_runs", list(preset.monitors.non_grokking_runs)))
    if preset.claims.recurrent is not None:
        references.append(("claims.recurrent.looped_run", [preset.claims.recurrent.looped_run]))
        references.append(("claims.recurrent.vanilla_runs", list(preset.claims.recurrent.vanilla_runs)))
    return references


def _shape(preset: Preset, run: str) -> tuple[int, int]:
    """(blocks per loop, loops) of a run's model; a model that does not loop is one loop of its layers."""
    model = preset.models[preset.runs[run].model]
    return model.layers_per_loop or model.layers, model.recurrence or 1


def _check_recurrent_claims(preset: Preset) -> None:
    """R1-R5 read a probed looped run; R2 pairs it with vanilla runs on the same OOD items, each
    either as deep as the looped run (equal FLOPs) or as deep as one of its loops (equal parameters)."""
    settings = preset.claims.recurrent
    if settings is None:
        return
    looped = settings.looped_run
    per_loop, loops = _shape(preset, looped)
    if loops < 2:
        raise ConfigError(
            "claims.recurrent.looped_run", f"{looped!r} does not loop; allowed: a run whose model has recurrence >= 2"
        )
    if looped not in preset.probes.runs:
        raise ConfigError("claims.recurrent.looped_run", f"{looped!r} is not probed; allowed: a run in probes.runs")
    for vanilla in settings.vanilla_runs:
        if preset.runs[vanilla].dataset != preset.runs[looped].dataset:
            raise ConfigError(
                "claims.recurrent.vanilla_runs",
                f"{vanilla!r} is trained on another dataset; allowed: runs on {preset.runs[looped].dataset!r}",
            )
        blocks, vanilla_loops = _shape(preset, vanilla)
        if vanilla_loops != 1 or blocks not in (per_loop * loops, per_loop):
            raise ConfigError(
                "claims.recurrent.vanilla_runs",
                f"{vanilla!r} runs {blocks} blocks x {vanilla_loops} loops; allowed: one loop of "
                f"{per_loop * loops} blocks (equal FLOPs) or of {per_loop} (equal parameters)",
            )


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


def _check_model(key: str, model) -> None:
    """Each architecture's own depth keys are required, another architecture's are refused."""
    if model.d_model % model.heads:
        raise ConfigError(f"{key}.heads", f"{model.heads} does not divide d_model={model.d_model}")
    needed = models.architecture({"arch": model.arch}).depth_keys
    every = {field for arch in models.ARCHITECTURES for field in models.architecture({"arch": arch}).depth_keys}
    for field in sorted(every):
        given = getattr(model, field) is not None
        if field in needed and not given:
            raise ConfigError(f"{key}.{field}", f"missing; allowed: an integer, required by arch {model.arch}")
        if field not in needed and given:
            raise ConfigError(
                f"{key}.{field}", f"not used by arch {model.arch}; allowed keys for its depth: {', '.join(needed)}"
            )


# Directories beside the runs' under results/<preset>/probes/.
RESERVED_RUN_NAMES = ("nulls", "monitors")


def _check_replicates(preset: Preset) -> None:
    for name, run in preset.runs.items():
        if name in RESERVED_RUN_NAMES:
            raise ConfigError(f"runs.{name}", f"a reserved name; allowed: any name but {', '.join(RESERVED_RUN_NAMES)}")
        if run.replicates is None:
            continue
        if preset.seeds is None:
            raise ConfigError(f"runs.{name}.replicates", "given without a top-level seeds list; allowed: with seeds")
        outside = sorted(set(run.replicates) - set(preset.seeds))
        if outside or len(set(run.replicates)) != len(run.replicates):
            raise ConfigError(
                f"runs.{name}.replicates", f"{run.replicates}; allowed: distinct seeds among {preset.seeds}"
            )


def _check_monitors(preset: Preset) -> None:
    """Monitors read composition runs; the dev seeds leave held-out replicates; the frozen detectors
    are the ones whose hash the preset records."""
    monitors = preset.monitors
    if monitors is None:
        return
    if preset.seeds is None:
        raise ConfigError("monitors", "needs a top-level seeds list: dev and held-out runs are seeds of one run")
    for key, names in (
        ("monitors.grokking_runs", monitors.grokking_runs),
        ("monitors.non_grokking_runs", monitors.non_grokking_runs),
    ):
        for run in names:
            if _task(preset, run) != "composition" or preset.runs[run].training_facts != "all":
                raise ConfigError(key, f"{run!r} is not a composition run on all facts; allowed: such runs")
            spec = preset.models[preset.runs[run].model].model_dump(exclude_none=True)
            try:
                sites.depth_of(monitors.geometry_site, models.depth(spec), spec.get("layers_per_loop"))
            except ValueError as error:
                raise ConfigError("monitors.geometry_site", f"{error} (run {run!r})") from None
    both = sorted(set(monitors.grokking_runs) & set(monitors.non_grokking_runs))
    if both:
        raise ConfigError("monitors.non_grokking_runs", f"{both} also in grokking_runs; allowed: runs in one list only")
    for run in monitors.grokking_runs:
        seeds = preset.runs[run].replicates or preset.seeds
        if not set(monitors.dev_seeds) < set(seeds):
            raise ConfigError(
                "monitors.dev_seeds",
                f"{monitors.dev_seeds}; allowed: some but not all of {run!r}'s seeds {seeds}, leaving held-out runs",
            )
    _check_frozen_detectors(monitors)


def _check_frozen_detectors(monitors) -> None:
    if (monitors.detectors is None) != (monitors.detectors_sha256 is None):
        raise ConfigError(
            "monitors.detectors_sha256", "given without the other; allowed: detectors and its sha256 together"
        )
    if monitors.detectors is None:
        return
    try:
        record = frozen.read_frozen(Path(monitors.detectors), monitors.detectors_sha256)
    except (FileNotFoundError, ValueError, CorruptArtifactError) as error:
        raise ConfigError("monitors.detectors", str(error)) from None
    dev = sorted(record.get("development", {}).get("seeds", []))
    if dev != sorted(monitors.dev_seeds):
        raise ConfigError(
            "monitors.dev_seeds", f"{monitors.dev_seeds}, but the frozen detectors were tuned on seeds {dev}"
        )


def check(preset: Preset) -> None:
    """Raise a ConfigError for the first cross-section problem."""
    for name, ds in preset.datasets.items():
        _check_dataset(f"datasets.{name}", ds)
    for name, model in preset.models.items():
        _check_model(f"models.{name}", model)
    _check_seeds(preset)
    _check_runs(preset)
    _check_references(preset)
    _check_claim_runs(preset)
    _check_recurrent_claims(preset)
    _check_contrasts(preset)
    _check_replicates(preset)
    _check_monitors(preset)
