"""The preset as typed models: defaults, types, ranges and descriptions in one place.

Pydantic rather than dataclasses: it validates nested mappings with exact error locations,
refuses 200.0 where an integer is meant (strict mode), and writes the JSON schema that
`workflow/schemas/preset.schema.json` holds, descriptions included. Cross-references between
sections are checked in `grokstudy.config.checks`.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from grokstudy.models import ARCHITECTURES, DEFAULT_ARCH
from grokstudy.monitors import registry as monitor_registry

# Names become directory names under results/<preset>/: no separators, no leading dot (so
# neither "." nor ".."), no whitespace or newline.
NAME_REGEX = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}"
NAME_PATTERN = f"^{NAME_REGEX}$"
TASKS = ("composition", "comparison")
# Curve figures and what each contrasts (None: a panel per run, no contrast).
CURVE_FIGURES = ("accuracy_curves", "phi_sweep", "weight_decay", "data_size")

Name = Annotated[
    str, Field(pattern=NAME_PATTERN, description="a name used in paths: letters, digits, _ . -; no leading dot")
]
Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]
OpenFraction = Annotated[float, Field(gt=0, lt=1)]
Probability = Annotated[float, Field(gt=0, le=1)]


class Section(BaseModel):
    """Unknown keys are errors (a typo must not be ignored); integers must be integers."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class DatasetFields(Section):
    ood_fraction: Annotated[
        OpenFraction,
        Field(description="share of atomic facts (composition) or entities per attribute (comparison) held out as OOD"),
    ]
    test_id_fraction: Annotated[
        OpenFraction, Field(description="share of ID two-hop candidates held out as the ID test split")
    ]
    phi: Annotated[float, Field(gt=0, le=1000, description="inferred training facts per ID atomic fact")]
    max_eval_items: Annotated[int, Field(ge=10, le=100_000, description="items per evaluation split at most")]
    seed: Annotated[
        Seed | None, Field(description="seed of the generated world; leave out when the preset lists seeds")
    ] = None


class CompositionDataset(DatasetFields):
    task: Annotated[
        Literal["composition"], Field(description="the composition task: two-hop queries <e_h> <r1> <r2> -> <e_t>")
    ]
    entities: Annotated[int, Field(ge=2, le=1_000_000, description="entities in the world")]
    relations: Annotated[int, Field(ge=1, le=100_000, description="relations in the world")]
    out_degree: Annotated[
        int, Field(ge=1, le=100_000, description="distinct relations per head entity, at most relations")
    ]
    inferred_labels: Annotated[
        Literal["shuffled"] | None,
        Field(
            description="shuffled: the training two-hop facts' tails are permuted among themselves (a control with "
            "nothing to generalize); leave out for true labels"
        ),
    ] = None


class ComparisonDataset(DatasetFields):
    task: Annotated[
        Literal["comparison"], Field(description="the comparison task: <a> <q> <e1> <mask> <e2> -> <lt>|<eq>|<gt>")
    ]
    entities: Annotated[int, Field(ge=4, le=1_000_000, description="entities in the world")]
    attributes: Annotated[int, Field(ge=1, le=10_000, description="attributes each entity has a value for")]
    values: Annotated[int, Field(ge=2, le=10_000, description="ordinal values per attribute")]


Dataset = Annotated[CompositionDataset | ComparisonDataset, Field(discriminator="task")]


class ModelSpec(Section):
    arch: Annotated[
        Literal[ARCHITECTURES],
        Field(
            description="the architecture (grokstudy.models): gpt2 is transformers' GPT2LMHeadModel; looped_gpt2 "
            "applies its layers_per_loop GPT-2 blocks recurrence times (recurrent depth)"
        ),
    ] = DEFAULT_ARCH
    d_model: Annotated[int, Field(ge=2, le=16384, description="width of the residual stream")]
    layers: Annotated[int | None, Field(ge=1, le=128, description="GPT-2 blocks (gpt2 only)")] = None
    layers_per_loop: Annotated[
        int | None, Field(ge=1, le=128, description="distinct blocks of one loop (looped_gpt2 only)")
    ] = None
    recurrence: Annotated[
        int | None, Field(ge=1, le=64, description="loops of the blocks in training (looped_gpt2 only)")
    ] = None
    heads: Annotated[int, Field(ge=1, le=256, description="attention heads; must divide d_model")]
    dropout: Annotated[float, Field(ge=0, le=0.9, description="dropout probability in attention and MLP")]
    mlp_ratio: Annotated[int, Field(ge=1, le=16, description="MLP width as a multiple of d_model")] = 4
    max_positions: Annotated[
        int, Field(ge=5, le=4096, description="positions the model can read; a prompt is at most 5 tokens")
    ] = 8
    tie_embeddings: Annotated[
        bool, Field(description="share one matrix between the token embeddings and the output head (GPT-2's default)")
    ] = True
    init_std: Annotated[
        float,
        Field(
            gt=0,
            le=1,
            description=(
                "standard deviation of the normal initialization of weights and embeddings (GPT-2's initializer_range)"
            ),
        ),
    ] = 0.02


