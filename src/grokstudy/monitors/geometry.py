"""The geometry of the residual states of training queries: at r1, at the preset's site, where the
bridge entity forms, and at r2 entering the final norm. How many directions the states spread over
(participation ratio, effective rank) and how tightly they cluster by bridge entity."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from grokstudy import sites
from grokstudy.batching import EncodedSplit, encode
from grokstudy.models import layers_per_loop, residual_states
from grokstudy.monitors import sample

# Positions of the composition prompt "<h> <r1> <r2>".
R1, R2 = 1, 2


@dataclass(frozen=True)
class Queries:
    encoded: EncodedSplit
    bridges: np.ndarray  # the bridge entity of each query, for the within/between ratio


def _as_array(states) -> np.ndarray:
    if isinstance(states, torch.Tensor):
        states = states.detach().cpu().double().numpy()
    return np.asarray(states, dtype=np.float64)


def participation_ratio(states) -> float:
    """(sum λ)^2 / sum λ^2 over the eigenvalues λ of the states' covariance: how many directions
    the (n, d) states spread over, from 1 (a line) to d (isotropic). Nan for fewer than 2 states."""
    x = _as_array(states)
    if len(x) < 2:
        return math.nan
    eigenvalues = np.linalg.svd(x - x.mean(0), compute_uv=False) ** 2
    total = eigenvalues.sum()
    return float(total**2 / (eigenvalues**2).sum()) if total > 0 else math.nan


def effective_rank(states, center: bool = False) -> float:
    """exp(entropy of the singular values normalized to sum 1) of the (n, d) states (Roy & Vetterli
    2007): a continuous rank, 1 for a rank-1 matrix and d for an orthogonal one. The states are
    taken as given unless `center`, which first removes their mean."""
    x = _as_array(states)
    if center:
        x = x - x.mean(0)
    singular = np.linalg.svd(x, compute_uv=False)
    if singular.sum() == 0:
        return math.nan
    p = singular / singular.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def within_between_ratio(states, labels) -> float:
    """Mean distance of the states to their own group's centroid over the mean distance between
    group centroids (groups: e.g. the bridge entity of each query); small when the states cluster
    by group. Every group's centroid enters the between part; the within part averages over the
    states of groups with at least two members, since a lone state says nothing of spread. Nan
    with fewer than 2 groups or no group of 2."""
    x, labels = _as_array(states), np.asarray(labels)
    groups, index = np.unique(labels, return_inverse=True)
    if len(groups) < 2:
        return math.nan
    centroids = np.stack([x[index == g].mean(0) for g in range(len(groups))])
    sizes = np.bincount(index, minlength=len(groups))
    shared = sizes[index] >= 2
    if not shared.any():
        return math.nan
    within = np.linalg.norm(x[shared] - centroids[index[shared]], axis=1).mean()
    pairs = np.triu_indices(len(groups), k=1)
    between = np.linalg.norm(centroids[pairs[0]] - centroids[pairs[1]], axis=1).mean()
    return float(within / between) if between > 0 else math.nan


def prepare(inferred, tokenizer, settings: dict, device) -> Queries:
    drawn = sample.queries(inferred, settings)
    return Queries(encode(drawn, tokenizer).to(device), drawn["bridge"].to_numpy())


def read_sites(model, settings: dict, depth: int) -> dict[str, tuple[int, int]]:
    """The states read, by name: (depth, position) of the preset's site at r1 and of the last at r2."""
    per_loop = layers_per_loop(model)
    bridge = sites.depth_of(settings["geometry_site"], depth, per_loop if per_loop < depth else None)
    return {sites.at(sites.resid(bridge), "r1"): (bridge, R1), sites.at(sites.resid(depth), "r2"): (depth, R2)}


@torch.no_grad()
def read(model, queries: Queries, settings: dict) -> list[tuple[str, str, float]]:
    states, _ = residual_states(model, queries.encoded.input_ids)
    rows = []
    for site, (depth, position) in read_sites(model, settings, len(states) - 1).items():
        state = states[depth][:, position]
        rows += [
            ("participation_ratio", site, participation_ratio(state)),
            ("effective_rank", site, effective_rank(state, center=True)),
            ("within_between_ratio", site, within_between_ratio(state, queries.bridges)),
        ]
    return rows
