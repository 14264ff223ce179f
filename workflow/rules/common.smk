# Shared definitions: the validated preset, result paths, each job's settings and source files.
import functools
import json
import os
import sys

from grokstudy import claims_table, cluster, code_digest, models
from grokstudy.artifacts import job_records
from grokstudy import config as study_config
from grokstudy.analyses import registry
from grokstudy.monitors import registry as monitor_registry
from grokstudy.config import job_settings
from grokstudy.config.model import CURVE_FIGURES as CURVE_FIGURE_KINDS, NAME_REGEX
from grokstudy.data.specs import EVAL_SPLITS, generator_module
from grokstudy.errors import ConfigError

# The workflow profile (profiles/default) names config/config.yaml as the default --configfile,
# so an empty or broken preset is refused here instead of silently replaced by the default.
try:
    STUDY = study_config.for_snakemake(workflow.overwrite_configfiles, config)
except ConfigError as error:
    raise WorkflowError(f"invalid preset, nothing was run: {error}") from None

RESULTS = f"results/{STUDY['name']}"
LOGS = f"{RESULTS}/logs"
ENV = "../../envs/grokstudy.yaml"
FIGURE_FORMATS = ["png", "pdf", "csv"]


# Each rule's recorded params (its code digest and settings) go through JOB_PARAMS.wrap: a seal
# records them, a restore puts the sealed ones back, `grokstudy why` compares them
# (grokstudy.artifacts.job_records).
JOB_PARAMS = job_records.JobParams.from_environment(os.environ)
recorded = JOB_PARAMS.wrap


@functools.cache
def code(*entries):
    """The digest of the code a job runs (grokstudy.code_digest): a param, so only an edit that
    changes what its modules compute reruns it, never a comment, a docstring or another stage."""
    return JOB_PARAMS.code(code_digest.digest(entries, root=CODE_ROOT), entries, CODE_ROOT)


def architecture_of_model(name):
    """The module of a preset model's architecture: the jobs that build or load it run it."""
    return models.architecture_module(STUDY["models"][name])


def data_code(dataset):
    """A dataset's job runs the data stage and its own task's generator, imported by name."""
    return code(*code_digest.DATA, generator_module(STUDY["datasets"][dataset]["task"]))


def train_code(run):
    return code(*code_digest.training(architecture_of_model(STUDY["runs"][run]["model"])))


def analysis_code(module):
    """The code digest of an analysis's jobs: per run, or per null set (dataset+model)."""
    return {
        "run": lambda w: code(*code_digest.ANALYSIS, module, architecture_of_model(STUDY["runs"][w.run]["model"])),
        "nulls": lambda w: code(*code_digest.ANALYSIS_NULLS, module, architecture_of_model(NULL_SETS[w.nulls][1])),
    }


CODE_ROOT = Path(workflow.basedir) / "src" / "grokstudy"
CURVE_FIGURE_CODE = code(*code_digest.CURVE_FIGURES)
CLAIMS_CODE = code(*code_digest.CLAIMS)


def as_json(value):
    return json.dumps(value, sort_keys=True)


def settings(view, *names):
    """A job's settings as a JSON param: `view` (from job_settings) picks what the job uses."""
    return lambda wildcards: as_json(view(STUDY, *(getattr(wildcards, name) for name in names)))


def run_task(run):
    return job_settings.task(STUDY, run)


def training_cost(run):
    """Relative CPU cost of a run: steps x prompt length (comparison prompts are longer)."""
    return STUDY["runs"][run]["steps"] * (5 if run_task(run) == "comparison" else 3)


def dataset_cost(dataset):
    return max((training_cost(r) for r, spec in STUDY["runs"].items() if spec["dataset"] == dataset), default=0)


# What a job asks a cluster scheduler for (profiles/slurm, docs/cluster.md); the local run ignores it.
SECONDS_PER_STEP = cluster.seconds_per_step_override(os.environ)
# Probes run where training runs: on the GPU of a GPU preset (batched, fp32), else on the CPU.
PROBE_DEVICE = "cuda" if STUDY["device"] == "cuda" else "cpu"


def train_request(run):
    spec = STUDY["runs"][run]
    return cluster.train_resources(spec["steps"], run_task(run), job_settings.model(STUDY, run), STUDY["device"],
                                   SECONDS_PER_STEP, batch_size=spec["batch_size"], threads=STUDY["threads_per_job"])


