"""Causal tracing for composition: how much each hidden state carries the answer.

For a two-hop query (h, r1, r2) -> t, a corrupted query swaps the head entity for another one
(h', r1, r2). Noising the state x_l(p) means running the clean query with that one state
replaced by its value from the corrupted run. The state's causal effect is the drop in the
probability of t it causes: P_clean(t) - P_noised(t). Noising x_L(r2) gives the whole effect of
the corruption; a state the prediction does not read from gives zero.

States are read and replaced at the model interface's residual sites (grokstudy.models); the
model runs in fp32 and eval mode.
"""

import numpy as np
import pandas as pd
import torch

from grokstudy.analyses.queries import PROBE_SPLITS, candidate_tokens
from grokstudy.analyses.runner import null_models
from grokstudy.data import store
from grokstudy.models import patched_state, residual_states
from grokstudy.stats import bootstrap_mean_ci

POSITIONS = ("h", "r1", "r2")  # composition prompt positions 0, 1, 2
# Queries per forward pass: at least every shipped preset's max_queries (paper: 1000).
TRACE_BATCH = 4096


def corrupted_heads(heads: list[str], entities: list[str], seed: int) -> list[str]:
    """Another entity for each query's head, uniform over the rest, deterministic in `seed`."""
    entities = sorted(entities)  # a tokenizer's vocabulary comes in no fixed order
    rng = np.random.default_rng(seed)
    index = {e: i for i, e in enumerate(entities)}
    picks = rng.integers(0, len(entities) - 1, size=len(heads))
    # Skip over the head's own index so the draw is uniform over the other entities.
    return [entities[p + (p >= index[h])] for h, p in zip(heads, picks, strict=True)]


@torch.no_grad()
def _noised_logits(
    model, input_ids: torch.Tensor, layer: int, position: int, replacement: torch.Tensor
) -> torch.Tensor:
    with patched_state(model, layer, position, replacement):
        return model(input_ids=input_ids).logits[:, -1]


def answer_probability(logits: torch.Tensor, target_ids: torch.Tensor) -> np.ndarray:
    return logits.float().softmax(-1).gather(-1, target_ids.unsqueeze(-1)).squeeze(-1).cpu().numpy()


@torch.no_grad()
def trace(model, clean_ids: torch.Tensor, corrupt_ids: torch.Tensor, target_ids: torch.Tensor) -> dict:
    """Per query: P(t) clean and corrupted, and P(t) with each state x_l(p) noised, shape (layers + 1, positions, n)."""
    model.eval()
    clean_states, clean_logits = residual_states(model, clean_ids)
    corrupt_states, corrupt_logits = residual_states(model, corrupt_ids)
    noised = np.stack(
        [
            np.stack(
                [
                    answer_probability(
                        _noised_logits(model, clean_ids, layer, position, corrupt_states[layer][:, position]),
                        target_ids,
                    )
                    for position in range(clean_ids.shape[1])
                ]
            )
            for layer in range(len(clean_states))
        ]
    )
    return {
        "clean": answer_probability(clean_logits, target_ids),
        "corrupt": answer_probability(corrupt_logits, target_ids),
        "noised": noised,
        "correct": (clean_logits.argmax(-1) == target_ids).cpu().numpy(),
    }


def effect_rows(traced: dict, resamples: int, confidence: float, bootstrap_seed: int, **labels) -> list[dict]:
    """Mean drop of P(t) per (layer, position) with a bootstrap CI, and its share of the total effect.

    The share is mean drop / mean total drop (a ratio of means: per-query ratios explode when a
    query's total effect is near zero); it is NaN when the corruption moves P(t) by < 1e-3 on average.
    """
    clean, corrupt, noised = traced["clean"], traced["corrupt"], traced["noised"]
    mean_total = float((clean - corrupt).mean())
    rows = []
    for layer in range(noised.shape[0]):
        for position in range(noised.shape[1]):
            drop = clean - noised[layer, position]
            low, high = bootstrap_mean_ci(drop, resamples, confidence, seed=bootstrap_seed)
            rows.append(
                {
                    **labels,
                    "layer": layer,
                    "position": POSITIONS[position],
                    "effect": float(drop.mean()),
                    "ci_low": low,
                    "ci_high": high,
                    "share_of_total": float(drop.mean() / mean_total) if abs(mean_total) >= 1e-3 else float("nan"),
                    "total_effect": mean_total,
                    "p_clean": float(clean.mean()),
                    "n": len(clean),
                    "confidence": confidence,
                }
            )
    return rows


