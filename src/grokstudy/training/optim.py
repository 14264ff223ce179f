"""AdamW over the model interface's parameter groups (weight decay on matrices only)."""

import torch

from grokstudy.models import parameter_groups


def parameter_names(model) -> dict[int, str]:
    return {id(p): name for name, p in model.named_parameters()}


def build_optimizer(model, params: dict, fused: bool = False) -> torch.optim.AdamW:
    groups = parameter_groups(model, params["weight_decay"], params.get("embedding_weight_decay", True))
    return torch.optim.AdamW(groups, lr=params["lr"], betas=tuple(params["betas"]), eps=1e-8, fused=fused or None)
