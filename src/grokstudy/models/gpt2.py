"""GPT-2 (transformers' GPT2LMHeadModel) built from a fresh config: no pretrained weights, nothing fetched."""

from __future__ import annotations

from typing import TYPE_CHECKING

from grokstudy.models.interface import Site

if TYPE_CHECKING:  # transformers loads only when a model is built: the Snakefile reads costs from here
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast


def gpt2_config(spec: dict, tokenizer: PreTrainedTokenizerFast) -> GPT2Config:
    from transformers import GPT2Config

    d = spec["d_model"]
    return GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=spec.get("max_positions", 8),
        n_embd=d,
        n_layer=spec["layers"],
        n_head=spec["heads"],
        n_inner=spec.get("mlp_ratio", 4) * d,
        resid_pdrop=spec["dropout"],
        embd_pdrop=spec["dropout"],
        attn_pdrop=spec["dropout"],
        tie_word_embeddings=spec.get("tie_embeddings", True),
        initializer_range=spec.get("init_std", 0.02),
        bos_token_id=tokenizer.unk_token_id,
        eos_token_id=tokenizer.unk_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


class GPT2:
    name = "gpt2"
    model_type = "gpt2"
    depth_keys = ("layers",)  # the model spec keys that set its depth

    def build(self, spec: dict, tokenizer: PreTrainedTokenizerFast) -> GPT2LMHeadModel:
        from transformers import GPT2LMHeadModel

        return GPT2LMHeadModel(gpt2_config(spec, tokenizer))

    def register_classes(self) -> None:
        pass  # transformers knows GPT-2

    def depth(self, spec: dict) -> int:
        return spec["layers"]

    def residual_sites(self, model: GPT2LMHeadModel) -> list[Site]:
        # x_0 leaves the embedding dropout; x_l leaves block l (before the final LayerNorm).
        trunk = model.base_model
        return [Site(trunk.drop), *(Site(block) for block in trunk.h)]

    def final_norm(self, model: GPT2LMHeadModel) -> torch.nn.Module:
        return model.base_model.ln_f

    def embedding_parameters(self, model: GPT2LMHeadModel) -> list[torch.nn.Parameter]:
        return [model.base_model.wte.weight, model.base_model.wpe.weight]

    def trunk_parameters(self, spec: dict) -> int:
        # attention 4 d^2 and MLP 2 x mlp_ratio d^2 weights per layer; biases and norms are small
        d = spec["d_model"]
        return spec["layers"] * (4 + 2 * spec.get("mlp_ratio", 4)) * d * d

    def block_applications_cost(self, spec: dict) -> int:
        return spec["layers"] * spec["d_model"] ** 2


ARCHITECTURE = GPT2()
