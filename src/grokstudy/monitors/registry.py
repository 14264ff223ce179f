"""Every monitor group of the study, one row each, as the analyses are rows of their registry. The
typed preset takes each group's settings from its row, the workflow its rules and tables, tuning
its candidate series, and the figures job its figure and caption.

A group's module defines `prepare(inferred, tokenizer, settings)`, what every checkpoint reuses,
read from the run's training two-hop facts alone, and `read(model, prepared, settings)`, the rows
(monitor, site, value) of one network. Each group writes its own table, so adding a group
computes no other group again. Standard library only: the Snakefile imports it at every plan.
"""

from dataclasses import dataclass

from grokstudy.sites import PATTERN as SITE_PATTERN

# Directories beside the groups' under results/<preset>/probes/monitors/.
RESERVED_NAMES = ("band", "summary")


@dataclass(frozen=True)
class Setting:
    """One key of the preset's monitors section that a group reads."""

    key: str
    default: int | float | str
    description: str
    low: float | None = None  # numbers: the smallest allowed value
    high: float | None = None  # numbers: the largest allowed value
    above: float | None = None  # numbers: allowed values lie strictly above this
    pattern: str | None = None  # text: what it must match


# The training sample the groups share: which facts, and how many queries.
SAMPLE_SEED = Setting("sample_seed", 0, "which training facts the monitors read", low=0, high=2**31 - 1)
QUERIES = Setting("queries", 500, "training two-hop queries the monitors read", low=10, high=100_000)


@dataclass(frozen=True)
class MonitorGroup:
    name: str  # the rule's wildcard and the table directory's name
    module: str  # where prepare / read live
    settings: tuple[Setting, ...]  # keys of the preset's monitors section the group's jobs read
    # The series whose detectors are tuned and judged: (monitor, site); site None takes every site
    # the group writes for that monitor. A group without candidates feeds the nulls only.
    candidates: tuple[tuple[str, str | None], ...] = ()
    figure: str = "grokstudy.figures.monitors:course_figure"  # "module:function" of the group's figure
    caption: str = "monitor_course"  # workflow/report/<caption>.rst

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(setting.key for setting in self.settings)

    @property
    def figure_stem(self) -> str:
        return f"monitor_{self.name}"


MONITORS = (
    MonitorGroup(
        "weights",
        "grokstudy.monitors.weights",
        settings=(QUERIES, SAMPLE_SEED),
        candidates=(("norm", "unembedding"), ("stable_rank", "blocks"), ("logit_scale", "train")),
    ),
    MonitorGroup("fit", "grokstudy.monitors.fit", settings=(QUERIES, SAMPLE_SEED)),
    MonitorGroup(
        "geometry",
        "grokstudy.monitors.geometry",
        settings=(
            QUERIES,
            SAMPLE_SEED,
            Setting(
                "geometry_site",
                "resid.2",
                "the residual site read at r1 for the bridge (resid.0: the embeddings)",
                pattern=SITE_PATTERN,
            ),
        ),
        candidates=(("participation_ratio", None), ("effective_rank", None), ("within_between_ratio", None)),
    ),
    MonitorGroup(
        "coherence",
        "grokstudy.monitors.coherence",
        settings=(SAMPLE_SEED, Setting("coherence_examples", 128, "per-example gradients", low=2, high=100_000)),
        candidates=(("gradient_coherence", "train"),),
    ),
    MonitorGroup(
        "commutator",
        "grokstudy.monitors.commutator",
        settings=(
            SAMPLE_SEED,
            Setting("commutator_pairs", 4, "pairs of training batches", low=1, high=1000),
            Setting("commutator_batch", 64, "queries per commutator batch", low=1, high=100_000),
            Setting("commutator_lr", 0.01, "step size of the commutator's SGD steps", above=0, high=1),
        ),
        candidates=(("commutator_defect", "train"),),
    ),
)
BY_NAME = {group.name: group for group in MONITORS}


def settings() -> dict[str, Setting]:
    """Every group's settings by key, each once (groups share the sample's)."""
    found: dict[str, Setting] = {}
    for group in MONITORS:
        for setting in group.settings:
            if found.setdefault(setting.key, setting) != setting:
                raise ValueError(f"monitor setting {setting.key!r} is declared twice, differently")
    return found


def candidates() -> tuple[tuple[str, str | None], ...]:
    """Every group's candidate series, in the registry's order."""
    return tuple(candidate for group in MONITORS for candidate in group.candidates)


def settings_of(monitors: dict, group: MonitorGroup) -> dict:
    """The part of the preset's monitors section one group's jobs read."""
    return {key: monitors[key] for key in group.keys}
