"""Weight norms per checkpoint: the whole network, the embeddings, each block, the final norm and the
output head, next to the same norms of randomly initialized networks. Weight decay shrinks the
memorizing solution; the norm's course over training is the cheapest test-free monitor."""

import torch

from grokstudy.analyses.runner import null_models
from grokstudy.models import block_modules, embedding_parameters, final_norm, unembedding


def _norm(tensors) -> tuple[float, int]:
    unique = {id(t): t for t in tensors}.values()
    squares = sum(float(t.detach().float().pow(2).sum()) for t in unique)
    return squares**0.5, sum(t.numel() for t in unique)


def module_norms(model) -> list[tuple[str, float, int]]:
    """(module, L2 norm of its parameters, parameter count); a tied output head equals the token embedding."""
    groups = {
        "total": list(model.parameters()),
        "embeddings": embedding_parameters(model),
        **{f"block_{i}": list(block.parameters()) for i, block in enumerate(block_modules(model), start=1)},
        "final_norm": list(final_norm(model).parameters()),
        "unembedding": [unembedding(model).weight],
    }
    return [(name, *_norm(tensors)) for name, tensors in groups.items()]


@torch.no_grad()
def _rows(model, job, **labels) -> list[dict]:
    return [
        {"run": job.run, **labels, "module": name, "norm": norm, "parameters": count}
        for name, norm, count in module_norms(model)
    ]


def per_checkpoint(model, step: int, job, prepared) -> dict:
    return {"weight_norms": _rows(model, job, network="step0" if step == 0 else "trained", seed=-1, step=step)}


def nulls(job, prepared) -> dict:
    rows = []
    for seed, model in null_models(job.model_spec, job.tokenizer, job.settings["null_seeds"], job.device):
        rows += _rows(model, job, network="random_init", seed=seed, step=0)
    return {"null_weight_norms": rows}
