"""The looped GPT-2 architecture (recurrent depth): `layers_per_loop` GPT-2 blocks applied
`recurrence` times, so the residual stream passes depth = layers_per_loop x recurrence states
after the embeddings, and state d belongs to loop ceil(d / layers_per_loop).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from grokstudy.models.gpt2 import GPT2, gpt2_config
from grokstudy.models.interface import Site

if TYPE_CHECKING:  # transformers loads only when a model is built: the Snakefile reads costs from here
    from transformers import PreTrainedTokenizerFast

    from grokstudy.models.looped_gpt2_modeling import LoopedGPT2LMHeadModel


class LoopedGPT2(GPT2):
    """GPT-2's embeddings, final norm and head; its blocks are applied `recurrence` times."""

    name = "looped_gpt2"
    model_type = "looped_gpt2"
    depth_keys = ("layers_per_loop", "recurrence")  # the model spec keys that set its depth

    def build(self, spec: dict, tokenizer: PreTrainedTokenizerFast) -> LoopedGPT2LMHeadModel:
        from grokstudy.models.looped_gpt2_modeling import LoopedGPT2Config, LoopedGPT2LMHeadModel

        one_loop = gpt2_config({**spec, "layers": spec["layers_per_loop"]}, tokenizer).to_dict()
        for key in ("model_type", "transformers_version", "architectures"):
            one_loop.pop(key, None)
        config = LoopedGPT2Config(recurrence=spec["recurrence"], **one_loop)
        return LoopedGPT2LMHeadModel(config)

    def register_classes(self) -> None:
        import grokstudy.models.looped_gpt2_modeling  # noqa: F401  (its import registers the Auto classes)

    def depth(self, spec: dict) -> int:
        return spec["layers_per_loop"] * spec["recurrence"]

    def residual_sites(self, model: LoopedGPT2LMHeadModel) -> list[Site]:
        # x_0 leaves the embedding dropout; then one state per block call, loop after loop.
        trunk = model.base_model
        loops = range(model.config.recurrence)
        return [Site(trunk.drop), *(Site(block, loop) for loop in loops for block in trunk.h)]

    def trunk_parameters(self, spec: dict) -> int:
        # the weights of one loop: they are shared by every loop
        return super().trunk_parameters({**spec, "layers": spec["layers_per_loop"]})

    def block_applications_cost(self, spec: dict) -> int:
        return self.depth(spec) * spec["d_model"] ** 2


ARCHITECTURE = LoopedGPT2()
