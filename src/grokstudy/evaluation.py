"""Accuracy and loss of the answer token, per split."""

import torch
import torch.nn.functional as F

from grokstudy.batching import EncodedSplit, answer_logits


@torch.no_grad()
def evaluate_items(model, data: EncodedSplit, batch_size: int = 4096) -> tuple[dict, torch.Tensor]:
    """Top-1 accuracy (argmax at the answer position) and mean cross-entropy, in eval mode, and
    whether each item was answered correctly (a bool tensor on the host)."""
    was_training = model.training
    model.eval()
    hits, loss_sum = [], 0.0
    for start in range(0, len(data), batch_size):
        batch = data.select(torch.arange(start, min(start + batch_size, len(data)), device=data.answer_id.device))
        logits = answer_logits(model, batch).float()
        loss_sum += F.cross_entropy(logits, batch.answer_id, reduction="sum").item()
        hits.append((logits.argmax(-1) == batch.answer_id).cpu())
    model.train(was_training)
    correct = torch.cat(hits)
    n = len(data)
    return {"accuracy": int(correct.sum()) / n, "loss": loss_sum / n, "n": n}, correct


def evaluate_split(model, data: EncodedSplit, batch_size: int = 4096) -> dict:
    return evaluate_items(model, data, batch_size)[0]
