# Shared definitions: the validated preset, result paths, each job's settings and source files.
import json
import os
from glob import glob

from grokstudy import cluster
from grokstudy import config as study_config
from grokstudy import sources as code
from grokstudy.config import job_settings
from grokstudy.config.model import CURVE_FIGURES as CURVE_FIGURE_KINDS, NAME_REGEX
from grokstudy.data.specs import EVAL_SPLITS
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


def sources(*patterns):
    """Source files a step depends on: a real edit reruns it, a checkout of identical code does not."""
    return sorted({path for pattern in patterns for path in glob(f"src/grokstudy/{pattern}")})


DATA_SOURCES = sources(*code.DATA_CODE)
TRAIN_SOURCES = DATA_SOURCES + sources(*code.TRAINING_CODE)
PROBE_SOURCES = sources(*code.PROBE_CODE)
FIGURE_SOURCES = sources(*code.FIGURE_CODE)
REPORT_SOURCES = sources(*code.REPORT_CODE)


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


# Before any job runs: a GPU preset needs a GPU here unless a cluster runs the jobs, and a gpu,
# mem_mb or runtime forced with --set-resources must fit every job of its rule.
PROBE_RULES = ("probe_checkpoints", "probe_null_networks", "trace_causal_effects")
try:
    cluster.require_gpu_for(STUDY["name"], STUDY["device"], os.environ, cluster.local_gpu_visible)
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
LENS_FIGURES = [f"logit_lens_{run}" for run in PROBED_RUNS]
# Causal tracing corrupts the head entity of a two-hop query: composition runs only.
TRACED_RUNS = [run for run in PROBED_RUNS if run_task(run) == "composition"]
CAUSAL_TABLES = [f"{RESULTS}/probes/{run}/causal_tracing.parquet" for run in TRACED_RUNS]
CAUSAL_QUERY_TABLES = [f"{RESULTS}/probes/{run}/causal_tracing_queries.parquet" for run in TRACED_RUNS]
CAUSAL_FIGURES = [f"causal_tracing_{run}" for run in TRACED_RUNS]
# The weight-decay contrast is optional: it costs a run that the CPU preset cannot afford.
CURVE_FIGURES = [c for c in CURVE_FIGURE_KINDS if c in STUDY["figures"]]
FIGURE_STEMS = [*CURVE_FIGURES, *LENS_FIGURES, *CAUSAL_FIGURES]
FIGURE_KINDS = [*CURVE_FIGURES, "logit_lens", *(["causal_tracing"] if TRACED_RUNS else [])]
ALL_FIGURES = [f for stem in FIGURE_STEMS for f in figure_files(stem)]
ALL_DATASETS = [f"{RESULTS}/data/{dataset}/manifest.json" for dataset in STUDY["datasets"]]
ALL_PROBE_TABLES = [
    f"{RESULTS}/probes/{run}/{table}.parquet"
    for run in PROBED_RUNS
    for table in ("logit_lens", "checkpoint_accuracy", "null_logit_lens")
] + CAUSAL_TABLES + CAUSAL_QUERY_TABLES
REPORT = f"{RESULTS}/report/index.html"
CLAIMS = f"{RESULTS}/report/claims.csv"


# The same pattern as the preset's names: nothing a wildcard matches can leave its directory.
wildcard_constraints:
    run=NAME_REGEX,
    dataset=NAME_REGEX,
