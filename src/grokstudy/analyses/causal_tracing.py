"""Causal tracing for composition, as the paper traces it: how strongly each hidden state decides
the prediction.

For a two-hop query (h, r1, r2) -> t and one position p, the corrupted query replaces the token at
p by an alternative drawn from the training facts that exists there and changes the answer:
h -> h' (h' has r1, its bridge has r2, and the new answer is not t), r1 -> r1' (h has r1', that
bridge has r2, new answer not t), r2 -> r2' (the bridge has r2', new answer not t). Patching the
state x_l(p) runs the clean query with that one state taken from the corrupted run. Its causal
strength is the fraction of queries whose top-1 prediction changes; the drop of P(t) is kept too.

Patching x_0(p) replaces the token, so it gives the whole effect of the corruption. x_l(r2) sits at
the last position, and every earlier state is the same in both runs, so patching it reproduces the
corrupted run at every layer: its strength equals the total effect by construction. States are read
and replaced at the model interface's residual sites; x_l is the site `resid.{l}` (grokstudy.sites),
and every row names it twice: `layer` (l, which the claims compute on) and `resid`. The model runs
in fp32 and eval mode.
"""

import numpy as np
import pandas as pd
import torch

from grokstudy import sites
from grokstudy.analyses.queries import candidate_tokens
from grokstudy.analyses.runner import null_models
from grokstudy.data import store
from grokstudy.data.specs import ATOMIC
from grokstudy.models import patched_state, residual_states
from grokstudy.stats import bootstrap_mean_ci

POSITIONS = ("h", "r1", "r2")  # composition prompt positions 0, 1, 2
TRACE_SPLITS = ("train_inferred", "test_inferred_id")
# Queries per forward pass: at least every shipped preset's max_queries (paper: 300 traced).
TRACE_BATCH = 4096


