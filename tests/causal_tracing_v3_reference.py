"""A frozen copy of causal tracing as it was before the released variant was added (criteria version 3:
queries, alternatives, the top-1-differs count, the rows), the oracle that the `v3` variant must
reproduce exactly. Only the helpers that did not change are imported."""

import numpy as np
import pandas as pd
import torch

from grokstudy import sites
from grokstudy.analyses.causal_tracing import POSITIONS, _answer, _probabilities
from grokstudy.analyses.queries import candidate_tokens
from grokstudy.models import patched_state, residual_states
from grokstudy.stats import bootstrap_mean_ci


def alternatives(prompt, answer, facts, entities, relations):
    h, r1, r2 = prompt.split(" ")

    def changes(*query):
        new = _answer(facts, *query)
        return new is not None and new != answer

    return {
        "h": [e for e in entities if e != h and changes(e, r1, r2)],
        "r1": [r for r in relations if r != r1 and changes(h, r, r2)],
        "r2": [r for r in relations if r != r2 and changes(h, r1, r)],
    }


def tracing_queries(frame, facts, vocabulary, limit, seed):
    entities = sorted(candidate_tokens(vocabulary, "entity"))
    relations = sorted(candidate_tokens(vocabulary, "relation"))
    rng = np.random.default_rng(seed)
    rows = []
    for i in rng.permutation(len(frame)):
        if len(rows) == limit:
            break
        prompt, answer = frame["prompt"].iloc[i], frame["answer"].iloc[i]
        options = alternatives(prompt, answer, facts, entities, relations)
        if all(options.values()):
            picks = {f"alt_{p}": options[p][rng.integers(len(options[p]))] for p in POSITIONS}
            rows.append({"prompt": prompt, "answer": answer, **picks})
    return pd.DataFrame(rows, columns=["prompt", "answer", *(f"alt_{p}" for p in POSITIONS)])


def corrupted_prompts(queries, position):
    index = POSITIONS.index(position)
    return [
        " ".join(alt if i == index else word for i, word in enumerate(prompt.split(" ")))
        for prompt, alt in zip(queries["prompt"], queries[f"alt_{position}"], strict=True)
    ]


@torch.no_grad()
def trace(model, clean_ids, corrupt_ids, target_ids):
    model.eval()
    _, clean_logits = residual_states(model, clean_ids)
    clean_top, p_clean = clean_logits.argmax(-1), _probabilities(clean_logits, target_ids)
    changed, drop = [], []
    for position in POSITIONS:
        index = POSITIONS.index(position)
        corrupt_states, _ = residual_states(model, corrupt_ids[position])
        per_layer_changed, per_layer_drop = [], []
        for layer, state in enumerate(corrupt_states):
            with patched_state(model, layer, index, state[:, index]):
                patched = model(input_ids=clean_ids).logits[:, -1]
            per_layer_changed.append((patched.argmax(-1) != clean_top).cpu().numpy())
            per_layer_drop.append(p_clean - _probabilities(patched, target_ids))
        changed.append(np.stack(per_layer_changed))
        drop.append(np.stack(per_layer_drop))
    return {
        "correct": (clean_top == target_ids).cpu().numpy(),
        "p_clean": p_clean,
        "changed": np.stack(changed, axis=1),
        "drop": np.stack(drop, axis=1),
    }


def strength_rows(traced, resamples, confidence, **labels):
    changed, drop = traced["changed"].astype(float), traced["drop"]
    rows = []
    for layer in range(changed.shape[0]):
        for index, position in enumerate(POSITIONS):
            low, high = bootstrap_mean_ci(changed[layer, index], resamples, confidence, seed=layer)
            effect_low, effect_high = bootstrap_mean_ci(drop[layer, index], resamples, confidence, seed=layer)
            rows.append(
                {
                    **labels,
                    "layer": layer,
                    "resid": sites.resid(layer),
                    "position": position,
                    "strength": float(changed[layer, index].mean()),
                    "ci_low": low,
                    "ci_high": high,
                    "total_strength": float(changed[0, index].mean()),
                    "effect": float(drop[layer, index].mean()),
                    "effect_ci_low": effect_low,
                    "effect_ci_high": effect_high,
                    "p_clean": float(traced["p_clean"].mean()),
                    "n": changed.shape[-1],
                    "confidence": confidence,
                }
            )
    return rows


def query_rows(traced, queries, **labels):
    layers, _, n = traced["changed"].shape
    frames = []
    for index, position in enumerate(POSITIONS):
        columns = {f"changed_{layer}": traced["changed"][layer, index] for layer in range(layers)}
        columns |= {f"drop_{layer}": traced["drop"][layer, index] for layer in range(layers)}
        frames.append(
            pd.DataFrame(
                {
                    **labels,
                    "query": np.arange(n),
                    "prompt": queries["prompt"].to_numpy(),
                    "answer": queries["answer"].to_numpy(),
                    "position": position,
                    "alternative": queries[f"alt_{position}"].to_numpy(),
                    "correct": traced["correct"],
                    "p_clean": traced["p_clean"],
                    **columns,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def trace_model(model, tokenizer, queries, probes, **labels):
    """One batch per split (the batching joins per query and changes nothing)."""
    vocab = tokenizer.get_vocab()

    def ids(prompts):
        return torch.tensor([[vocab[t] for t in p.split(" ")] for p in prompts])

    rows, per_query = [], []
    for split, frame in queries.items():
        if frame.empty:
            continue
        answers = torch.tensor([vocab[a] for a in frame["answer"]])
        corrupt = {p: ids(corrupted_prompts(frame, p)) for p in POSITIONS}
        traced = trace(model, ids(frame["prompt"]), corrupt, answers)
        rows += strength_rows(traced, probes["bootstrap_resamples"], probes["confidence"], split=split, **labels)
        per_query.append(query_rows(traced, frame, split=split, **labels))
    return rows, pd.concat(per_query, ignore_index=True) if per_query else pd.DataFrame()
