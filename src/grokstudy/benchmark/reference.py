"""A training loop with the costs of the paper's original implementation, as a baseline.

It trains the same GPT-2 trunk the way the original code did: GPT-2's 50,257-token vocabulary
plus the study's tokens (~50.5k embedding and LM-head rows), prompts padded to 10 tokens, fp16
autocast with a gradient scaler on a GPU (fp32 on a CPU, where fp16 is emulated and the original
never ran it), tokenization and batching on the host every step, the loss over the whole padded
sequence (labels masked to the answer), and one `.item()` per step for logging. GPT-2's BPE
merges cannot be downloaded here, so the 50,257 extra rows are filler tokens: the tokenizer call,
the vocabulary size and the padding, which are what cost time, are reproduced.
"""

import random

import pandas as pd
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedModel, PreTrainedTokenizerFast

from grokstudy.models.gpt2 import GPT2

GPT2_VOCAB = 50_257
PADDED_LENGTH = 10


def reference_tokenizer(study_vocab: list[str]) -> PreTrainedTokenizerFast:
    words = [f"<bpe_{i}>" for i in range(GPT2_VOCAB)] + [t for t in study_vocab if not t.startswith("<bpe_")]
    vocab = {word: i for i, word in enumerate(words)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", pad_token="<pad>")


def reference_model(model_params: dict, tokenizer: PreTrainedTokenizerFast) -> PreTrainedModel:
    """The study's GPT-2 with the original code's context length (1024 positions)."""
    torch.manual_seed(0)
    return GPT2().build({**model_params, "arch": "gpt2", "max_positions": 1024, "mlp_ratio": 4}, tokenizer)


class ReferenceLoop:
    def __init__(self, train: pd.DataFrame, study_vocab: list[str], model_params: dict, run_params: dict, device):
        self.device = torch.device(device)
        self.texts = [f"{p} {a}" for p, a in zip(train["prompt"], train["answer"], strict=True)]
        self.prompt_lengths = [len(p.split(" ")) for p in train["prompt"]]
        self.tokenizer = reference_tokenizer(study_vocab)
        self.model = reference_model(model_params, self.tokenizer).to(self.device).train()
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=run_params["lr"],
            betas=tuple(run_params["betas"]),
            weight_decay=run_params["weight_decay"],
        )
        self.half = self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.half)
        self.batch_size = run_params["batch_size"]
        self.rng = random.Random(0)
        self.losses: list[float] = []

    def step(self) -> None:
        rows = self.rng.sample(range(len(self.texts)), self.batch_size)
        enc = self.tokenizer(
            [self.texts[i] for i in rows],
            padding="max_length",
            max_length=PADDED_LENGTH,
            truncation=True,
            return_tensors="pt",
        )
        labels = torch.full_like(enc["input_ids"], -100)
        for row, i in enumerate(rows):  # loss on the answer token only, as in the original
            labels[row, self.prompt_lengths[i]] = enc["input_ids"][row, self.prompt_lengths[i]]
        input_ids, mask, labels = (t.to(self.device) for t in (enc["input_ids"], enc["attention_mask"], labels))
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.half):
            logits = self.model(input_ids=input_ids, attention_mask=mask).logits
        loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.losses.append(loss.item())
