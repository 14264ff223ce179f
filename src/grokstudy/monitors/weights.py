"""Weight statistics of one checkpoint: the norm of each module, the mean stable rank of the
blocks' matrices, and the logit scale on training queries, which grows as a memorizer sharpens."""

from __future__ import annotations

import numpy as np
import torch

from grokstudy.analyses.weight_norms import module_norms
from grokstudy.batching import EncodedSplit, answer_logits, encode
from grokstudy.models import block_modules
from grokstudy.monitors import sample
from grokstudy.monitors.gradients import evaluating


def stable_rank(matrix: torch.Tensor) -> float:
    """||W||_F^2 / ||W||_2^2: a rank that small singular values barely move (in float64). The zero
    matrix has stable rank 0, as it has rank 0."""
    w = matrix.detach().double()
    spectral = float(torch.linalg.matrix_norm(w, ord=2))
    if spectral == 0.0:
        return 0.0
    return float(w.pow(2).sum()) / spectral**2


def logit_scale(model, queries: EncodedSplit) -> float:
    """Mean over queries of the largest answer-position logit minus the mean one."""
    with torch.no_grad(), evaluating(model):
        logits = answer_logits(model, queries).double()
    return float((logits.max(-1).values - logits.mean(-1)).mean())


def prepare(inferred, tokenizer, settings: dict, device) -> EncodedSplit:
    return encode(sample.queries(inferred, settings), tokenizer).to(device)


def read(model, queries: EncodedSplit, settings: dict) -> list[tuple[str, str, float]]:
    # Each distinct block once: a looped block's matrices count once.
    matrices = [p for block in block_modules(model) for p in block.parameters() if p.dim() == 2]
    return [
        *(("norm", module, norm) for module, norm, _ in module_norms(model)),
        ("stable_rank", "blocks", float(np.mean([stable_rank(m) for m in matrices]))),
        ("logit_scale", "train", logit_scale(model, queries)),
    ]
