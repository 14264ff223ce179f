"""The monitors of one network, read off its weights and a fixed sample of its training facts.

Every value is a row (monitor, site, value). The sample comes from the dataset's training file
only (`store.read_train`); nothing here opens an evaluation split. A monitor's groups are timed,
so the cost per checkpoint is measured where it is paid.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from grokstudy.analyses.weight_norms import module_norms
from grokstudy.batching import EncodedSplit, encode
from grokstudy.data import store
from grokstudy.evaluation import evaluate_split
from grokstudy.models import residual_states
from grokstudy.monitors import signals

INFERRED = "inferred"  # the training file's two-hop facts
# Monitor groups, in the order they run; each is timed as a whole.
GROUPS = ("weights", "fit", "geometry", "coherence", "commutator")
# Positions of the composition prompt "<h> <r1> <r2>" the geometry reads.
R1, R2 = 1, 2


@dataclass(frozen=True)
class MonitorSettings:
    queries: int  # training two-hop queries in the sample (fit, weights' logit scale, geometry)
    coherence_examples: int  # per-example gradients for the m-coherence
    commutator_pairs: int  # pairs of training batches for the commutator defect
    commutator_batch: int  # queries per batch of a pair
    commutator_lr: float  # step size of the two SGD steps (the defect is free of it to second order)
    geometry_layer: int  # the residual state at r1 read for the bridge (0: embeddings)
    sample_seed: int  # which training facts the sample holds, and how the batches are drawn

    @classmethod
    def of(cls, settings: dict) -> MonitorSettings:
        return cls(**{key: settings[key] for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class TrainingSample:
    """What every checkpoint of a run is read on: the same training facts each time."""

    queries: EncodedSplit
    bridges: np.ndarray  # the bridge entity of each query, for the within/between ratio
    coherence: EncodedSplit
    commutator: list[tuple[EncodedSplit, EncodedSplit]]

    def to(self, device) -> TrainingSample:
        pairs = [(a.to(device), b.to(device)) for a, b in self.commutator]
        return TrainingSample(self.queries.to(device), self.bridges, self.coherence.to(device), pairs)


def training_sample(data_dir: Path, tokenizer, settings: MonitorSettings) -> TrainingSample:
    """A fixed sample of the run's training two-hop facts, from the training file alone."""
    train = store.read_train(data_dir)
    inferred = train[train["kind"] == INFERRED].reset_index(drop=True)
    if inferred.empty:
        raise ValueError(f"{data_dir} has no training two-hop facts; monitors read composition worlds")
    rng = np.random.default_rng(settings.sample_seed)
    queries = _draw(inferred, settings.queries, rng)
    pairs = [
        (
            encode(_draw(inferred, settings.commutator_batch, rng), tokenizer),
            encode(_draw(inferred, settings.commutator_batch, rng), tokenizer),
        )
        for _ in range(settings.commutator_pairs)
    ]
    return TrainingSample(
        queries=encode(queries, tokenizer),
        bridges=queries["bridge"].to_numpy(),
        coherence=encode(_draw(inferred, settings.coherence_examples, rng), tokenizer),
        commutator=pairs,
    )


def _draw(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    index = rng.choice(len(frame), size=min(n, len(frame)), replace=False)
    return frame.iloc[np.sort(index)].reset_index(drop=True)


def _weights(model, sample: TrainingSample, settings: MonitorSettings) -> list[tuple[str, str, float]]:
    family = signals.weight_family(model, sample.queries)
    rows = [("norm", module, norm) for module, norm, _ in module_norms(model)]
    return [*rows, ("stable_rank", "blocks", family["stable_rank"]), ("logit_scale", "train", family["logit_scale"])]


def _fit(model, sample: TrainingSample, settings: MonitorSettings) -> list[tuple[str, str, float]]:
    scores = evaluate_split(model, sample.queries)
    return [("train_accuracy", "train", scores["accuracy"]), ("train_loss", "train", scores["loss"])]


@torch.no_grad()
def _geometry(model, sample: TrainingSample, settings: MonitorSettings) -> list[tuple[str, str, float]]:
    states, _ = residual_states(model, sample.queries.input_ids)
    sites = {
        f"r1_layer{settings.geometry_layer}": states[settings.geometry_layer][:, R1],
        f"r2_layer{len(states) - 1}": states[-1][:, R2],
    }
    rows = []
    for site, state in sites.items():
        rows += [
            ("participation_ratio", site, signals.participation_ratio(state)),
            ("effective_rank", site, signals.effective_rank(state, center=True)),
            ("within_between_ratio", site, signals.within_between_ratio(state, sample.bridges)),
        ]
    return rows


def _coherence(model, sample: TrainingSample, settings: MonitorSettings) -> list[tuple[str, str, float]]:
    return [("gradient_coherence", "train", signals.gradient_coherence(model, sample.coherence))]


def _commutator(model, sample: TrainingSample, settings: MonitorSettings) -> list[tuple[str, str, float]]:
    defects = [signals.commutator_defect(model, a, b, settings.commutator_lr) for a, b in sample.commutator]
    return [("commutator_defect", "train", float(np.mean(defects)))]


_GROUP_FUNCTIONS = {
    "weights": _weights,
    "fit": _fit,
    "geometry": _geometry,
    "coherence": _coherence,
    "commutator": _commutator,
}


def monitor_rows(model, sample: TrainingSample, settings: MonitorSettings) -> tuple[list[dict], dict[str, float]]:
    """Every monitor of one network as rows (monitor, site, value), and the seconds each group took."""
    rows, seconds = [], {}
    for group in GROUPS:
        start = time.perf_counter()
        produced = _GROUP_FUNCTIONS[group](model, sample, settings)
        seconds[group] = time.perf_counter() - start
        rows += [{"group": group, "monitor": m, "site": s, "value": float(v)} for m, s, v in produced]
    return rows, seconds
