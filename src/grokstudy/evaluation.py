"""Accuracy and loss of the answer token, per split."""

import torch
import torch.nn.functional as F

from grokstudy.batching import EncodedSplit, answer_logits


@torch.no_grad()
def evaluate_split(model, data: EncodedSplit, batch_size: int = 4096) -> dict:
    """Top-1 accuracy (argmax at the answer position) and mean cross-entropy, in eval mode."""
    was_training = model.training
    model.eval()
    correct, loss_sum = 0, 0.0
    for start in range(0, len(data), batch_size):
        batch = data.select(torch.arange(start, min(start + batch_size, len(data)), device=data.answer_id.device))
        logits = answer_logits(model, batch).float()
        loss_sum += F.cross_entropy(logits, batch.answer_id, reduction="sum").item()
        correct += (logits.argmax(-1) == batch.answer_id).sum().item()
    model.train(was_training)
    n = len(data)
    return {"accuracy": correct / n, "loss": loss_sum / n, "n": n}