def probe_request(attempt=1):
    return cluster.probe_resources(PROBE_DEVICE, attempt=attempt)


# The analyses of this preset: a registry row applies to the runs of its tasks.
def applies(analysis, run):
    spec = STUDY["runs"][run]
    arch = STUDY["models"][spec["model"]].get("arch", models.DEFAULT_ARCH)
    return registry.applies(analysis, run_task(run), spec.get("training_facts", "all"), arch)


ANALYSES = [a for a in registry.ANALYSES if any(applies(a, r) for r in STUDY["probes"]["runs"])]
PROBE_RULES = [rule for a in ANALYSES for rule in (a.name, *([a.null_rule] if a.null_tables else []))]

# Before any job runs: a gpu, mem_mb or runtime forced with --set-resources must fit every job of
# its rule. Planning (-n, --summary, --dag, --report) needs no GPU; executing a GPU preset on a
# machine without one stops before the first job, unless a cluster runs the jobs.
GPU_MISSING = cluster.missing_gpu(STUDY["name"], STUDY["device"], os.environ, cluster.local_gpu_visible)


onstart:
    if GPU_MISSING:
        print(GPU_MISSING, file=sys.stderr)
        sys.exit(1)


# What the files on disk were made with, for `grokstudy why`: the params of every job this run covered.
onsuccess:
    JOB_PARAMS.save_after_run(job_records.local_record(STUDY["name"]))


try:
    cluster.check_forced_resources(workflow.resource_settings.overwrite_resources, {
        "train": cluster.training_needs(STUDY["device"], {run: train_request(run) for run in STUDY["runs"]}),
        **{rule: cluster.probe_needs(PROBE_DEVICE, probe_request()) for rule in PROBE_RULES},
    })
except cluster.ClusterError as error:
    raise WorkflowError(str(error)) from None


def dataset_dir(run):
    return f"{RESULTS}/data/{STUDY['runs'][run]['dataset']}"


def checkpoint_dir(run):
    return f"{RESULTS}/checkpoints/{run}"


def figure_files(stem):
    return [f"{RESULTS}/figures/{stem}.{ext}" for ext in FIGURE_FORMATS]


def caption(kind):
    """The caption file of a figure kind: the study's report and Snakemake's --report both read it."""
    return f"workflow/report/{kind}.rst"


def figure_outputs(stem, kind, subcategory=None):
    """A figure's files, the PNG first and marked for Snakemake's --report with its caption."""
    png, *rest = figure_files(stem)
    marked = report(png, caption=f"../../{caption(kind)}", category="Figures", subcategory=subcategory)
    return [marked, *rest]


def metrics_of(runs):
    return [f"{RESULTS}/runs/{run}/metrics.parquet" for run in runs]


def figure_prefix(wildcards, output):
    return output[0][: -len(".png")]


def baselines_of(runs):
    """The baselines.json of the datasets these runs train on, each once."""
    return sorted({f"{dataset_dir(run)}/baselines.json" for run in runs})


PROBED_RUNS = STUDY["probes"]["runs"]


def analysed_runs(analysis):
    return [run for run in PROBED_RUNS if applies(analysis, run)]


def null_set(run):
    """The null networks a run is read against: those of its dataset and model (registry.null_set)."""
    return registry.null_set(STUDY["runs"][run]["dataset"], STUDY["runs"][run]["model"])


# Each null set by name: (dataset, model), so a null job knows what to build.
NULL_SETS = {null_set(run): (STUDY["runs"][run]["dataset"], STUDY["runs"][run]["model"]) for run in PROBED_RUNS}


def table_file(run, table):
    return f"{RESULTS}/probes/{run}/{table}.parquet"


def null_file(nulls, table):
    return f"{RESULTS}/probes/nulls/{nulls}/{table}.parquet"


def tables_of(name, table):
    """One table of an analysis (by its registry name) for every run it applies to, or for every
    null set of those runs when it is a null table."""
    analysis = registry.BY_NAME[name]
    if table in analysis.null_tables:
        return sorted({null_file(null_set(run), table) for run in analysed_runs(analysis)})
    return [table_file(run, table) for run in analysed_runs(analysis)]


def analysis_tables(analysis, run):
    """Every table of this analysis for a run: its own, and its null set's."""
    return {t: table_file(run, t) for t in analysis.tables} | {t: null_file(null_set(run), t) for t in analysis.null_tables}


