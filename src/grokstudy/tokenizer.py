"""A word-level tokenizer over the compact vocabulary: one id per prompt token, no BOS."""

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from grokstudy.data import tokens


def build_tokenizer(vocabulary: list[str]) -> PreTrainedTokenizerFast:
    core = Tokenizer(models.WordLevel(vocab={tok: i for i, tok in enumerate(vocabulary)}, unk_token=tokens.UNK))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=tokens.PAD,
        unk_token=tokens.UNK,
        padding_side="right",
        model_max_length=8,
    )
