"""Prompts to tensors. Prompts are right-padded; the answer is read at the last real token.

With causal attention and right padding, the positions up to the last real token never
see a pad, so no attention mask is needed and a padded prompt gives the same answer as an
unpadded one (tested).
"""

from dataclasses import dataclass

import pandas as pd
import torch
from transformers import PreTrainedTokenizerFast


@dataclass
class EncodedSplit:
    input_ids: torch.Tensor  # (n, max_len), right-padded
    answer_position: torch.Tensor  # (n,) index of the last prompt token
    answer_id: torch.Tensor  # (n,)

    def __len__(self) -> int:
        return len(self.answer_id)

    def select(self, index: torch.Tensor) -> "EncodedSplit":
        return EncodedSplit(self.input_ids[index], self.answer_position[index], self.answer_id[index])

    def to(self, device) -> "EncodedSplit":
        return EncodedSplit(*(t.to(device) for t in (self.input_ids, self.answer_position, self.answer_id)))


def encode(frame: pd.DataFrame, tokenizer: PreTrainedTokenizerFast) -> EncodedSplit:
    vocab = tokenizer.get_vocab()
    rows = [[vocab[tok] for tok in prompt.split(" ")] for prompt in frame["prompt"]]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
    lengths = torch.tensor([len(r) for r in rows])
    answers = torch.tensor([vocab[a] for a in frame["answer"]])
    return EncodedSplit(ids, lengths - 1, answers)


def logits_at(model, input_ids: torch.Tensor, answer_position: torch.Tensor) -> torch.Tensor:
    """Logits at each row's answer position: the trunk over every position, a per-row gather,
    then the LM head. Public transformers API only, so it survives upgrades and torch.compile."""
    hidden = model.base_model(input_ids=input_ids, use_cache=False).last_hidden_state
    at_answer = hidden[torch.arange(hidden.shape[0], device=hidden.device), answer_position]
    return model.get_output_embeddings()(at_answer)


def answer_logits(model, batch: EncodedSplit) -> torch.Tensor:
    return logits_at(model, batch.input_ids, batch.answer_position)
