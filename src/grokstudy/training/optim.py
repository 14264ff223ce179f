"""AdamW with weight decay on weight matrices only (not biases or LayerNorm).

With `embedding_weight_decay: false` the token and position embeddings join the no-decay
group too. A tied output head is the token-embedding tensor itself (named_parameters() yields
it once, as the embedding), so it follows the embeddings; an untied head stays a decayed matrix.
"""

import torch

EMBEDDING_MODULES = frozenset({"wte", "wpe"})


def parameter_names(model) -> dict[int, str]:
    return {id(p): name for name, p in model.named_parameters()}


def _is_norm_or_bias(name: str) -> bool:
    return name.endswith(".bias") or ".ln_" in name or name.startswith("ln_") or "ln_f" in name


def _is_embedding(name: str) -> bool:
    parts = name.split(".")
    return len(parts) >= 2 and parts[-2] in EMBEDDING_MODULES


def build_optimizer(model, params: dict, fused: bool = False) -> torch.optim.AdamW:
    decay_embeddings = params.get("embedding_weight_decay", True)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        exempt = _is_norm_or_bias(name) or (not decay_embeddings and _is_embedding(name))
        (no_decay if exempt else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": params["weight_decay"]},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=params["lr"], betas=tuple(params["betas"]), eps=1e-8, fused=fused or None)
