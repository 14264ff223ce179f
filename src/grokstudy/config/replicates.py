"""Seeds as replicates: a preset that lists seeds has every dataset and run once per seed.

A replicate's world and run share its seed, so seeds vary the data and the model together.
Runs and datasets are named <name>.s<seed>, and every run list (probes, figures) names each
replicate; the claims keep their base names and find the replicates through `replicate_of`.
"""

SUFFIX = ".s{seed}"


def replicate_name(name: str, seed: int) -> str:
    return name + SUFFIX.format(seed=seed)


def longest_suffix(seeds: list[int]) -> int:
    return max(len(SUFFIX.format(seed=seed)) for seed in seeds)


def run_seeds(preset: dict, run: str) -> list[int]:
    """The seeds a base run is replicated over: its own `replicates`, else every seed of the preset."""
    return preset["runs"][run].get("replicates") or preset["seeds"]


def dataset_seeds(preset: dict, dataset: str) -> list[int]:
    """The seeds a base dataset is generated for: those of the runs on it (every seed if none uses it)."""
    runs = [run for run, spec in preset["runs"].items() if spec["dataset"] == dataset]
    used = {seed for run in runs for seed in run_seeds(preset, run)}
    return [seed for seed in preset["seeds"] if seed in used] if used else preset["seeds"]


def expand(preset: dict) -> dict:
    """The preset with its replicates spelled out, and `replicate_of`: run -> {base, seed}.

    Without seeds each run is its own replicate, with seed None: the runs form one replicate.
    """
    seeds = preset.get("seeds")
    if not seeds:
        return {**preset, "replicate_of": {run: {"base": run, "seed": None} for run in preset["runs"]}}

    def each(names):
        return [replicate_name(name, seed) for name in names for seed in run_seeds(preset, name)]

    datasets = {
        replicate_name(name, seed): {**spec, "seed": seed}
        for name, spec in preset["datasets"].items()
        for seed in dataset_seeds(preset, name)
    }
    runs = {
        replicate_name(name, seed): {
            **{key: value for key, value in spec.items() if key != "replicates"},
            "dataset": replicate_name(spec["dataset"], seed),
            "seed": seed,
        }
        for name, spec in preset["runs"].items()
        for seed in run_seeds(preset, name)
    }
    figures = {
        key: ({**value, "runs": each(value["runs"])} if isinstance(value, dict) else value)
        for key, value in preset["figures"].items()
    }
    return {
        **preset,
        "datasets": datasets,
        "runs": runs,
        "figures": figures,
        "probes": {**preset["probes"], "runs": each(preset["probes"]["runs"])},
        "replicate_of": {
            replicate_name(name, seed): {"base": name, "seed": seed}
            for name in preset["runs"]
            for seed in run_seeds(preset, name)
        },
    }