def query_rows(traced: dict, **labels) -> pd.DataFrame:
    """Per query: answered correctly (clean), P(t), the corruption's total effect, and the drop of
    P(t) from noising each state as a column drop_<layer>_<position>."""
    clean, noised = traced["clean"], traced["noised"]
    drops = {
        f"drop_{layer}_{POSITIONS[position]}": clean - noised[layer, position]
        for layer in range(noised.shape[0])
        for position in range(noised.shape[1])
    }
    return pd.DataFrame(
        {
            **labels,
            "query": np.arange(len(clean)),
            "correct": traced["correct"],
            "p_clean": clean,
            "total_effect": clean - traced["corrupt"],
            **drops,
        }
    )


def tracing_queries(frame: pd.DataFrame, entities: list[str], limit: int, seed: int) -> pd.DataFrame:
    """At most `limit` queries, deterministically sampled, each with a corrupted prompt."""
    if len(frame) > limit:
        frame = frame.sample(n=limit, random_state=seed)
    tokens = frame["prompt"].str.split(" ")
    corrupted = corrupted_heads(tokens.str[0].tolist(), entities, seed)
    return pd.DataFrame(
        {
            "prompt": frame["prompt"].to_numpy(),
            "corrupted": [" ".join([c, *t[1:]]) for c, t in zip(corrupted, tokens, strict=True)],
            "answer": frame["answer"].to_numpy(),
        }
    )


def trace_in_batches(
    model, clean_ids: torch.Tensor, corrupt_ids: torch.Tensor, target_ids: torch.Tensor, batch_size: int
) -> dict:
    """`trace` over at most `batch_size` queries at a time, joined per query: it bounds the memory of the
    full-vocabulary logits at every position, and leaves the per-query numbers as they are."""
    parts = [
        trace(model, *(t[start : start + batch_size] for t in (clean_ids, corrupt_ids, target_ids)))
        for start in range(0, len(target_ids), batch_size)
    ]
    return {key: np.concatenate([p[key] for p in parts], axis=-1) for key in parts[0]}


def trace_model(
    model, tokenizer, queries: dict[str, pd.DataFrame], probes: dict, batch_size: int = TRACE_BATCH, **labels
) -> tuple[list[dict], pd.DataFrame]:
    """Effect rows per split, and the per-query table; the queries' tensors are made on the model's device."""
    vocab, device = tokenizer.get_vocab(), next(model.parameters()).device

    def ids(prompts):
        return torch.tensor([[vocab[t] for t in p.split(" ")] for p in prompts], device=device)

    rows, per_query = [], []
    for split, frame in queries.items():
        if frame.empty:
            continue
        answers = torch.tensor([vocab[a] for a in frame["answer"]], device=device)
        traced = trace_in_batches(model, ids(frame["prompt"]), ids(frame["corrupted"]), answers, batch_size)
        rows += effect_rows(
            traced, probes["bootstrap_resamples"], probes["confidence"], bootstrap_seed=0, split=split, **labels
        )
        per_query.append(query_rows(traced, split=split, **labels))
    return rows, pd.concat(per_query, ignore_index=True) if per_query else pd.DataFrame()


def prepare(job) -> dict:
    """The traced queries of every split with their corrupted prompts, shared by every checkpoint."""
    entities = candidate_tokens(list(job.tokenizer.get_vocab()), "composition")
    frames = store.read_eval(job.data_dir)
    return {s: tracing_queries(frames[s], entities, job.settings["max_queries"], seed=0) for s in PROBE_SPLITS}


def per_checkpoint(model, step: int, job, prepared) -> dict:
    network = "step0" if step == 0 else "trained"
    rows, queries = trace_model(
        model, job.tokenizer, prepared, job.settings, run=job.run, network=network, seed=-1, step=step
    )
    return {"causal_tracing": rows, "causal_tracing_queries": queries}


def nulls(job, prepared) -> dict:
    rows = []
    for seed, model in null_models(job.model_spec, job.tokenizer, job.settings["null_seeds"], job.device):
        rows += trace_model(
            model, job.tokenizer, prepared, job.settings, run=job.run, network="random_init", seed=seed, step=0
        )[0]
    return {"null_causal_tracing": rows}


def summary(tables: dict) -> str:
    """The final checkpoint's effects on training queries, layer x position."""
    table = tables["causal_tracing"]
    final = table[(table["step"] == table["step"].max()) & (table["split"] == "train_inferred")]
    return final.pivot_table(index="layer", columns="position", values="effect").round(3).to_string()
