"""An append-only JSON-lines log of evaluation results that survives interruption.

A finished run keeps its rows in compressed Parquet tables instead; a run resumed after that reopens
its logs from them.
"""

import json
from pathlib import Path

import pandas as pd

# epoch: examples seen / training examples, so runs over worlds of different size compare per epoch.
COLUMNS = ["step", "epoch", "split", "accuracy", "loss", "n"]
# Per test item at every evaluation: paired tests compare runs on the same items.
PREDICTION_COLUMNS = ["step", "split", "prompt", "correct"]


class MetricsLog:
    def __init__(self, path: Path, columns: list[str] = COLUMNS):
        self.path = Path(path)
        self.columns = columns

    def rows(self) -> list[dict]:
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by an interruption ends the usable log
        return rows

    def truncate_after(self, step: int) -> None:
        """Keep rows up to `step` (a resumed run recomputes everything after it)."""
        kept = [r for r in self.rows() if r["step"] <= step]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def reopen(self, table: Path) -> None:
        """Start from a finished run's table when the log itself is gone (the run removed it)."""
        if not self.path.exists() and Path(table).exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.append(pd.read_parquet(table).to_dict("records"))

    def append(self, rows: list[dict]) -> None:
        with open(self.path, "a") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in rows)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows(), columns=self.columns)
