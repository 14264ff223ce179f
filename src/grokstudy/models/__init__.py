"""The model interface: every probe, the optimizer, the cluster estimates and the benchmark use
only these functions. An architecture is one module plus its row in ARCHITECTURES.

Checkpoints reload with `AutoModelForCausalLM.from_pretrained`; an architecture that transformers
does not know registers its config and model with the Auto classes when its module is imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from grokstudy.models.gpt2 import GPT2
from grokstudy.models.interface import Architecture, Site, _hidden, _hooks, _with_hidden

ARCHITECTURES: dict[str, Architecture] = {arch.name: arch for arch in (GPT2(),)}
DEFAULT_ARCH = "gpt2"

if TYPE_CHECKING:  # torch and transformers load on first use: the Snakefile imports this package
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "Site",
    "architecture",
    "architecture_of",
    "block_modules",
    "build_model",
    "depth",
    "embedding_parameters",
    "final_norm",
    "forward_cost",
    "parameter_groups",
    "patched_state",
    "residual_states",
    "trunk_parameters",
    "unembedding",
]


def architecture(spec: dict) -> Architecture:
    """The architecture a typed model spec names (`arch`, GPT-2 when absent)."""
    name = spec.get("arch", DEFAULT_ARCH)
    if name not in ARCHITECTURES:
        raise ValueError(f"model arch {name!r} is not one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def architecture_of(model: PreTrainedModel) -> Architecture:
    """The architecture of a built or reloaded model, recognized by its config's model_type."""
    for arch in ARCHITECTURES.values():
        if arch.model_type == model.config.model_type:
            return arch
    raise ValueError(f"no architecture is registered for model_type {model.config.model_type!r}")


def build_model(spec: dict, tokenizer: PreTrainedTokenizerFast, seed: int) -> PreTrainedModel:
    """A freshly initialized model: the same weights for the same spec, vocabulary and seed."""
    import torch

    torch.manual_seed(seed)
    return architecture(spec).build(spec, tokenizer)


def depth(spec: dict) -> int:
    """Residual states after the embeddings; probes see depth + 1 states."""
    return architecture(spec).depth(spec)


def final_norm(model: PreTrainedModel) -> torch.nn.Module:
    return architecture_of(model).final_norm(model)


def embedding_parameters(model: PreTrainedModel) -> list:
    """The token and position embedding tensors."""
    return architecture_of(model).embedding_parameters(model)


def block_modules(model: PreTrainedModel) -> list:
    """Each distinct module at a residual site that holds parameters (a looped block once), in order."""
    seen, blocks = set(), []
    for site in architecture_of(model).residual_sites(model):
        if id(site.module) not in seen and any(True for _ in site.module.parameters()):
            seen.add(id(site.module))
            blocks.append(site.module)
    return blocks


def unembedding(model: PreTrainedModel) -> torch.nn.Module:
    return model.get_output_embeddings()


def residual_states(model: PreTrainedModel, input_ids: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The residual states x_0 ... x_depth (before the final norm), each (n, positions, d), and the
    logits at the last position."""
    import torch

    states: dict[int, torch.Tensor] = {}

    def record(depth_index, output):
        states[depth_index] = _hidden(output).clone()

    with torch.no_grad(), _hooks(architecture_of(model).residual_sites(model), record):
        logits = model(input_ids=input_ids).logits[:, -1]
    return [states[d] for d in sorted(states)], logits


@contextmanager
def patched_state(model: PreTrainedModel, depth_index: int, position: int, replacement: torch.Tensor) -> Iterator[None]:
    """Inside the block, every forward pass replaces x_depth_index at `position` with `replacement` (n, d)."""

    def patch(index, output):
        if index != depth_index:
            return None
        hidden = _hidden(output).clone()
        hidden[:, position] = replacement
        return _with_hidden(output, hidden)

    with _hooks(architecture_of(model).residual_sites(model), patch):
        yield


def parameter_groups(model: PreTrainedModel, weight_decay: float, decay_embeddings: bool = True) -> list[dict]:
    """AdamW groups by tensor rank: matrices decay, vectors (biases, norm gains) do not. With
    `decay_embeddings` false the embeddings join the vectors. A tied output head is the token
    embedding itself (named_parameters yields it once), so it follows the embeddings."""
    exempt = set() if decay_embeddings else {id(p) for p in architecture_of(model).embedding_parameters(model)}
    decay, no_decay = [], []
    for _, param in model.named_parameters():
        (decay if param.dim() >= 2 and id(param) not in exempt else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def trunk_parameters(spec: dict) -> int:
    """Parameters of the blocks, from the spec alone (no model is built)."""
    return architecture(spec).trunk_parameters(spec)


def forward_cost(spec: dict) -> int:
    """Relative cost of one token's forward pass, from the spec alone: block applications x d_model^2."""
    return architecture(spec).block_applications_cost(spec)