class CheckpointSchedule(Section):
    count: Annotated[int, Field(ge=2, le=1000, description="checkpoints per run, step 0 and the last step included")]
    dense_fraction: Annotated[
        OpenFraction, Field(description="the early share of training that gets dense checkpoints")
    ]
    dense_count: Annotated[int, Field(ge=1, le=1000, description="checkpoints inside the dense part; below count")]


class RunSettings(Section):
    """One training run. Every key may also be given once under run_defaults."""

    dataset: Name
    model: Name
    seed: Annotated[
        Seed | None,
        Field(description="seed of the initialization and of the batch order; leave out when the preset lists seeds"),
    ] = None
    steps: Annotated[int, Field(ge=1, le=100_000_000, description="optimizer steps")]
    batch_size: Annotated[int, Field(ge=1, le=1_000_000, description="prompts per step")]
    lr: Annotated[float, Field(gt=0, le=1, description="peak learning rate (AdamW)")]
    betas: Annotated[
        list[Annotated[float, Field(ge=0, lt=1)]],
        Field(min_length=2, max_length=2, description="AdamW's beta1 and beta2"),
    ]
    weight_decay: Annotated[
        float, Field(ge=0, le=10, description="AdamW weight decay on the matrices (biases and norms are not decayed)")
    ]
    warmup_steps: Annotated[
        int, Field(ge=0, le=100_000_000, description="steps of linear warm-up before the constant learning rate")
    ]
    grad_clip: Annotated[float, Field(ge=0, le=1000, description="gradient norm clip; 0 turns clipping off")]
    eval_every: Annotated[int, Field(ge=1, le=100_000_000, description="steps between evaluations of every split")]
    checkpoints: Annotated[CheckpointSchedule, Field(description="when checkpoints are written")]
    compile: Annotated[bool, Field(description="capture the training step with torch.compile")] = False
    training_facts: Annotated[
        Literal["all", "atomic"],
        Field(
            description=(
                "all: the training split; atomic: its one-hop facts only (a control that never sees a two-hop fact)"
            )
        ),
    ] = "all"
    embedding_weight_decay: Annotated[
        bool, Field(description="apply weight decay to token and position embeddings")
    ] = True
    replicates: Annotated[
        list[Seed] | None,
        Field(
            min_length=1,
            description="the preset's seeds this run is replicated over (a subset of seeds); left out: every seed",
        ),
    ] = None


def _every_key_optional(model: type[Section], name: str, doc: str) -> type[Section]:
    """The same keys, types and ranges as `model`, each optional (for a defaults section)."""
    fields = {
        key: (Annotated[(info.annotation, Field(), *info.metadata)] | None, Field(None, description=info.description))
        for key, info in model.model_fields.items()
    }
    return create_model(name, __base__=Section, __doc__=doc, **fields)


RunDefaults = _every_key_optional(RunSettings, "RunDefaults", "Keys shared by every run; a run's own keys win.")


class ProbeSettings(Section):
    runs: Annotated[list[Name], Field(min_length=1, description="runs whose checkpoints are probed")]
    null_seeds: Annotated[list[Seed], Field(min_length=2, description="seeds of the random-init null networks")]
    max_queries: Annotated[int, Field(ge=10, le=100_000, description="queries per split and probe site")]
    bootstrap_resamples: Annotated[
        int, Field(ge=50, le=100_000, description="bootstrap resamples behind each interval")
    ]
    confidence: Annotated[float, Field(ge=0.5, lt=1, description="level of every bootstrap interval")]


