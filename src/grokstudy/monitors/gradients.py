"""Gradients of the training loss on a batch of training queries, for the gradient monitors. The
model runs in eval mode (no dropout), so a monitor is a function of the weights and the batch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from grokstudy.batching import EncodedSplit, answer_logits

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


def trainable(model) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def gradients(model, batch: EncodedSplit, loss_fn: LossFn) -> list[torch.Tensor]:
    """The loss gradient per trainable parameter, without touching any `.grad`."""
    params = trainable(model)
    grads = torch.autograd.grad(loss_fn(model, batch), params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


def squared_norm(tensors) -> float:
    return sum(float(t.detach().double().pow(2).sum()) for t in tensors)
