"""Every analysis of the study, one row each. The workflow derives its rules, their settings, the
figures and the report's captions from these rows; `grokstudy analyze` runs a row's module.

An analysis module defines `per_checkpoint(model, step, job, prepared)`, returning rows per
table, and optionally `prepare(job)` (what every checkpoint reuses) and `nulls(job, prepared)`
(rows of its null tables, from networks that never trained). Null tables depend on the dataset
and the model only, so the runs that share both share them (`null_set`). Standard library only: the
Snakefile imports it at every plan.
"""

from dataclasses import dataclass

from grokstudy.analyses.null_sets import null_set

__all__ = ["ANALYSES", "BY_NAME", "Analysis", "applies", "null_set", "settings_of"]

TASKS = ("composition", "comparison")
# Settings of the preset's `probes` section, by what reads them.
QUERY_SETTINGS = ("max_queries", "bootstrap_resamples", "confidence")
NULL_SETTINGS = ("null_seeds",)


@dataclass(frozen=True)
class Analysis:
    name: str  # the rule's name, and the log and table directory's key
    module: str  # where per_checkpoint / prepare / nulls live
    tables: tuple[str, ...]  # tables from the run's checkpoints, results/<preset>/probes/<run>/<table>.parquet
    settings: tuple[str, ...] = ()  # keys of `probes` the checkpoint job reads
    null_tables: tuple[str, ...] = ()  # tables of the null job (`<name>_nulls`); empty: no null job
    null_settings: tuple[str, ...] = ()  # keys of `probes` the null job reads
    tasks: tuple[str, ...] = TASKS  # the tasks whose runs it applies to
    trained_on: tuple[str, ...] = ("all", "atomic")  # ...and the training facts of those runs
    architectures: tuple[str, ...] | None = None  # ...and the model architectures (None: every one)
    reads_logged_metrics: bool = False  # the checkpoint job also reads the run's metrics.parquet
    figure: str | None = None  # "module:function" drawing one figure per run from the tables below
    figure_tables: tuple[str, ...] = ()  # what the figure reads: some of `tables` and `null_tables`
    caption: str | None = None  # workflow/report/<caption>.rst, shared by both reports

    @property
    def null_rule(self) -> str:
        return f"{self.name}_nulls"

    @property
    def null_module_settings(self) -> tuple[str, ...]:
        return (*self.settings, *self.null_settings)


def lens_probe(name: str, tables: tuple[str, ...], **row) -> Analysis:
    """A probe that reads the residual stream on the probe queries, against its null networks, and
    draws one figure from its first table and its null table (the logit lens, causal tracing)."""
    null_table = f"null_{name}"
    return Analysis(
        name,
        f"grokstudy.analyses.{name}",
        tables=tables,
        settings=QUERY_SETTINGS,
        null_tables=(null_table,),
        null_settings=NULL_SETTINGS,
        figure=f"grokstudy.figures.lens:{name}_figure",
        figure_tables=(tables[0], null_table),
        caption=name,
        **row,
    )


ANALYSES = (
    lens_probe("logit_lens", ("logit_lens", "logit_lens_queries")),
    Analysis(
        "checkpoint_accuracy",
        "grokstudy.analyses.checkpoint_accuracy",
        tables=("checkpoint_accuracy",),
        reads_logged_metrics=True,
    ),
    lens_probe(
        "causal_tracing", ("causal_tracing", "causal_tracing_queries"), tasks=("composition",), trained_on=("all",)
    ),
    Analysis(
        "weight_norms",
        "grokstudy.analyses.weight_norms",
        tables=("weight_norms",),
        null_tables=("null_weight_norms",),
        null_settings=NULL_SETTINGS,
        trained_on=("all",),
        figure="grokstudy.figures.norms:weight_norms_figure",
        figure_tables=("weight_norms", "null_weight_norms"),
        caption="weight_norms",
    ),
    Analysis(
        "recurrence_sweep",
        "grokstudy.analyses.recurrence_sweep",
        tables=("recurrence_sweep", "recurrence_sweep_items"),
        settings=("bootstrap_resamples", "confidence"),
        tasks=("composition",),
        trained_on=("all",),
        architectures=("looped_gpt2",),
        figure="grokstudy.figures.recurrent:recurrence_sweep_figure",
        figure_tables=("recurrence_sweep",),
        caption="recurrence_sweep",
    ),
)
BY_NAME = {analysis.name: analysis for analysis in ANALYSES}


def applies(analysis: Analysis, task: str, training_facts: str = "all", architecture: str = "gpt2") -> bool:
    return (
        task in analysis.tasks
        and training_facts in analysis.trained_on
        and (analysis.architectures is None or architecture in analysis.architectures)
    )


def settings_of(probes: dict, keys: tuple[str, ...]) -> dict:
    """The part of the preset's `probes` section a job reads."""
    return {key: probes[key] for key in keys if key in probes}
