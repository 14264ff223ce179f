"""Logit lens: decode each layer's residual stream through the final LayerNorm and the unembedding.

Ranks are taken over the task's candidate tokens only (entities for composition, values
for comparison). Probes run in fp32 and eval mode.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch


@dataclass(frozen=True)
class ProbeSite:
    position_name: str
    position: int  # index in the prompt
    target_column: str  # column holding the token that should be decodable there
    prefix_length: int  # the state at `position` depends only on this many leading tokens


SITES = {
    # x_l(r1) depends only on (h, r1): probe unique prefixes, not queries.
    "composition": (ProbeSite("r1", 1, "bridge", 2), ProbeSite("r2", 2, "answer", 3)),
    "comparison": (ProbeSite("e1", 2, "value1", 3), ProbeSite("e2", 4, "value2", 5)),
}
PROBE_SPLITS = ("train_inferred", "test_inferred_id", "test_inferred_ood")
# Queries per forward pass: at least every shipped preset's max_queries (paper: 1000), so theirs go
# through in one pass, and few enough that (layers + 1) x batch x vocab fp32 logits fit on a GPU.
PROBE_BATCH = 4096


def candidate_tokens(vocabulary: list[str], task: str) -> list[str]:
    prefix = "<e_" if task == "composition" else "<v_"
    return [t for t in vocabulary if t.startswith(prefix)]


def halves(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-query values split by the (deterministic) query order: the even ones select a layer,
    the odd ones test it, so a chosen layer is never judged on the queries that chose it."""
    return values[..., 0::2], values[..., 1::2]


def site_queries(frame: pd.DataFrame, site: ProbeSite, limit: int, seed: int) -> pd.DataFrame:
    """Unique prefixes for the site with their target token, at most `limit`, deterministically sampled."""
    prefixes = frame["prompt"].str.split(" ").str[: site.prefix_length].str.join(" ")
    unique = pd.DataFrame({"prompt": prefixes, "target": frame[site.target_column]}).drop_duplicates("prompt")
    if len(unique) > limit:
        unique = unique.sample(n=limit, random_state=seed)
    return unique.reset_index(drop=True)


@torch.no_grad()
def layer_logits(model, input_ids: torch.Tensor, position: int) -> torch.Tensor:
    """(layers + 1, n, vocab) logits read off the residual stream at `position` after each block."""
    model.eval()
    hidden = model(input_ids=input_ids, output_hidden_states=True).hidden_states
    final_norm, unembed = model.base_model.ln_f, model.get_output_embeddings()
    # The last hidden state already has the final LayerNorm applied; the others do not.
    states = [final_norm(h[:, position]) for h in hidden[:-1]] + [hidden[-1][:, position]]
    return torch.stack([unembed(s.float()) for s in states])


def reciprocal_ranks(logits: torch.Tensor, candidate_ids: torch.Tensor, target_ids: torch.Tensor) -> np.ndarray:
    """1 / (1 + rank) of each target among the candidates, per layer: (layers + 1, n)."""
    scores = logits[..., candidate_ids]
    target_scores = logits.gather(-1, target_ids.expand(logits.shape[0], -1).unsqueeze(-1))
    rank = (scores > target_scores).sum(-1)
    return (1.0 / (1.0 + rank.float())).cpu().numpy()


def model_device(model) -> torch.device:
    return next(model.parameters()).device


def probe_model(model, tokenizer, queries: dict[str, pd.DataFrame], site: ProbeSite, candidates: list[str],
                batch_size: int = PROBE_BATCH) -> dict[str, np.ndarray]:
    """Reciprocal ranks per layer for each split's queries at one site, on the model's device.

    Queries go through in batches of `batch_size`: each holds (layers + 1) x batch x vocab logits.
    """
    vocab, device = tokenizer.get_vocab(), model_device(model)
    candidate_ids = torch.tensor([vocab[t] for t in candidates], device=device)
    out = {}
    for split, frame in queries.items():
        if frame.empty:
            continue
        ids = torch.tensor([[vocab[t] for t in p.split(" ")] for p in frame["prompt"]], device=device)
        targets = torch.tensor([vocab[t] for t in frame["target"]], device=device)
        out[split] = np.concatenate([
            reciprocal_ranks(layer_logits(model, ids[start:start + batch_size], site.position), candidate_ids,
                             targets[start:start + batch_size])
            for start in range(0, len(ids), batch_size)
        ], axis=1)
    return out