def atomic_facts(train: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(head, relation) -> tail over the atomic training facts."""
    atomic = train[train["kind"] == ATOMIC]
    words = atomic["prompt"].str.split(" ")
    return dict(zip(zip(words.str[0], words.str[1], strict=True), atomic["answer"], strict=True))


def _answer(facts: dict, h: str, r1: str, r2: str) -> str | None:
    bridge = facts.get((h, r1))
    return None if bridge is None else facts.get((bridge, r2))


def alternatives(prompt: str, answer: str, facts: dict, entities: list[str], relations: list[str]) -> dict:
    """Per position, every token that makes a two-hop query the training facts answer, with another answer."""
    h, r1, r2 = prompt.split(" ")

    def changes(*query):
        new = _answer(facts, *query)
        return new is not None and new != answer

    return {
        "h": [e for e in entities if e != h and changes(e, r1, r2)],
        "r1": [r for r in relations if r != r1 and changes(h, r, r2)],
        "r2": [r for r in relations if r != r2 and changes(h, r1, r)],
    }


def tracing_queries(frame: pd.DataFrame, facts: dict, vocabulary: list[str], limit: int, seed: int) -> pd.DataFrame:
    """At most `limit` queries that have an alternative at every position, taken in a random order
    fixed by `seed`, each with one alternative per position drawn uniformly (alt_h, alt_r1, alt_r2)."""
    entities = sorted(candidate_tokens(vocabulary, "entity"))  # a vocabulary comes in no fixed order
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


def corrupted_prompts(queries: pd.DataFrame, position: str) -> list[str]:
    index = POSITIONS.index(position)
    return [
        " ".join(alt if i == index else word for i, word in enumerate(prompt.split(" ")))
        for prompt, alt in zip(queries["prompt"], queries[f"alt_{position}"], strict=True)
    ]


def _probabilities(logits: torch.Tensor, target_ids: torch.Tensor) -> np.ndarray:
    return logits.float().softmax(-1).gather(-1, target_ids.unsqueeze(-1)).squeeze(-1).cpu().numpy()


@torch.no_grad()
def trace(model, clean_ids: torch.Tensor, corrupt_ids: dict[str, torch.Tensor], target_ids: torch.Tensor) -> dict:
    """Per query: the clean top-1 and P(t), and for each position's corruption and each layer l the
    patched run's top-1 change and drop of P(t), shape (layers + 1, positions, n)."""
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


def trace_in_batches(model, clean_ids, corrupt_ids: dict, target_ids, batch_size: int) -> dict:
    """`trace` over at most `batch_size` queries at a time (it bounds the memory of full-vocabulary
    logits), joined per query."""
    parts = []
    for start in range(0, len(target_ids), batch_size):
        window = slice(start, start + batch_size)
        corrupt = {p: ids[window] for p, ids in corrupt_ids.items()}
        parts.append(trace(model, clean_ids[window], corrupt, target_ids[window]))
    return {key: np.concatenate([p[key] for p in parts], axis=-1) for key in parts[0]}


def strength_rows(traced: dict, resamples: int, confidence: float, **labels) -> list[dict]:
    """Per (layer, position): causal strength (fraction of top-1 changed) and mean drop of P(t), each
    with a bootstrap CI over queries."""
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


def query_rows(traced: dict, queries: pd.DataFrame, **labels) -> pd.DataFrame:
    """Per query and corrupted position: the alternative token, and per layer l (the state resid.<l>)
    whether the top-1 changed (changed_<l>) and the drop of P(t) (drop_<l>)."""
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


def trace_model(
    model, tokenizer, queries: dict[str, pd.DataFrame], probes: dict, batch_size: int = TRACE_BATCH, **labels
):
    """Strength rows per split, and the per-query table; tensors are made on the model's device."""
    vocab, device = tokenizer.get_vocab(), next(model.parameters()).device

    def ids(prompts):
        return torch.tensor([[vocab[t] for t in p.split(" ")] for p in prompts], device=device)

    rows, per_query = [], []
    for split, frame in queries.items():
        if frame.empty:
            continue
        answers = torch.tensor([vocab[a] for a in frame["answer"]], device=device)
        corrupt = {p: ids(corrupted_prompts(frame, p)) for p in POSITIONS}
        traced = trace_in_batches(model, ids(frame["prompt"]), corrupt, answers, batch_size)
        rows += strength_rows(traced, probes["bootstrap_resamples"], probes["confidence"], split=split, **labels)
        per_query.append(query_rows(traced, frame, split=split, **labels))
    return rows, pd.concat(per_query, ignore_index=True) if per_query else pd.DataFrame()


def prepare(job) -> dict:
    """The traced queries of each split with their alternatives, shared by every checkpoint."""
    facts = atomic_facts(store.read_train(job.data_dir))
    vocabulary = list(job.tokenizer.get_vocab())
    frames = store.read_eval(job.data_dir)
    limit = job.settings["max_queries"]
    return {s: tracing_queries(frames[s], facts, vocabulary, limit, seed=0) for s in TRACE_SPLITS}


def per_checkpoint(model, step: int, job, prepared) -> dict:
    network = "step0" if step == 0 else "trained"
    rows, queries = trace_model(
        model, job.tokenizer, prepared, job.settings, run=job.run, network=network, seed=-1, step=step
    )
    return {"causal_tracing": rows, "causal_tracing_queries": queries}


def nulls(job, prepared) -> dict:
    rows = []
    for seed, model in null_models(job.model_spec, job.tokenizer, job.settings["null_seeds"], job.device):
        labels = {"run": job.run, "network": "random_init", "seed": seed, "step": 0}
        rows += trace_model(model, job.tokenizer, prepared, job.settings, **labels)[0]
    return {"null_causal_tracing": rows}


def summary(tables: dict) -> str:
    """The final checkpoint's causal strength on training queries, layer x position."""
    table = tables["causal_tracing"]
    final = table[(table["step"] == table["step"].max()) & (table["split"] == "train_inferred")]
    return final.pivot_table(index="layer", columns="position", values="strength").round(3).to_string()
