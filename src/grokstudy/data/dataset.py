"""The in-memory form of a generated dataset, shared by both tasks."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Dataset:
    task: str
    vocabulary: list[str]
    train: pd.DataFrame
    eval_splits: dict[str, pd.DataFrame]
    counts: dict[str, int] = field(default_factory=dict)
    phi_achieved: float = 0.0
    phi_max: float = 0.0


def sample_rows(frame: pd.DataFrame, limit: int, rng: np.random.Generator) -> pd.DataFrame:
    """At most `limit` rows drawn without replacement, kept in their original order."""
    if len(frame) <= limit:
        return frame.reset_index(drop=True)
    keep = np.sort(rng.choice(len(frame), size=limit, replace=False))
    return frame.iloc[keep].reset_index(drop=True)
