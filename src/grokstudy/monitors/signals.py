"""Test-free signals read off one checkpoint and training queries only: weight statistics, the
geometry of a set of representations, and two measures of how training gradients interact.

Each is a candidate early warning of generalization; none reads a test split. Gradient signals run
the model in eval mode (no dropout), so a signal is a function of the weights and the batch alone.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from grokstudy.batching import EncodedSplit, answer_logits
from grokstudy.models import block_modules

LossFn = Callable[[torch.nn.Module, EncodedSplit], torch.Tensor]


def answer_loss(model, batch: EncodedSplit) -> torch.Tensor:
    """Mean cross-entropy of the answer token at each query's answer position, as training computes
    it (half-precision logits are raised to fp32; fp64 logits stay fp64)."""
    logits = answer_logits(model, batch)
    return F.cross_entropy(logits.to(torch.promote_types(logits.dtype, torch.float32)), batch.answer_id)


@contextmanager
def evaluating(model) -> Iterator[None]:
    """Inside the block the model is in eval mode; its previous mode comes back after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _trainable(model) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def _gradients(model, batch: EncodedSplit, loss_fn: LossFn) -> list[torch.Tensor]:
    """The loss gradient per trainable parameter, without touching any `.grad`."""
    params = _trainable(model)
    grads = torch.autograd.grad(loss_fn(model, batch), params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


def _squared_norm(tensors) -> float:
    return sum(float(t.detach().double().pow(2).sum()) for t in tensors)


def stable_rank(matrix: torch.Tensor) -> float:
    """||W||_F^2 / ||W||_2^2: a rank that small singular values barely move (in float64). The zero
    matrix has stable rank 0, as it has rank 0."""
    w = matrix.detach().double()
    spectral = float(torch.linalg.matrix_norm(w, ord=2))
    if spectral == 0.0:
        return 0.0
    return float(w.pow(2).sum()) / spectral**2


def weight_family(model, train_batch: EncodedSplit) -> dict[str, float]:
    """Weight statistics of one checkpoint beyond the per-module norms: the mean stable rank of the
    blocks' matrices (each distinct block once), and the logit scale on training queries (mean over
    queries of the largest answer-position logit minus the mean one), which grows as a memorizer
    sharpens."""
    matrices = [p for block in block_modules(model) for p in block.parameters() if p.dim() == 2]
    with torch.no_grad(), evaluating(model):
        logits = answer_logits(model, train_batch).double()
    return {
        "stable_rank": float(np.mean([stable_rank(m) for m in matrices])),
        "logit_scale": float((logits.max(-1).values - logits.mean(-1)).mean()),
    }


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


def gradient_coherence(model, batch: EncodedSplit, loss_fn: LossFn = answer_loss) -> float:
    """m-coherence of the per-example gradients g_1 ... g_m of the batch (Chatterjee 2020):
    alpha_m = m ||mean_i g_i||^2 / mean_i ||g_i||^2, which is m when every example pulls the
    weights the same way and about 1 when their gradients are uncorrelated. The examples go one by
    one in eval mode; the model's weights, mode and `.grad` are left as they were."""
    m = len(batch)
    total, squares = None, 0.0
    with evaluating(model):
        for i in range(m):
            flat = torch.cat([g.reshape(-1) for g in _gradients(model, batch.select(torch.tensor([i])), loss_fn)])
            flat = flat.detach().double()
            total = flat if total is None else total + flat
            squares += float(flat.pow(2).sum())
    if squares == 0.0:
        return math.nan
    return m * float((total / m).pow(2).sum()) / (squares / m)


def _sgd_step(model, batch: EncodedSplit, lr: float, loss_fn: LossFn) -> float:
    """One plain SGD step in place; the norm of the gradient it took."""
    params = _trainable(model)
    grads = _gradients(model, batch, loss_fn)
    with torch.no_grad():
        for p, g in zip(params, grads, strict=True):
            p.sub_(lr * g)
    return math.sqrt(_squared_norm(grads))


def commutator_defect(
    model,
    batch_a: EncodedSplit,
    batch_b: EncodedSplit,
    lr: float,
    loss_fn: LossFn = answer_loss,
    dtype: torch.dtype = torch.float64,
) -> float:
    """How much the order of two SGD steps matters: from the same weights θ, θ_AB is a step on A
    then one on B, θ_BA the reverse, and the defect is ||θ_AB - θ_BA|| / (lr^2 ||g_A|| ||g_B||),
    with g_A, g_B the gradients at θ. To second order θ_AB - θ_BA = lr^2 (H_A g_B - H_B g_A), so
    the defect is free of the step size. Copies in `dtype` (eval mode) take the steps, so the model
    passed in is unchanged and the difference is not float32 rounding."""
    paths = []
    for first, second in ((batch_a, batch_b), (batch_b, batch_a)):
        copied = copy.deepcopy(model).to(dtype).eval()
        first_norm = _sgd_step(copied, first, lr, loss_fn)
        _sgd_step(copied, second, lr, loss_fn)
        paths.append((copied, first_norm))
    (ab, norm_a), (ba, norm_b) = paths
    difference = _squared_norm(p - q for p, q in zip(_trainable(ab), _trainable(ba), strict=True))
    scale = lr**2 * norm_a * norm_b
    return math.sqrt(difference) / scale if scale > 0 else math.nan
