"""The training facts the monitors read: a fixed sample of the run's training two-hop facts, drawn
from the training file alone (`store.read_train`); nothing here opens an evaluation split. Each
purpose draws from its own stream of the sample seed, so one group's settings move no other
group's sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from grokstudy.data import store

INFERRED = "inferred"  # the training file's two-hop facts


def training_two_hop(data_dir: Path) -> pd.DataFrame:
    train = store.read_train(data_dir)
    inferred = train[train["kind"] == INFERRED].reset_index(drop=True)
    if inferred.empty:
        raise ValueError(f"{data_dir} has no training two-hop facts; monitors read composition worlds")
    return inferred


def stream(seed: int, purpose: str) -> np.random.Generator:
    """The random stream of one purpose ("queries", "coherence", ...) under the sample seed."""
    return np.random.default_rng([seed, *purpose.encode()])


def draw(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """`n` distinct facts (all of them when fewer), in the file's order."""
    index = rng.choice(len(frame), size=min(n, len(frame)), replace=False)
    return frame.iloc[np.sort(index)].reset_index(drop=True)


def queries(inferred: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """The query sample the weight, fit and geometry groups share."""
    return draw(inferred, settings["queries"], stream(settings["sample_seed"], "queries"))