class CurveFigure(Section):
    runs: Annotated[list[Name], Field(min_length=1, description="the runs the figure draws")]
    step_axis: Annotated[Literal["log", "linear"], Field(description="scale of the step axis")] = "log"


class FigureSettings(Section):
    """Curve figures by their runs; logit-lens and causal-tracing figures come with every probed run."""

    accuracy_curves: Annotated[CurveFigure, Field(description="accuracy against step per split, one panel per run")]
    phi_sweep: Annotated[
        CurveFigure | None, Field(description="ID accuracy across phi (optional; at least two phi values)")
    ] = None
    weight_decay: Annotated[
        CurveFigure | None, Field(description="ID accuracy across weight decay (optional; at least two values)")
    ] = None
    data_size: Annotated[
        CurveFigure | None,
        Field(description="ID accuracy against epochs across |E| at one phi (optional; at least two sizes)"),
    ] = None
    dpi: Annotated[int, Field(ge=50, le=600, description="resolution of the PNG figures")]


class RecurrentClaimSettings(Section):
    """Criteria of R1-R5 (docs/recurrent.md): fixed from "Loop, Think, & Generalize", not from our runs."""

    looped_run: Annotated[Name, Field(description="the looped arm R1 and R3-R5 read (its base name)")]
    vanilla_runs: Annotated[
        list[Name],
        Field(
            min_length=1,
            description="R2 and R4: the vanilla arms (one loop), on the looped arm's dataset, told apart by depth: "
            "as deep as the looped arm (equal FLOPs per token) or as one of its loops (equal parameters)",
        ),
    ]
    ood_epochs: Annotated[
        float,
        Field(
            gt=0,
            le=1_000_000,
            description="epochs the paper's looped model needed to compose OOD (R = 4: about 2000): a run "
            "stopped earlier with OOD at its baseline is censored, not failed",
        ),
    ] = 2000.0
    stage_gap_evaluations: Annotated[
        int, Field(ge=1, le=1000, description="R3: evaluations between ID generalizing and OOD rising, at least")
    ] = 2


class ClaimSettings(Section):
    """Criteria of the claims (docs/study.md §4): fixed from the paper's statements, not from our runs."""

    fit_threshold: Annotated[Probability, Field(description="train two-hop accuracy that counts as fitted")]
    generalize_threshold: Annotated[Probability, Field(description="ID test accuracy that counts as generalized")]
    memorized_threshold: Annotated[
        Probability, Field(description="training accuracy that marks the end of memorization")
    ]
    id_at_fit_ceiling: Annotated[
        Probability,
        Field(description="C1: ID test accuracy allowed at the step training fits (the paper: at most 0.092)"),
    ] = 0.2
    comparison_margin: Annotated[
        float, Field(ge=0, le=1, description="C6: how far above its baseline accuracy must be")
    ]
    epoch_ratio: Annotated[
        float,
        Field(
            ge=1, le=100, description="C4: largest ratio between the epochs different world sizes need to generalize"
        ),
    ] = 1.5
    grokking_run: Annotated[Name | None, Field(description="a composition run trained on all facts (C1, C7)")] = None
    comparison_run: Annotated[Name | None, Field(description="a comparison run (C6)")] = None
    bridge_mrr_level: Annotated[
        Probability,
        Field(
            description="C7: the bridge layer is the earliest intermediate layer whose selection-half bridge MRR "
            "reaches this (else 5/8 of the depth)"
        ),
    ] = 0.5
    control_sensitivity_runs: Annotated[
        list[Name],
        Field(
            description="C7-bridge: further atomic-only controls of other lengths, reported beside the matched "
            "control_run (a sensitivity table; the verdict reads control_run)"
        ),
    ] = []
    recurrent: Annotated[
        RecurrentClaimSettings | None,
        Field(description="the recurrent-depth claims R1-R5; a preset with them is tested on R1-R5 only"),
    ] = None
    control_run: Annotated[
        Name | None,
        Field(
            description="C7-bridge's control: the grokking run's dataset and model trained on atomic facts only, "
            "as many atomic-fact epochs as the grokking run's last checkpoint, and probed"
        ),
    ] = None
    step_control_run: Annotated[
        Name | None,
        Field(
            description="C7's second control: the grokking run's dataset and model trained on atomic facts only, "
            "with the grokking run's steps and schedule, and probed"
        ),
    ] = None


