"""Causal tracing for composition, as the paper traces it: how strongly each hidden state decides
the prediction.

For a two-hop query (h, r1, r2) -> t (bridge b, the tail of (h, r1)) and one position p, the
corrupted query replaces the token at p by an alternative. Patching the state x_l(p) runs the clean
query with that one state taken from the corrupted run. Two variants run side by side in every
network, one `variant` column apart:

- `released` (the paper's released tracing code; C7-causal, criteria version 4): the pools come from
  the hop facts, the atomic training facts that are a hop of at least one training two-hop fact.
  h' is a hop head for which (h', r1, r2) has no answer among the atomic training facts or another
  answer than t; r1' a hop relation of h whose tail has no r2 fact or an r2 tail other than t; r2'
  a hop relation of b whose tail is not t. The traced queries are those whose r1' pool is not empty;
  each position's alternative is drawn once from its pool with a generator seeded by the query
  (zlib.crc32 of the prompt), so it is the same at every checkpoint, in every network and whatever
  the order of the queries. A position whose pool is empty is not traced for that query: its
  per-query rows are left out and the strength averages the traced queries only (`n` counts them).
  The strength is the fraction of queries whose answer t is no longer the top-1 token.
- `v3` (criteria version 3, a sensitivity variant): alternatives from every atomic training fact,
  each giving a defined answer other than t (h' has r1, its bridge has r2; r1' a relation of h whose
  tail has r2; r2' a relation of b); only queries with an alternative at every position are traced,
  drawn from the same seeded generator as the query order. The strength is the fraction of queries
  whose top-1 prediction differs from the clean run's.

Both keep the drop of P(t). Both take their queries in the same random order (seed 0), up to
`max_queries` per split.

Patching x_0(p) replaces the token, so it gives the whole effect of the corruption. x_l(r2) sits at
the last position, and every earlier state is the same in both runs, so patching it reproduces the
corrupted run at every layer: its strength equals the total effect by construction. States are read
and replaced at the model interface's residual sites; x_l is the site `resid.{l}` (grokstudy.sites),
and every row names it twice: `layer` (l, which the claims compute on) and `resid`. The model runs
in fp32 and eval mode.
"""

import zlib
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from grokstudy import sites
from grokstudy.analyses.queries import candidate_tokens
from grokstudy.analyses.runner import null_models
from grokstudy.data import store
from grokstudy.data.specs import ATOMIC, INFERRED
from grokstudy.models import patched_state, residual_states
from grokstudy.stats import bootstrap_mean_ci

POSITIONS = ("h", "r1", "r2")  # composition prompt positions 0, 1, 2
TRACE_SPLITS = ("train_inferred", "test_inferred_id")
VARIANTS = ("released", "v3")
# Queries per forward pass: at least every shipped preset's max_queries (paper: 300 traced).
TRACE_BATCH = 4096
ALTERNATIVE_COLUMNS = [f"alt_{p}" for p in POSITIONS]


