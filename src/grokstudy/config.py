"""Load a preset, fill run defaults, and reject bad values before any job runs."""

import copy
from pathlib import Path

import jsonschema
import yaml

from grokstudy.data import comparison, composition
from grokstudy.errors import ConfigError
from grokstudy.schema import CONFIG

TASKS = ("composition", "comparison")  # the order of the oneOf branches in the schema


def load(path: Path) -> dict:
    with open(path) as handle:
        return resolve(yaml.safe_load(handle))


def _allowed(schema: dict) -> str:
    parts = []
    for key, text in (("minimum", ">= {}"), ("exclusiveMinimum", "> {}"), ("maximum", "<= {}"), ("exclusiveMaximum", "< {}"),
                      ("minItems", "at least {} items"), ("maxItems", "at most {} items"), ("minProperties", "at least {} entries")):
        if key in schema:
            parts.append(text.format(schema[key]))
    if "enum" in schema:
        parts.append("one of " + ", ".join(map(repr, schema["enum"])))
    if "const" in schema:
        parts.append(f"exactly {schema['const']!r}")
    if "type" in schema and not parts:
        parts.append(f"a value of type {schema['type']}")
    if "pattern" in schema:
        parts.append(f"matching {schema['pattern']}")
    return " and ".join(parts) if parts else "see grokstudy/schema.py"


def _schema_error(error: jsonschema.ValidationError) -> ConfigError:
    best = error
    if error.validator == "oneOf" and error.context:
        # A dataset matches neither task: report against the task it names.
        task = error.instance.get("task") if isinstance(error.instance, dict) else None
        matching = [e for e in error.context if task in TASKS and e.schema_path[0] == TASKS.index(task)]
        best = jsonschema.exceptions.best_match(matching or error.context)
    key = ".".join(str(p) for p in best.absolute_path) or "<top level>"
    if best.validator in ("required", "additionalProperties"):
        return ConfigError(key, best.message)
    if best.validator == "type":
        return ConfigError(key, f"{best.instance!r} is not allowed; allowed: a value of type {best.schema['type']}")
    return ConfigError(key, f"{best.instance!r} is not allowed; allowed: {_allowed(best.schema)}")


def resolve(raw: dict) -> dict:
    """Merge run_defaults into every run, then validate. Returns a new dict."""
    if not isinstance(raw, dict):
        raise ConfigError("<top level>", "the config must be a mapping")
    config = copy.deepcopy(raw)
    defaults = config.get("run_defaults", {}) or {}
    config["runs"] = {name: {**copy.deepcopy(defaults), **(run or {})} for name, run in (config.get("runs") or {}).items()}
    for name, ds in (config.get("datasets") or {}).items():
        task = ds.get("task") if isinstance(ds, dict) else None
        if task not in TASKS:
            raise ConfigError(f"datasets.{name}.task", f"{task!r} is not allowed; allowed: one of {TASKS}")
    validator = jsonschema.Draft202012Validator(CONFIG)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise _schema_error(errors[0])
    _check_semantics(config)
    return config


def _check_semantics(config: dict) -> None:
    for name, ds in config["datasets"].items():
        key = f"datasets.{name}"
        if ds["task"] == "composition":
            if ds["out_degree"] > ds["relations"]:
                raise ConfigError(f"{key}.out_degree", f"{ds['out_degree']} exceeds relations; allowed: 1..{ds['relations']}")
            n_atomic = ds["entities"] * ds["out_degree"]
            if round(ds["ood_fraction"] * n_atomic) < 1:
                raise ConfigError(f"{key}.ood_fraction", f"{ds['ood_fraction']} selects no OOD fact among {n_atomic}; allowed: >= {1 / n_atomic:.4g}")
            limit = composition.phi_max(composition.CompositionSpec(**{k: v for k, v in ds.items() if k != "task"}))
        else:
            if round(ds["ood_fraction"] * ds["entities"]) < 2:
                raise ConfigError(f"{key}.ood_fraction", f"{ds['ood_fraction']} gives fewer than 2 OOD entities; allowed: >= {2 / ds['entities']:.4g}")
            limit = comparison.phi_max(comparison.ComparisonSpec(**{k: v for k, v in ds.items() if k != "task"}))
        # The generator checks the exact bound; this catches clearly impossible values up front.
        if ds["phi"] > limit * 1.02:
            raise ConfigError(f"{key}.phi", f"{ds['phi']} is beyond what the candidates allow; allowed range: (0, ~{limit:.2f}]")
    for name, model in config["models"].items():
        if model["d_model"] % model["heads"]:
            raise ConfigError(f"models.{name}.heads", f"{model['heads']} does not divide d_model={model['d_model']}")
    for name, run in config["runs"].items():
        if run["dataset"] not in config["datasets"]:
            raise ConfigError(f"runs.{name}.dataset", f"{run['dataset']!r} is not defined; allowed: {sorted(config['datasets'])}")
        if run["model"] not in config["models"]:
            raise ConfigError(f"runs.{name}.model", f"{run['model']!r} is not defined; allowed: {sorted(config['models'])}")
        if run["checkpoints"]["dense_count"] >= run["checkpoints"]["count"]:
            raise ConfigError(f"runs.{name}.checkpoints.dense_count", f"must be below count={run['checkpoints']['count']}")
    runs = sorted(config["runs"])
    references = [("probes.runs", config["probes"]["runs"])]
    references += [(f"figures.{f}.runs", config["figures"][f]["runs"]) for f in ("accuracy_curves", "phi_sweep", "weight_decay") if f in config["figures"]]
    references += [("figures.logit_lens.run", [config["figures"]["logit_lens"]["run"]])]
    references += [(f"claims.{k}", [config["claims"][k]]) for k in ("grokking_run", "comparison_run") if k in config["claims"]]
    for key, names in references:
        for run in names:
            if run not in config["runs"]:
                raise ConfigError(key, f"{run!r} is not a run; allowed: {runs}")
    if config["figures"]["logit_lens"]["run"] not in config["probes"]["runs"]:
        raise ConfigError("figures.logit_lens.run", f"must be one of probes.runs {config['probes']['runs']}")


def task_of(config: dict, run: str) -> str:
    return config["datasets"][config["runs"][run]["dataset"]]["task"]
