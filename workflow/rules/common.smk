# Shared definitions: the validated preset, result paths and the source files each step depends on.
import json
from glob import glob

import yaml

from grokstudy import config as study_config
from grokstudy import sources as code
from grokstudy.errors import ConfigError

DEFAULT_CONFIGFILE = "config/config.yaml"

if not config:
    with open(DEFAULT_CONFIGFILE) as handle:
        config.update(yaml.safe_load(handle))

try:
    STUDY = study_config.resolve(config)
except ConfigError as error:
    raise WorkflowError(f"invalid preset, nothing was run: {error}") from None

RESULTS = f"results/{STUDY['name']}"
LOGS = f"{RESULTS}/logs"
ENV = "../../envs/grokstudy.yaml"
EVAL_SPLITS = ["atomic_id", "atomic_ood", "train_inferred", "test_inferred_id", "test_inferred_ood"]
FIGURE_FORMATS = ["png", "pdf", "csv"]


def sources(*patterns):
    """Source files a step depends on: a real edit reruns it, a checkout of identical code does not."""
    return sorted({path for pattern in patterns for path in glob(f"src/grokstudy/{pattern}")})


DATA_SOURCES = sources(*code.DATA_CODE)
TRAIN_SOURCES = DATA_SOURCES + sources(*code.TRAINING_CODE)
PROBE_SOURCES = sources(*code.PROBE_CODE)
FIGURE_SOURCES = sources(*code.FIGURE_CODE)
REPORT_SOURCES = sources(*code.REPORT_CODE)


def run_task(run):
    return STUDY["datasets"][STUDY["runs"][run]["dataset"]]["task"]


def training_cost(run):
    """Relative CPU cost of a run: steps x prompt length (comparison prompts are longer)."""
    return STUDY["runs"][run]["steps"] * (5 if run_task(run) == "comparison" else 3)


def dataset_cost(dataset):
    return max((training_cost(r) for r, spec in STUDY["runs"].items() if spec["dataset"] == dataset), default=0)


def dataset_dir(run):
    return f"{RESULTS}/data/{STUDY['runs'][run]['dataset']}"


def checkpoint_dir(run):
    return f"{RESULTS}/checkpoints/{run}"


def as_json(value):
    return json.dumps(value, sort_keys=True)


def figure_files(stem):
    return [f"{RESULTS}/figures/{stem}.{ext}" for ext in FIGURE_FORMATS]


def metrics_of(runs):
    return [f"{RESULTS}/runs/{run}/metrics.parquet" for run in runs]


def figure_config(runs):
    return as_json({"datasets": STUDY["datasets"], "runs": {r: STUDY["runs"][r] for r in runs}})


def figure_prefix(wildcards, output):
    return output[0][: -len(".png")]


def comparison_ood_split():
    """The comparison OOD test split, whose majority label is C6's baseline."""
    run = STUDY["claims"].get("comparison_run")
    return [f"{dataset_dir(run)}/eval/test_inferred_ood.parquet"] if run else []


LENS_FIGURES = [f"logit_lens_{run}" for run in STUDY["probes"]["runs"]]
# Causal tracing corrupts the head entity of a two-hop query: composition runs only.
TRACED_RUNS = [run for run in STUDY["probes"]["runs"] if run_task(run) == "composition"]
CAUSAL_TABLES = [f"{RESULTS}/probes/{run}/causal_tracing.parquet" for run in TRACED_RUNS]
CAUSAL_FIGURES = [f"causal_tracing_{run}" for run in TRACED_RUNS]
# The weight-decay contrast is optional: it costs a run that the CPU preset cannot afford.
CURVE_FIGURES = [c for c in ("accuracy_curves", "phi_sweep", "weight_decay") if c in STUDY["figures"]]
FIGURE_STEMS = [*CURVE_FIGURES, *LENS_FIGURES, *CAUSAL_FIGURES]
ALL_FIGURES = [f for stem in FIGURE_STEMS for f in figure_files(stem)]
ALL_DATASETS = [f"{RESULTS}/data/{dataset}/manifest.json" for dataset in STUDY["datasets"]]
ALL_PROBE_TABLES = [
    f"{RESULTS}/probes/{run}/{table}.parquet"
    for run in STUDY["probes"]["runs"]
    for table in ("logit_lens", "checkpoint_accuracy", "null_logit_lens")
] + CAUSAL_TABLES
REPORT = f"{RESULTS}/report/index.html"
CLAIMS = f"{RESULTS}/report/claims.csv"


wildcard_constraints:
    run="[A-Za-z0-9_.-]+",
    dataset="[A-Za-z0-9_.-]+",
