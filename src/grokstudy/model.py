"""GPT-2 built from a fresh config: no pretrained weights, nothing fetched."""

from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast


def build_config(model_params: dict, tokenizer: PreTrainedTokenizerFast) -> GPT2Config:
    d = model_params["d_model"]
    return GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=model_params.get("max_positions", 8),
        n_embd=d,
        n_layer=model_params["layers"],
        n_head=model_params["heads"],
        n_inner=model_params.get("mlp_ratio", 4) * d,
        resid_pdrop=model_params["dropout"],
        embd_pdrop=model_params["dropout"],
        attn_pdrop=model_params["dropout"],
        tie_word_embeddings=model_params.get("tie_embeddings", True),
        initializer_range=model_params.get("init_std", 0.02),
        bos_token_id=tokenizer.unk_token_id,
        eos_token_id=tokenizer.unk_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def build_model(model_params: dict, tokenizer: PreTrainedTokenizerFast, seed: int) -> GPT2LMHeadModel:
    import torch

    torch.manual_seed(seed)
    return GPT2LMHeadModel(build_config(model_params, tokenizer))
