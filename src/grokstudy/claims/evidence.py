"""What the claims read: the runs of a replicate, their metrics, probe tables and baselines."""

from dataclasses import dataclass, field

import pandas as pd

from grokstudy.data.baselines import accuracy as baseline_accuracy
from grokstudy.stats import wilson_interval


@dataclass(frozen=True)
class Replicate:
    """One seed's runs by their base names (a preset without seeds is one replicate, seed None)."""

    seed: int | None
    runs: dict[str, str]

    @property
    def label(self) -> str:
        return "single seed" if self.seed is None else f"seed {self.seed}"


def replicates(config: dict) -> list[Replicate]:
    by_seed: dict = {}
    for run, origin in config["replicate_of"].items():
        by_seed.setdefault(origin["seed"], {})[origin["base"]] = run
    return [
        Replicate(seed, runs)
        for seed, runs in sorted(by_seed.items(), key=lambda item: (item[0] is not None, item[0] or 0))
    ]


@dataclass(frozen=True)
class Evidence:
    config: dict
    metrics: pd.DataFrame
    lens: pd.DataFrame = field(default_factory=pd.DataFrame)  # the runs' lens and their null sets'
    lens_queries: pd.DataFrame = field(default_factory=pd.DataFrame)  # per-query reciprocal ranks
    causal_queries: pd.DataFrame = field(default_factory=pd.DataFrame)
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)  # per test item at every evaluation
    baselines: dict = field(default_factory=dict)  # dataset name -> its baselines.json
    sweep: pd.DataFrame = field(default_factory=pd.DataFrame)  # looped runs' test-time recurrence sweeps
    sweep_items: pd.DataFrame = field(default_factory=pd.DataFrame)  # ...and their margins per ID item

    @property
    def criteria(self) -> dict:
        return self.config["claims"]

    def run(self, run: str) -> dict:
        return self.config["runs"][run]

    def dataset(self, run: str) -> dict:
        return self.config["datasets"][self.run(run)["dataset"]]

    def task(self, run: str) -> str:
        return self.dataset(run)["task"]

    def rows(self, run: str, split: str) -> pd.DataFrame:
        m = self.metrics
        return m[(m["run"] == run) & (m["split"] == split)].sort_values("step")

    def first_step(self, run: str, split: str, threshold: float) -> int | None:
        rows = self.rows(run, split)
        rows = rows[rows["accuracy"] >= threshold]
        return None if rows.empty else int(rows["step"].iloc[0])

    def at(self, run: str, split: str, step: float = float("inf")) -> pd.Series:
        """The last evaluation of a split at or before `step` (default: the final one)."""
        rows = self.rows(run, split)
        return rows[rows["step"] <= step].iloc[-1]

    def count(self, run: str, split: str, step: float = float("inf")) -> tuple[int, int]:
        row = self.at(run, split, step)
        return round(row["accuracy"] * row["n"]), int(row["n"])

    def correct_items(self, run: str, split: str, step: int) -> pd.Series:
        """Each item of a test split at one evaluation step, answered right (True) or not, by prompt."""
        p = self.predictions
        rows = p[(p["run"] == run) & (p["split"] == split) & (p["step"] == step)]
        return rows.set_index("prompt")["correct"].astype(bool)

    def item_table(self, run: str, split: str) -> pd.DataFrame:
        """Each item of a test split (rows, by prompt) answered right (True) or not at each evaluation
        step (columns, in order); an item missing at some evaluation is left out."""
        p = self.predictions
        rows = p[(p["run"] == run) & (p["split"] == split)]
        table = rows.pivot(index="prompt", columns="step", values="correct").sort_index(axis=1)
        return table.dropna().astype(bool)

    def epochs(self, run: str, steps) -> list[float]:
        """The epoch (examples seen / training examples) at each of the run's evaluation `steps`."""
        m = self.metrics
        by_step = m[m["run"] == run].drop_duplicates("step").set_index("step")["epoch"]
        return [float(by_step[step]) for step in steps]

    def epoch_at(self, run: str, step: float = float("inf")) -> float:
        """Epochs of the run's training facts seen by `step` (its last evaluation at or before it)."""
        m = self.metrics
        rows = m[(m["run"] == run) & (m["step"] <= step)]
        return float(rows.sort_values("step")["epoch"].iloc[-1])

    def last_step(self, run: str) -> int:
        return int(self.metrics.loc[self.metrics["run"] == run, "step"].max())

    def baseline_correct(self, run: str, split: str) -> set[str]:
        """The prompts of the split that its baseline answers right (baselines.json's correct_prompts)."""
        entry = self.baselines[self.run(run)["dataset"]]["splits"][split]
        if "correct_prompts" not in entry:
            raise ValueError(
                f"the baselines.json of dataset {self.run(run)['dataset']} predates per-item baselines "
                "(no correct_prompts); prepare the dataset again"
            )
        return set(entry["correct_prompts"])

    def baseline(self, run: str, split: str) -> dict:
        """{name, correct, n} of the split's baseline in the run's dataset, plus its accuracy and 95 % Wilson
        interval."""
        entry = self.baselines[self.run(run)["dataset"]]["splits"][split]
        return {
            **entry,
            "accuracy": baseline_accuracy(entry),
            "interval": wilson_interval(entry["correct"], entry["n"]),
        }


def accuracy_text(correct: int, n: int) -> str:
    low, high = wilson_interval(correct, n)
    return f"{correct / n:.3f} [{low:.3f}, {high:.3f}]"