Sha256 = Annotated[str, Field(pattern="^[0-9a-f]{64}$", description="a sha256 in hex")]


class MonitorProtocol(Section):
    """Test-free monitors of generalization and their lead-time evaluation (docs/monitors.md).
    Detector settings are tuned on the dev seeds' runs, then frozen into `detectors`."""

    grokking_runs: Annotated[
        list[Name], Field(min_length=1, description="composition runs on all facts whose generalization is announced")
    ]
    non_grokking_runs: Annotated[
        list[Name], Field(description="runs expected never to generalize (weight decay 0, shuffled labels)")
    ] = []
    dev_seeds: Annotated[
        list[Seed], Field(min_length=1, description="seeds of the grokking runs the detectors are tuned on")
    ]
    band_trajectories: Annotated[
        int, Field(ge=1, le=1000, description="sequences of fresh networks in the random-init band")
    ] = 4
    fit_threshold: Annotated[Probability, Field(description="training accuracy that ends the scaling window")] = 0.99
    max_false_alarm: Annotated[
        Probability, Field(description="false alarms allowed: the band's at tuning, non-grokking runs' at a claim")
    ] = 0.1
    min_hits: Annotated[Probability, Field(description="held-out runs announced before T90 needed for a claim")] = 0.8
    schedule_fraction: Annotated[
        OpenFraction, Field(description="the schedule-only null alarms at this fraction of the dev median T90")
    ] = 0.75
    detectors: Annotated[
        str | None,
        Field(description="the frozen detector file (JSON, relative to the repository); left out: not frozen yet"),
    ] = None
    detectors_sha256: Annotated[Sha256 | None, Field(description="the frozen file's hash, recorded at freezing")] = None


def _monitor_field(setting: monitor_registry.Setting):
    """A monitor group's setting, as its registry row declares it, as a typed field."""
    bounds = {"ge": setting.low, "le": setting.high, "gt": setting.above, "pattern": setting.pattern}
    field = Field(description=setting.description, **{k: v for k, v in bounds.items() if v is not None})
    return Annotated[type(setting.default), field], setting.default


# The protocol's keys, then every monitor group's settings from grokstudy.monitors.registry.
MonitorStudy = create_model(
    "MonitorStudy",
    __base__=MonitorProtocol,
    __doc__=MonitorProtocol.__doc__,
    **{key: _monitor_field(setting) for key, setting in monitor_registry.settings().items()},
)


class Preset(Section):
    """A study preset: datasets, models, runs, probes, figures and claims."""

    name: Annotated[Name, Field(description="results go to results/<name>/")]
    description: Annotated[
        str, Field(max_length=2000, description="a sentence on what the preset is for, shown in its report")
    ] = ""
    device: Annotated[Literal["auto", "cpu", "cuda"], Field(description="auto: cuda when a GPU is visible")]
    threads_per_job: Annotated[int, Field(ge=1, le=256, description="torch threads per job")]
    datasets: Annotated[dict[Name, Dataset], Field(min_length=1, description="the worlds, by name")]
    models: Annotated[dict[Name, ModelSpec], Field(min_length=1, description="the model architectures, by name")]
    seeds: Annotated[
        list[Seed] | None,
        Field(
            min_length=1,
            max_length=20,
            description=(
                "replicates: every dataset and run once per seed, named <name>.s<seed>; the seed is the world's "
                "and the run's (initialization and batch order)"
            ),
        ),
    ] = None
    run_defaults: Annotated[RunDefaults, Field(description="settings every run takes unless it sets them itself")] = (
        RunDefaults()
    )
    runs: Annotated[dict[Name, RunSettings], Field(min_length=1)]
    probes: Annotated[ProbeSettings, Field(description="what the analyses read")]
    figures: Annotated[FigureSettings, Field(description="which figures are drawn, and how")]
    claims: Annotated[ClaimSettings, Field(description="which runs each claim reads, and its criteria")]
    monitors: Annotated[
        MonitorStudy | None, Field(description="test-free monitors and their lead-time evaluation (optional)")
    ] = None