def atomic_facts(train: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(head, relation) -> tail over the atomic training facts."""
    atomic = train[train["kind"] == ATOMIC]
    words = atomic["prompt"].str.split(" ")
    return dict(zip(zip(words.str[0], words.str[1], strict=True), atomic["answer"], strict=True))


def hop_facts(train: pd.DataFrame, facts: dict) -> dict[str, dict[str, str]]:
    """head -> {relation: tail} over the atomic training facts that are a hop of at least one
    training two-hop fact, heads and relations sorted."""
    hops = set()
    for prompt in train.loc[train["kind"] == INFERRED, "prompt"]:
        h, r1, r2 = prompt.split(" ")
        hops |= {hop for hop in ((h, r1), (facts.get((h, r1)), r2)) if hop in facts}
    index: dict[str, dict[str, str]] = {}
    for head, relation in sorted(hops):
        index.setdefault(head, {})[relation] = facts[(head, relation)]
    return index


def _answer(facts: dict, h: str, r1: str, r2: str) -> str | None:
    bridge = facts.get((h, r1))
    return None if bridge is None else facts.get((bridge, r2))


def alternatives(prompt: str, answer: str, facts: dict, entities: list[str], relations: list[str]) -> dict:
    """v3: per position, every token that makes a two-hop query the training facts answer, with another answer."""
    h, r1, r2 = prompt.split(" ")

    def changes(*query):
        new = _answer(facts, *query)
        return new is not None and new != answer

    return {
        "h": [e for e in entities if e != h and changes(e, r1, r2)],
        "r1": [r for r in relations if r != r1 and changes(h, r, r2)],
        "r2": [r for r in relations if r != r2 and changes(h, r1, r)],
    }


def hop_alternatives(prompt: str, answer: str, facts: dict, hops: dict) -> dict:
    """released: per position, the pool drawn from the hop facts (`hop_facts`); a corrupted query
    the atomic training facts do not answer is allowed."""
    h, r1, r2 = prompt.split(" ")
    return {
        "h": [e for e in hops if _answer(facts, e, r1, r2) != answer],
        "r1": [r for r, tail in hops.get(h, {}).items() if facts.get((tail, r2)) != answer],
        "r2": [r for r, tail in hops.get(facts.get((h, r1)), {}).items() if tail != answer],
    }


def query_seed(prompt: str) -> int:
    """A seed fixed by the query alone (zlib.crc32, not Python's salted hash)."""
    return zlib.crc32(prompt.encode("utf-8"))


def _select(frame: pd.DataFrame, limit: int, seed: int, pick: Callable) -> pd.DataFrame:
    """At most `limit` queries in a random order fixed by `seed`, each with the alternatives
    (alt_h, alt_r1, alt_r2) that `pick(prompt, answer, rng)` gives; a query it gives None is skipped."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in rng.permutation(len(frame)):
        if len(rows) == limit:
            break
        prompt, answer = frame["prompt"].iloc[i], frame["answer"].iloc[i]
        picks = pick(prompt, answer, rng)
        if picks is not None:
            rows.append({"prompt": prompt, "answer": answer, **{f"alt_{p}": picks[p] for p in POSITIONS}})
    return pd.DataFrame(rows, columns=["prompt", "answer", *ALTERNATIVE_COLUMNS])


def tracing_queries(frame: pd.DataFrame, facts: dict, vocabulary: list[str], limit: int, seed: int) -> pd.DataFrame:
    """v3: at most `limit` queries that have an alternative at every position, each with one
    alternative per position drawn uniformly from the generator that orders the queries."""
    entities = sorted(candidate_tokens(vocabulary, "entity"))  # a vocabulary comes in no fixed order
    relations = sorted(candidate_tokens(vocabulary, "relation"))

    def pick(prompt, answer, rng):
        options = alternatives(prompt, answer, facts, entities, relations)
        if all(options.values()):
            return {p: options[p][rng.integers(len(options[p]))] for p in POSITIONS}
        return None

    return _select(frame, limit, seed, pick)


def released_queries(frame: pd.DataFrame, facts: dict, hops: dict, limit: int, seed: int) -> pd.DataFrame:
    """released: at most `limit` queries whose r1' pool is not empty, each with one alternative per
    position drawn uniformly with a generator seeded by the query (None where the pool is empty)."""

    def pick(prompt, answer, _):
        options = hop_alternatives(prompt, answer, facts, hops)
        if not options["r1"]:
            return None
        rng = np.random.default_rng(query_seed(prompt))
        return {p: options[p][rng.integers(len(options[p]))] if options[p] else None for p in POSITIONS}

    return _select(frame, limit, seed, pick)


def corrupted_prompts(queries: pd.DataFrame, position: str) -> list[str]:
    """The prompts with the token at `position` replaced; an untraced position (no alternative) keeps its token."""
    index = POSITIONS.index(position)
    return [
        " ".join(alt if i == index and isinstance(alt, str) else word for i, word in enumerate(prompt.split(" ")))
        for prompt, alt in zip(queries["prompt"], queries[f"alt_{position}"], strict=True)
    ]


def top1_differs(patched_top: torch.Tensor, clean_top: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
    """v3's count: the patched top-1 differs from the clean top-1."""
    return patched_top != clean_top


def answer_not_top1(patched_top: torch.Tensor, clean_top: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
    """The released count: the answer t is no longer the top-1 token over the full vocabulary."""
    return patched_top != target_ids


METRICS = {"released": answer_not_top1, "v3": top1_differs}


def _probabilities(logits: torch.Tensor, target_ids: torch.Tensor) -> np.ndarray:
    return logits.float().softmax(-1).gather(-1, target_ids.unsqueeze(-1)).squeeze(-1).cpu().numpy()


@torch.no_grad()
def trace(
    model,
    clean_ids: torch.Tensor,
    corrupt_ids: dict[str, torch.Tensor],
    target_ids: torch.Tensor,
    changed_by: Callable = top1_differs,
) -> dict:
    """Per query: the clean top-1 and P(t), and for each position's corruption and each layer l the
    patched run's `changed_by` count and drop of P(t), shape (layers + 1, positions, n)."""
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
            per_layer_changed.append(changed_by(patched.argmax(-1), clean_top, target_ids).cpu().numpy())
            per_layer_drop.append(p_clean - _probabilities(patched, target_ids))
        changed.append(np.stack(per_layer_changed))
        drop.append(np.stack(per_layer_drop))
    return {
        "correct": (clean_top == target_ids).cpu().numpy(),
        "p_clean": p_clean,
        "changed": np.stack(changed, axis=1),
        "drop": np.stack(drop, axis=1),
    }


def trace_in_batches(model, clean_ids, corrupt_ids: dict, target_ids, batch_size: int, changed_by=top1_differs) -> dict:
    """`trace` over at most `batch_size` queries at a time (it bounds the memory of full-vocabulary
    logits), joined per query."""
    parts = []
    for start in range(0, len(target_ids), batch_size):
        window = slice(start, start + batch_size)
        corrupt = {p: ids[window] for p, ids in corrupt_ids.items()}
        parts.append(trace(model, clean_ids[window], corrupt, target_ids[window], changed_by))
    return {key: np.concatenate([p[key] for p in parts], axis=-1) for key in parts[0]}


def _kept(traced: dict) -> np.ndarray:
    """(positions, n): whether each query was traced at each position (all of them unless `kept` says)."""
    return traced["kept"] if "kept" in traced else np.ones(traced["changed"].shape[1:], dtype=bool)


def strength_rows(traced: dict, resamples: int, confidence: float, **labels) -> list[dict]:
    """Per (layer, position): causal strength (fraction of queries counted as changed) and mean drop of
    P(t), each with a bootstrap CI over the queries traced at that position; a position no query was
    traced at has no rows."""
    changed, drop, kept = traced["changed"].astype(float), traced["drop"], _kept(traced)
    positions = [(index, position, kept[index]) for index, position in enumerate(POSITIONS) if kept[index].any()]
    rows = []
    for layer in range(changed.shape[0]):
        for index, position, keep in positions:
            strength, effect = changed[layer, index, keep], drop[layer, index, keep]
            low, high = bootstrap_mean_ci(strength, resamples, confidence, seed=layer)
            effect_low, effect_high = bootstrap_mean_ci(effect, resamples, confidence, seed=layer)
            rows.append(
                {
                    **labels,
                    "layer": layer,
                    "resid": sites.resid(layer),
                    "position": position,
                    "strength": float(strength.mean()),
                    "ci_low": low,
                    "ci_high": high,
                    "total_strength": float(changed[0, index, keep].mean()),
                    "effect": float(effect.mean()),
                    "effect_ci_low": effect_low,
                    "effect_ci_high": effect_high,
                    "p_clean": float(traced["p_clean"][keep].mean()),
                    "n": int(keep.sum()),
                    "confidence": confidence,
                }
            )
    return rows


def query_rows(traced: dict, queries: pd.DataFrame, **labels) -> pd.DataFrame:
    """Per query and corrupted position it was traced at: the alternative token, and per layer l (the
    state resid.<l>) whether it counted as changed (changed_<l>) and the drop of P(t) (drop_<l>)."""
    layers, _, n = traced["changed"].shape
    frames = []
    for index, position in enumerate(POSITIONS):
        columns = {f"changed_{layer}": traced["changed"][layer, index] for layer in range(layers)}
        columns |= {f"drop_{layer}": traced["drop"][layer, index] for layer in range(layers)}
        frame = pd.DataFrame(
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
        frames.append(frame[_kept(traced)[index]])
    return pd.concat(frames, ignore_index=True)


def trace_model(
    model, tokenizer, queries: dict[str, dict[str, pd.DataFrame]], probes: dict, batch_size: int = TRACE_BATCH, **labels
):
    """Strength rows and the per-query table of every variant and split (`queries`: variant -> split ->
    its traced queries), each row labelled with both; tensors are made on the model's device."""
    vocab, device = tokenizer.get_vocab(), next(model.parameters()).device

    def ids(prompts):
        return torch.tensor([[vocab[t] for t in p.split(" ")] for p in prompts], device=device)

    rows, per_query = [], []
    for variant, splits in queries.items():
        for split, frame in ((s, f) for s, f in splits.items() if not f.empty):
            answers = torch.tensor([vocab[a] for a in frame["answer"]], device=device)
            corrupt = {p: ids(corrupted_prompts(frame, p)) for p in POSITIONS}
            traced = trace_in_batches(model, ids(frame["prompt"]), corrupt, answers, batch_size, METRICS[variant])
            traced["kept"] = frame[ALTERNATIVE_COLUMNS].notna().to_numpy().T
            tags = {"variant": variant, "split": split, **labels}
            rows += strength_rows(traced, probes["bootstrap_resamples"], probes["confidence"], **tags)
            per_query.append(query_rows(traced, frame, **tags))
    return rows, pd.concat(per_query, ignore_index=True) if per_query else pd.DataFrame()


def variant_queries(train: pd.DataFrame, frames: dict, vocabulary: list[str], limit: int) -> dict:
    """Each variant's traced queries per split (variant -> split -> queries), in the order of seed 0."""
    facts = atomic_facts(train)
    hops = hop_facts(train, facts)
    return {
        "released": {s: released_queries(frames[s], facts, hops, limit, seed=0) for s in TRACE_SPLITS},
        "v3": {s: tracing_queries(frames[s], facts, vocabulary, limit, seed=0) for s in TRACE_SPLITS},
    }


def prepare(job) -> dict:
    """The traced queries of each variant and split with their alternatives, shared by every checkpoint
    and network."""
    train, frames = store.read_train(job.data_dir), store.read_eval(job.data_dir)
    return variant_queries(train, frames, list(job.tokenizer.get_vocab()), job.settings["max_queries"])


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
    """The final checkpoint's causal strength (released variant) on training queries, layer x position."""
    table = tables["causal_tracing"]
    table = table[table["variant"] == "released"]
    final = table[(table["step"] == table["step"].max()) & (table["split"] == "train_inferred")]
    return final.pivot_table(index="layer", columns="position", values="strength").round(3).to_string()
