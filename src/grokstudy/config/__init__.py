"""Load a preset, fill run defaults, and reject bad values before any job runs.

`load` reads a file strictly (grokstudy.config.yaml_file), `resolve` types and checks a
mapping (grokstudy.config.model, grokstudy.config.checks). Both return the resolved preset as
plain data, every run with its defaults filled in; every refusal is a ConfigError that names
the key and what is allowed.
"""

import copy
from pathlib import Path

from pydantic import ValidationError

from grokstudy.config import checks, replicates
from grokstudy.config.messages import config_error
from grokstudy.config.model import TASKS, Preset
from grokstudy.config.yaml_file import load_mapping
from grokstudy.errors import ConfigError

__all__ = ["TASKS", "Preset", "for_snakemake", "load", "resolve", "task_of", "typed"]


# Keys of earlier versions of the format, and what replaced them.
RETIRED_KEYS = {
    (
        "figures",
        "logit_lens",
    ): "no longer read: a logit-lens figure is drawn for every run in probes.runs; remove this key",
    (
        "claims",
        "ood_ceiling",
    ): "no longer read: C2 compares OOD accuracy with the relation-frequency baseline; remove this key",
    (
        "claims",
        "delay_ratio",
    ): "no longer read: C1 bounds ID accuracy at the fit step (claims.id_at_fit_ceiling); remove this key",
}


def _refuse_retired_keys(raw: dict) -> None:
    for path, message in RETIRED_KEYS.items():
        node = raw
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            raise ConfigError(".".join(path), message)


def _merge_run_defaults(raw: dict) -> dict:
    runs, defaults = raw.get("runs"), raw.get("run_defaults") or {}
    if not isinstance(runs, dict) or not isinstance(defaults, dict):
        return raw  # the typed model names the wrong type
    merged = {}
    for name, run in runs.items():
        merged[name] = {**copy.deepcopy(defaults), **run} if isinstance(run, dict) else run
    return {**raw, "runs": merged}


def typed(raw) -> Preset:
    """The preset as typed models, with run defaults merged into every run."""
    if not isinstance(raw, dict):
        raise ConfigError("<top level>", f"a {type(raw).__name__} is not allowed; allowed: a preset mapping")
    if not raw:
        raise ConfigError("<top level>", "the preset is empty; allowed: a preset mapping (see config/config.yaml)")
    _refuse_retired_keys(raw)
    try:
        preset = Preset.model_validate(_merge_run_defaults(raw))
    except ValidationError as error:
        raise config_error(Preset, error) from None
    checks.check(preset)
    return preset


def resolve(raw) -> dict:
    """The resolved preset as plain data (every run complete, replicates spelled out); raises ConfigError."""
    return replicates.expand(typed(raw).model_dump(mode="python", exclude_none=True))


def load(path: Path) -> dict:
    return resolve(load_mapping(Path(path)))


def for_snakemake(configfiles: list, config: dict) -> dict:
    """The preset of a Snakemake invocation: exactly one --configfile, read strictly.

    The workflow profile names config/config.yaml as the default --configfile, so an empty or
    missing preset is an error here, never a silent switch to the default. Values come from
    Snakemake's `config`, so `--config key=value` overrides still apply and are validated.
    """
    if len(configfiles) != 1:
        given = ", ".join(map(str, configfiles)) or "none"
        raise ConfigError(
            "--configfile", f"{given}; allowed: exactly one preset file, e.g. --configfile config/smoke.yaml"
        )
    load_mapping(Path(configfiles[0]))  # refuses duplicate keys, alias bombs, oversized files
    return resolve(config)


def task_of(config: dict, run: str) -> str:
    return config["datasets"][config["runs"][run]["dataset"]]["task"]
