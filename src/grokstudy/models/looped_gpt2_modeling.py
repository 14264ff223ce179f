"""The looped GPT-2 as transformers classes: L pre-LN GPT-2 blocks applied R times, with one final
LayerNorm after the last application and an output head tied to the token embedding.

Importing this module registers the classes with transformers' Auto classes, so a saved
checkpoint reloads with `AutoModelForCausalLM.from_pretrained`. The blocks get an explicit causal
mask from transformers' public mask builder: a GPT2Block called on its own adds none, and an
unmasked block would let every position read the later ones.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    GenerationMixin,
    GPT2Config,
    GPT2PreTrainedModel,
)
from transformers.masking_utils import create_causal_mask
from transformers.modeling_outputs import BaseModelOutputWithPastAndCrossAttentions, CausalLMOutputWithCrossAttentions
from transformers.models.gpt2.modeling_gpt2 import GPT2Block

MODEL_TYPE = "looped_gpt2"


class LoopedGPT2Config(GPT2Config):
    """GPT-2's config, where `n_layer` counts the layers of one loop and `recurrence` the loops."""

    model_type = MODEL_TYPE

    def __init__(self, recurrence: int = 1, zero_init_out_proj: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.recurrence = recurrence
        self.zero_init_out_proj = zero_init_out_proj


class LoopedGPT2Model(GPT2PreTrainedModel):
    config_class = LoopedGPT2Config

    def __init__(self, config: LoopedGPT2Config):
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(GPT2Block(config, layer_idx=i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.wte

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.wte = embeddings

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, recurrence: int | None = None, **_
    ) -> BaseModelOutputWithPastAndCrossAttentions:
        """`recurrence` overrides the trained number of loops (a test-time sweep)."""
        position_ids = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        embeds = self.wte(input_ids)
        mask = create_causal_mask(
            config=self.config,
            inputs_embeds=embeds,
            attention_mask=attention_mask,
            cache=None,
            position_ids=position_ids,
        )
        hidden = self.drop(embeds + self.wpe(position_ids))
        for _ in range(recurrence or self.config.recurrence):
            for block in self.h:
                hidden = block(hidden, None, mask, position_ids=position_ids)
        return BaseModelOutputWithPastAndCrossAttentions(last_hidden_state=self.ln_f(hidden))


class LoopedGPT2LMHeadModel(GPT2PreTrainedModel, GenerationMixin):
    config_class = LoopedGPT2Config
    _tied_weights_keys: ClassVar[dict[str, str]] = {"lm_head.weight": "transformer.wte.weight"}

    def __init__(self, config: LoopedGPT2Config):
        super().__init__(config)
        self.transformer = LoopedGPT2Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()
        if config.zero_init_out_proj:
            # Every block starts as the identity, so looping an untrained block changes nothing.
            with torch.no_grad():
                for block in self.transformer.h:
                    block.attn.c_proj.weight.zero_()
                    block.mlp.c_proj.weight.zero_()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        recurrence: int | None = None,
        **_,
    ) -> CausalLMOutputWithCrossAttentions:
        hidden = self.transformer(input_ids, attention_mask=attention_mask, recurrence=recurrence).last_hidden_state
        logits = self.lm_head(hidden)
        loss = None if labels is None else self.loss_function(logits, labels, vocab_size=self.config.vocab_size)
        return CausalLMOutputWithCrossAttentions(loss=loss, logits=logits)


AutoConfig.register(MODEL_TYPE, LoopedGPT2Config, exist_ok=True)
AutoModel.register(LoopedGPT2Config, LoopedGPT2Model, exist_ok=True)
AutoModelForCausalLM.register(LoopedGPT2Config, LoopedGPT2LMHeadModel, exist_ok=True)
