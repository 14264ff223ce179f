"""How alike the training examples pull the weights: the m-coherence of per-example gradients."""

from __future__ import annotations

import math

import torch

from grokstudy.batching import EncodedSplit, encode
from grokstudy.monitors import sample
from grokstudy.monitors.gradients import LossFn, answer_loss, evaluating, gradients


def gradient_coherence(model, batch: EncodedSplit, loss_fn: LossFn = answer_loss) -> float:
    """m-coherence of the per-example gradients g_1 ... g_m of the batch (Chatterjee 2020):
    alpha_m = m ||mean_i g_i||^2 / mean_i ||g_i||^2, which is m when every example pulls the
    weights the same way and about 1 when their gradients are uncorrelated. The examples go one by
    one in eval mode; the model's weights, mode and `.grad` are left as they were."""
    m = len(batch)
    total, squares = None, 0.0
    with evaluating(model):
        for i in range(m):
            flat = torch.cat([g.reshape(-1) for g in gradients(model, batch.select(torch.tensor([i])), loss_fn)])
            flat = flat.detach().double()
            total = flat if total is None else total + flat
            squares += float(flat.pow(2).sum())
    if squares == 0.0:
        return math.nan
    return m * float((total / m).pow(2).sum()) / (squares / m)


def prepare(inferred, tokenizer, settings: dict, device) -> EncodedSplit:
    rng = sample.stream(settings["sample_seed"], "coherence")
    return encode(sample.draw(inferred, settings["coherence_examples"], rng), tokenizer).to(device)


def read(model, examples: EncodedSplit, settings: dict) -> list[tuple[str, str, float]]:
    return [("gradient_coherence", "train", gradient_coherence(model, examples))]