def figure_inputs(analysis, run):
    return {t: path for t, path in analysis_tables(analysis, run).items() if t in analysis.figure_tables}


# Monitors (a preset's optional monitors section): tables under probes/monitors/, tuned on the dev
# runs; held-out runs are scored, and their figures drawn, once the preset records frozen detectors.
MONITORS = STUDY.get("monitors")
MONITOR_DIR = f"{RESULTS}/probes/monitors"
MONITOR_TUNING = f"{MONITOR_DIR}/summary/tuning.json"
MONITOR_LEAD_TIMES = f"{MONITOR_DIR}/summary/lead_times.parquet"
MONITOR_TABLE = f"{RESULTS}/{claims_table.MONITORS_TABLE}"
MONITOR_ROLES = job_settings.monitor_runs(STUDY) if MONITORS else {}
MONITORED_RUNS = [run for runs in MONITOR_ROLES.values() for run in runs]
MONITOR_RUN_ROLES = {
    run: [role, STUDY["replicate_of"][run]["base"]] for role, runs in MONITOR_ROLES.items() for run in runs
}
BAND_RUN = MONITOR_ROLES["dev"][0] if MONITORS else None
FROZEN = bool(MONITORS and MONITORS.get("detectors"))
MONITOR_GROUPS = monitor_registry.MONITORS
MONITOR_FIGURES = (
    [(group.figure_stem, group.caption) for group in MONITOR_GROUPS]
    + [(stem, stem) for stem in ("monitor_leads", "monitor_alarm_times", "monitor_false_alarms")]
    if FROZEN
    else []
)


def monitor_file(group, run):
    """One group's table of one run; each group writes its own, so a new group recomputes no other."""
    return f"{MONITOR_DIR}/{group}/{run}.parquet"


def monitor_band_file(group):
    return f"{MONITOR_DIR}/band/{group}.parquet"


def monitor_files(runs):
    return [monitor_file(group.name, run) for run in runs for group in MONITOR_GROUPS]


MONITOR_BANDS = [monitor_band_file(group.name) for group in MONITOR_GROUPS]


def run_checkpoint_steps(run):
    """The steps a run checkpoints at (the random-init band's slots)."""
    from grokstudy.training.schedule import checkpoint_steps

    spec = STUDY["runs"][run]
    return checkpoint_steps(spec["steps"], **spec["checkpoints"])


MONITOR_TABLES = (
    monitor_files(MONITORED_RUNS)
    + [*MONITOR_BANDS, MONITOR_TUNING]
    + ([MONITOR_LEAD_TIMES, MONITOR_TABLE] if FROZEN else [])
    if MONITORS
    else []
)

ANALYSIS_FIGURES = [a for a in ANALYSES if a.figure]
# The weight-decay contrast is optional: it costs a run that the CPU preset cannot afford.
CURVE_FIGURES = [c for c in CURVE_FIGURE_KINDS if c in STUDY["figures"]]
FIGURE_STEMS = [
    *CURVE_FIGURES,
    *(f"{a.name}_{run}" for a in ANALYSIS_FIGURES for run in analysed_runs(a)),
    *(stem for stem, _ in MONITOR_FIGURES),
]
FIGURE_KINDS = [*CURVE_FIGURES, *(a.caption for a in ANALYSIS_FIGURES), *dict.fromkeys(k for _, k in MONITOR_FIGURES)]
ALL_FIGURES = [f for stem in FIGURE_STEMS for f in figure_files(stem)]
ALL_DATASETS = [f"{RESULTS}/data/{dataset}/manifest.json" for dataset in STUDY["datasets"]]
ALL_PROBE_TABLES = sorted(
    {f for a in ANALYSES for run in analysed_runs(a) for f in analysis_tables(a, run).values()} | set(MONITOR_TABLES)
)
REPORT = f"{RESULTS}/report/index.html"
CLAIMS = f"{RESULTS}/{claims_table.CLAIMS_CSV}"


# The same pattern as the preset's names: nothing a wildcard matches can leave its directory.
wildcard_constraints:
    run=NAME_REGEX,
    dataset=NAME_REGEX,
    nulls=f"{NAME_REGEX}[+]{NAME_REGEX}",
    group="|".join(group.name for group in monitor_registry.MONITORS),
