"""What each job of the workflow reads from the preset, and nothing more.

Snakemake reruns a job when its `params` change, so a job's params hold exactly the settings
that job uses: an edit to one run's settings reruns that run's jobs, not its neighbours'.
Names that only place files (a run's dataset and model names) are left out: the paths carry them.
"""

from grokstudy.monitors import registry as monitor_registry

# What the claims compare runs by: their task, world, phi, weight decay, model and training facts.
CLAIM_RUN_KEYS = ("dataset", "model", "weight_decay", "training_facts")
CLAIM_DATASET_KEYS = ("task", "phi", "entities", "relations", "out_degree", "seed")
# ...and its model's shape: the recurrent claims tell the vanilla arms apart by depth.
CLAIM_MODEL_KEYS = ("layers", "layers_per_loop", "recurrence")


def _pick(section: dict, keys) -> dict:
    return {key: section[key] for key in keys if key in section}


def dataset(preset: dict, name: str) -> dict:
    return preset["datasets"][name]


def training(preset: dict, run: str) -> dict:
    return {key: value for key, value in preset["runs"][run].items() if key not in ("dataset", "model")}


def model(preset: dict, run: str) -> dict:
    return preset["models"][preset["runs"][run]["model"]]


def task(preset: dict, run: str) -> str:
    return preset["datasets"][preset["runs"][run]["dataset"]]["task"]


def curve_labels(preset: dict, runs: list[str]) -> list[dict]:
    """Per run, in the figure's order, what an accuracy-curve figure prints beside it and groups seeds by."""
    labels = []
    for run in runs:
        world = dataset(preset, preset["runs"][run]["dataset"])
        origin = preset["replicate_of"][run]
        labels.append(
            {
                "run": run,
                "base": origin["base"],
                "dataset": preset["runs"][run]["dataset"],
                "seed": -1 if origin["seed"] is None else origin["seed"],
                "task": task(preset, run),
                "phi": world["phi"],
                "entities": world["entities"],
                "weight_decay": preset["runs"][run]["weight_decay"],
            }
        )
    return labels


def claims(preset: dict) -> dict:
    """The claim criteria, and per run and dataset only the facts the claims group runs by."""
    runs = {
        run: {**_pick(settings, CLAIM_RUN_KEYS), **_pick(model(preset, run), CLAIM_MODEL_KEYS)}
        for run, settings in preset["runs"].items()
    }
    used = {settings["dataset"] for settings in runs.values()}
    datasets = {name: _pick(preset["datasets"][name], CLAIM_DATASET_KEYS) for name in sorted(used)}
    return {"claims": preset["claims"], "runs": runs, "datasets": datasets, "replicate_of": preset["replicate_of"]}


MONITOR_TUNING_KEYS = ("fit_threshold", "max_false_alarm", "schedule_fraction")


def monitor_runs(preset: dict) -> dict[str, list[str]]:
    """The replicates of the monitored runs by role: dev and held_out (the grokking runs' seeds
    split by dev_seeds) and non_grokking."""
    monitors = preset["monitors"]
    roles: dict[str, list[str]] = {"dev": [], "held_out": [], "non_grokking": []}
    for run, origin in preset["replicate_of"].items():
        if origin["base"] in monitors["grokking_runs"]:
            roles["dev" if origin["seed"] in monitors["dev_seeds"] else "held_out"].append(run)
        elif origin["base"] in monitors["non_grokking_runs"]:
            roles["non_grokking"].append(run)
    return roles


def monitor(preset: dict, group: str) -> dict:
    """What one monitor group's jobs read: the settings its registry row names."""
    return monitor_registry.settings_of(preset["monitors"], monitor_registry.BY_NAME[group])


def monitor_band(preset: dict, group: str) -> dict:
    return {**monitor(preset, group), "band_trajectories": preset["monitors"]["band_trajectories"]}


def monitor_tuning(preset: dict) -> dict:
    return _pick(preset["monitors"], MONITOR_TUNING_KEYS)


def monitor_judging(preset: dict) -> dict:
    monitors, probes = preset["monitors"], preset["probes"]
    return {
        "max_false_alarm": monitors["max_false_alarm"],
        "min_hits": monitors["min_hits"],
        "resamples": probes["bootstrap_resamples"],
        "confidence": probes["confidence"],
    }
