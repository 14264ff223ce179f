"""The model interface: every probe, the optimizer, the cluster estimates and the benchmark use
only these functions. An architecture is one module of this package that defines ARCHITECTURE; its
file name is the `arch` a model spec names (and the model_type of its checkpoints), so
`arch: gpt2` is grokstudy.models.gpt2. Nothing lists the architectures: adding one adds a file.

A job imports only the architecture its model spec names, so adding or editing one architecture
reruns no job of another.
"""

from __future__ import annotations

import ast
import importlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from grokstudy.models.interface import Architecture, Site, _hidden, _hooks, _with_hidden

DEFAULT_ARCH = "gpt2"


def _architectures() -> tuple[str, ...]:
    """The modules of this package that assign ARCHITECTURE at their top level, read without importing."""
    found = []
    for path in sorted(Path(__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        names = {
            t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)
        }
        if "ARCHITECTURE" in names:
            found.append(path.stem)
    return tuple(found)


# Every `arch` a model spec may name (the model_type of its checkpoints too).
ARCHITECTURES = _architectures()

if TYPE_CHECKING:  # torch and transformers load on first use: the Snakefile imports this package
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "Site",
    "architecture",
    "architecture_module",
    "architecture_of",
    "block_modules",
    "build_model",
    "depth",
    "embedding_parameters",
    "final_norm",
    "forward_cost",
    "iteration_of",
    "load_model",
    "parameter_groups",
    "patched_state",
    "recurrence",
    "residual_states",
    "test_time_recurrence",
    "trunk_parameters",
    "unembedding",
]


def architecture_module(spec: dict) -> str:
    """The module of the architecture a typed model spec names (`arch`, GPT-2 when absent)."""
    name = spec.get("arch", DEFAULT_ARCH)
    if name not in ARCHITECTURES:
        raise ValueError(f"model arch {name!r} is not one of {sorted(ARCHITECTURES)}")
    return f"{__name__}.{name}"


def architecture(spec: dict) -> Architecture:
    return importlib.import_module(architecture_module(spec)).ARCHITECTURE


def architecture_of(model: PreTrainedModel) -> Architecture:
    """The architecture of a built or reloaded model, recognized by its config's model_type."""
    model_type = model.config.model_type
    if model_type not in ARCHITECTURES:
        raise ValueError(f"no architecture is registered for model_type {model_type!r}")
    return architecture({"arch": model_type})


def load_model(path: str | Path, **options) -> PreTrainedModel:
    """A saved checkpoint through `AutoModelForCausalLM.from_pretrained`, after its architecture
    (named by the model_type in its config.json) has registered its classes with transformers."""
    from transformers import AutoModelForCausalLM

    model_type = json.loads((Path(path) / "config.json").read_text())["model_type"]
    if model_type not in ARCHITECTURES:
        raise ValueError(f"{path}: no architecture is registered for model_type {model_type!r}")
    architecture({"arch": model_type}).register_classes()
    return AutoModelForCausalLM.from_pretrained(path, **options)


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


def recurrence(model: PreTrainedModel) -> int:
    """How many times the model applies its blocks: its training recurrence, 1 for a model that does not loop."""
    return getattr(model.config, "recurrence", 1)


@contextmanager
def test_time_recurrence(model: PreTrainedModel, loops: int) -> Iterator[None]:
    """Inside the block a looped model applies its blocks `loops` times (its residual sites follow)."""
    if not hasattr(model.config, "recurrence"):
        raise ValueError(f"model_type {model.config.model_type!r} does not loop; only a looped model's loops vary")
    trained = model.config.recurrence
    model.config.recurrence = loops
    try:
        yield
    finally:
        model.config.recurrence = trained


def iteration_of(depth_index: int, layers_per_loop: int) -> int:
    """The loop a residual state belongs to: 0 for the embeddings, then 1 for the first
    `layers_per_loop` block calls, 2 for the next, and so on (a model that does not loop: 1)."""
    return -(-depth_index // layers_per_loop)


def layers_per_loop(model: PreTrainedModel) -> int:
    """Distinct blocks of a built or loaded model: one loop's depth."""
    return len(block_modules(model))
