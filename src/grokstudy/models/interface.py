"""What the study needs from a model architecture, and the generic operations built on it.

An architecture names its residual-stream sites (TransformerLens style): the module call whose
output is the residual state x_d after depth d, for d = 0 (embeddings) ... depth. Everything a
probe does, reading states, patching one state at one position, decoding through the final norm
and the unembedding, goes through those sites and public PyTorch hooks, never through an
architecture's attribute names. A looped model lists the same module once per loop, so a site is
a (module, call) pair: the n-th call of that module in one forward pass. The probes, monitors,
claims and presets name the d-th state `resid.{d}` (grokstudy.sites); the model code needs no names.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # nothing heavy at import: the Snakefile reads architectures' costs
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerFast


@dataclass(frozen=True)
class Site:
    """The `call`-th output of `module` in one forward pass: one residual state."""

    module: torch.nn.Module
    call: int = 0


class Architecture(Protocol):
    """One architecture: `arch` in the typed model spec names it."""

    name: str
    model_type: str  # the transformers config's model_type, how a loaded checkpoint is recognized
    depth_keys: tuple[str, ...]  # the model spec keys that set its depth (others' are refused)

    def build(self, spec: dict, tokenizer: PreTrainedTokenizerFast) -> PreTrainedModel: ...

    def register_classes(self) -> None:
        """Make its checkpoints loadable through transformers' Auto classes (before any load)."""
        ...

    def depth(self, spec: dict) -> int:
        """Residual states after the embeddings: the number of block applications."""
        ...

    def residual_sites(self, model: PreTrainedModel) -> list[Site]: ...

    def final_norm(self, model: PreTrainedModel) -> torch.nn.Module: ...

    def embedding_parameters(self, model: PreTrainedModel) -> list[torch.nn.Parameter]:
        """Token and position embeddings (an untied output head is not one)."""
        ...

    def trunk_parameters(self, spec: dict) -> int:
        """Parameters of the blocks (embeddings left out): the cluster's memory estimate and FLOPs."""
        ...

    def block_applications_cost(self, spec: dict) -> int:
        """Relative cost of one token's forward pass: block applications x d_model^2."""
        ...


def _hidden(output):
    # A transformers block may return a tensor or a tuple whose first entry is the hidden state.
    return output[0] if isinstance(output, tuple) else output


def _with_hidden(output, hidden):
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


@contextmanager
def _hooks(sites: list[Site], on_state) -> Iterator[None]:
    """Call `on_state(depth, output)` for every site's call; its return value (if not None) replaces the output."""
    depths_of: dict[int, dict[int, int]] = {}
    for depth, site in enumerate(sites):
        depths_of.setdefault(id(site.module), {})[site.call] = depth
    calls: dict[int, int] = {}

    def hook(module, inputs, output):
        call = calls.get(id(module), 0)
        calls[id(module)] = call + 1
        depth = depths_of[id(module)].get(call)
        return None if depth is None else on_state(depth, output)

    handles = [module.register_forward_hook(hook) for module in {id(s.module): s.module for s in sites}.values()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
