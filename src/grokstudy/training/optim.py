"""AdamW with weight decay on weight matrices only (not biases or LayerNorm)."""

import torch


def parameter_names(model) -> dict[int, str]:
    return {id(p): name for name, p in model.named_parameters()}


def build_optimizer(model, params: dict, fused: bool = False) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if name.endswith(".bias") or ".ln_" in name or name.startswith("ln_") or "ln_f" in name else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": params["weight_decay"]},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=params["lr"], betas=tuple(params["betas"]), eps=1e-8, fused=fused or None)
