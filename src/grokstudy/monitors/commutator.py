"""How much the order of two training steps matters: the commutator defect of SGD steps on pairs
of training batches."""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from grokstudy.batching import EncodedSplit, encode
from grokstudy.monitors import sample
from grokstudy.monitors.gradients import LossFn, answer_loss, gradients, squared_norm, trainable


def _sgd_step(model, batch: EncodedSplit, lr: float, loss_fn: LossFn) -> float:
    """One plain SGD step in place; the norm of the gradient it took."""
    params = trainable(model)
    grads = gradients(model, batch, loss_fn)
    with torch.no_grad():
        for p, g in zip(params, grads, strict=True):
            p.sub_(lr * g)
    return math.sqrt(squared_norm(grads))


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
    difference = squared_norm(p - q for p, q in zip(trainable(ab), trainable(ba), strict=True))
    scale = lr**2 * norm_a * norm_b
    return math.sqrt(difference) / scale if scale > 0 else math.nan


def prepare(inferred, tokenizer, settings: dict, device) -> list[tuple[EncodedSplit, EncodedSplit]]:
    rng = sample.stream(settings["sample_seed"], "commutator")

    def batch() -> EncodedSplit:
        return encode(sample.draw(inferred, settings["commutator_batch"], rng), tokenizer).to(device)

    return [(batch(), batch()) for _ in range(settings["commutator_pairs"])]


def read(model, pairs, settings: dict) -> list[tuple[str, str, float]]:
    defects = [commutator_defect(model, a, b, settings["commutator_lr"]) for a, b in pairs]
    return [("commutator_defect", "train", float(np.mean(defects)))]
