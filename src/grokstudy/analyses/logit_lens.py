"""Logit lens: decode each residual state, resid.0 ... resid.{depth} (grokstudy.sites), through the
final norm and the unembedding. Every row names its state twice: `layer` (the depth d, which the
claims compute on) and `resid` (its site name, `resid.{d}`).

A probe site (ProbeSite) is something else: a prompt position and the token that should decode
there. Ranks are taken over the probe site's candidate tokens only (entities for the bridge and the
answer, relations for the r2 token, values for comparison). Probes run in fp32 and eval mode.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from grokstudy import sites
from grokstudy.analyses.queries import PROBE_SPLITS, candidate_tokens
from grokstudy.analyses.runner import null_models
from grokstudy.data import store
from grokstudy.data.baselines import tail_counts
from grokstudy.models import depth, final_norm, iteration_of, layers_per_loop, residual_states, unembedding
from grokstudy.stats import bootstrap_mean_ci, chance_mrr


@dataclass(frozen=True)
class ProbeSite:
    """A probe site, not a residual one: a prompt position and what should decode there. The lens
    reads it in every residual state, resid.0 ... resid.{depth}."""

    position_name: str
    position: int  # index in the prompt
    target: str  # what should be decodable there: a column of the split, or the prompt's token at `position`
    prefix_length: int  # the state at `position` depends only on this many leading tokens
    candidates: str  # the kind of token it is ranked among (grokstudy.analyses.queries.TOKEN_KINDS)
    # The splits also kept per query: the claims pair queries across checkpoints (C7) or arms (R4).
    per_query_splits: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.target} at {self.position_name}"


TRAIN_SPLIT, OOD_SPLIT = "train_inferred", "test_inferred_ood"
SITES = {
    # x_l(r1) depends only on (h, r1): probe unique prefixes, not queries. At r2 the lens reads the
    # answer, and the r2 relation token itself, which the paper finds decodable at the bridge layer.
    "composition": (
        ProbeSite("r1", 1, "bridge", 2, "entity", per_query_splits=(TRAIN_SPLIT,)),
        ProbeSite("r2", 2, "answer", 3, "entity", per_query_splits=(OOD_SPLIT,)),
        ProbeSite("r2", 2, "r2", 3, "relation", per_query_splits=(TRAIN_SPLIT,)),
    ),
    "comparison": (ProbeSite("e1", 2, "value1", 3, "value"), ProbeSite("e2", 4, "value2", 5, "value")),
}
# Queries per forward pass: at least every shipped preset's max_queries (paper: 1000), so theirs go
# through in one pass, and few enough that (layers + 1) x batch x vocab fp32 logits fit on a GPU.
PROBE_BATCH = 4096


def halves(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-query values split by the (deterministic) query order: the even ones select a layer,
    the odd ones test it, so a chosen layer is never judged on the queries that chose it."""
    return values[..., 0::2], values[..., 1::2]


def site_queries(frame: pd.DataFrame, site: ProbeSite, limit: int, seed: int) -> pd.DataFrame:
    """Unique prefixes for the probe site with their target token, at most `limit`, deterministically sampled."""
    words = frame["prompt"].str.split(" ")
    prefixes = words.str[: site.prefix_length].str.join(" ")
    target = frame[site.target] if site.target in frame.columns else words.str[site.position]
    unique = pd.DataFrame({"prompt": prefixes, "target": target}).drop_duplicates("prompt")
    if len(unique) > limit:
        unique = unique.sample(n=limit, random_state=seed)
    return unique.reset_index(drop=True)


@torch.no_grad()
def layer_logits(model, input_ids: torch.Tensor, position: int) -> torch.Tensor:
    """(depth + 1, n, vocab) logits read off the residual stream at `position` after each block,
    each state through the final norm and the unembedding."""
    model.eval()
    states, _ = residual_states(model, input_ids)
    norm, unembed = final_norm(model), unembedding(model)
    return torch.stack([unembed(norm(state[:, position]).float()) for state in states])


def reciprocal_ranks(logits: torch.Tensor, candidate_ids: torch.Tensor | None, target_ids: torch.Tensor) -> np.ndarray:
    """1 / (1 + rank) of each target among the candidates (None: every token of the vocabulary), per
    layer: (layers + 1, n)."""
    scores = logits if candidate_ids is None else logits[..., candidate_ids]
    target_scores = logits.gather(-1, target_ids.expand(logits.shape[0], -1).unsqueeze(-1))
    rank = (scores > target_scores).sum(-1)
    return (1.0 / (1.0 + rank.float())).cpu().numpy()


def model_device(model) -> torch.device:
    return next(model.parameters()).device


def probe_model(
    model,
    tokenizer,
    queries: dict[str, pd.DataFrame],
    site: ProbeSite,
    candidates: list[str] | None,
    batch_size: int = PROBE_BATCH,
) -> dict[str, np.ndarray]:
    """Reciprocal ranks per layer for each split's queries at one probe site, among `candidates`
    (None: the whole vocabulary, as the paper ranks), on the model's device.

    Queries go through in batches of `batch_size`: each holds (layers + 1) x batch x vocab logits.
    """
    vocab, device = tokenizer.get_vocab(), model_device(model)
    candidate_ids = None if candidates is None else torch.tensor([vocab[t] for t in candidates], device=device)
    out = {}
    for split, frame in queries.items():
        if frame.empty:
            continue
        ids = torch.tensor([[vocab[t] for t in p.split(" ")] for p in frame["prompt"]], device=device)
        targets = torch.tensor([vocab[t] for t in frame["target"]], device=device)
        out[split] = np.concatenate(
            [
                reciprocal_ranks(
                    layer_logits(model, ids[start : start + batch_size], site.position),
                    candidate_ids,
                    targets[start : start + batch_size],
                )
                for start in range(0, len(ids), batch_size)
            ],
            axis=1,
        )
    return out


def mrr_rows(ranks: dict, site, chance: float, probes: dict, **labels) -> list[dict]:
    """MRR per split and layer with its CI, over all queries and over each half (see `halves`)."""
    rows = []
    for split, per_layer in ranks.items():
        for layer, values in enumerate(per_layer):
            select, test = halves(values)
            low, high = bootstrap_mean_ci(values, probes["bootstrap_resamples"], probes["confidence"], seed=layer)
            select_low, select_high = bootstrap_mean_ci(
                select, probes["bootstrap_resamples"], probes["confidence"], seed=layer
            )
            test_low, test_high = bootstrap_mean_ci(
                test, probes["bootstrap_resamples"], probes["confidence"], seed=layer
            )
            rows.append(
                {
                    **labels,
                    "split": split,
                    "position": site.position_name,
                    "target": site.target,
                    "layer": layer,
                    "resid": sites.resid(layer),
                    "mrr": float(values.mean()),
                    "ci_low": low,
                    "ci_high": high,
                    "n": len(values),
                    "chance": chance,
                    "confidence": probes["confidence"],
                    "mrr_select": float(select.mean()),
                    "ci_low_select": select_low,
                    "ci_high_select": select_high,
                    "mrr_test": float(test.mean()),
                    "ci_low_test": test_low,
                    "ci_high_test": test_high,
                    "n_test": len(test),
                }
            )
    return rows


def relation_prior_rows(data_dir: Path, queries: dict, layers: int, probes: dict, **labels) -> list[dict]:
    """The relation-frequency prior as a null network: it ranks entities by how often they are the
    tail of the probe site's relation among the atomic training facts, the same at every layer. It knows
    the relation and nothing of the head entity. Ties rank like the lens: only higher counts count."""
    counts = tail_counts(store.read_train(data_dir)).set_index(["relation", "tail"])["count"]
    per_relation = counts.groupby(level="relation").apply(lambda c: np.sort(c.to_numpy()))
    rows = []
    for site in SITES["composition"]:
        if site.candidates != "entity":
            continue
        ranks = {}
        for split, frame in queries[site.name].items():
            if frame.empty:
                continue
            relation = frame["prompt"].str.split(" ").str[site.position]
            target = np.array([counts.get((r, t), 0) for r, t in zip(relation, frame["target"], strict=True)])
            # entities whose count exceeds the target's (sorted counts: those after its last equal)
            rank = np.array(
                [
                    len(c) - np.searchsorted(c, k, side="right")
                    for c, k in zip(per_relation.reindex(relation), target, strict=True)
                ]
            )
            ranks[split] = np.tile(1.0 / (1.0 + rank), (layers + 1, 1))
        rows += mrr_rows(ranks, site, float("nan"), probes, **labels)
    return rows


def prepare(job) -> dict:
    """Unique query prefixes per probe site and split, and each probe site's candidate tokens, shared by
    every checkpoint."""
    frames = store.read_eval(job.data_dir)
    vocabulary = list(job.tokenizer.get_vocab())
    probe_sites = SITES[job.task]
    return {
        "queries": {
            site.name: {s: site_queries(frames[s], site, job.settings["max_queries"], seed=0) for s in PROBE_SPLITS}
            for site in probe_sites
        },
        "candidates": {site.name: candidate_tokens(vocabulary, site.candidates) for site in probe_sites},
    }


def _per_query_rows(
    ranks: np.ndarray, vocabulary_ranks: np.ndarray, site: ProbeSite, split: str, queries: pd.DataFrame, **labels
) -> pd.DataFrame:
    """Reciprocal rank of every query of one split at every layer, among the probe site's candidates
    (`rr`) and among the whole vocabulary (`rr_vocab`); queries in their sampled order, `query` even
    for the selection half."""
    layers, n = ranks.shape
    return pd.DataFrame(
        {
            **labels,
            "site": site.name,
            "split": split,
            "layer": np.repeat(np.arange(layers), n),
            "resid": np.repeat([sites.resid(layer) for layer in range(layers)], n),
            "query": np.tile(np.arange(n), layers),
            "prompt": np.tile(queries["prompt"].to_numpy(), layers),
            "rr": ranks.reshape(-1).astype(np.float32),
            "rr_vocab": vocabulary_ranks.reshape(-1).astype(np.float32),
        }
    )


def _lens(model, job, prepared, **labels) -> tuple[list[dict], list[pd.DataFrame]]:
    rows, per_query = [], []
    per_loop = layers_per_loop(model)
    for site in SITES[job.task]:
        candidates = prepared["candidates"][site.name]
        queries = prepared["queries"][site.name]
        ranks = probe_model(model, job.tokenizer, queries, site, candidates)
        chance = chance_mrr(len(candidates))
        site_rows = mrr_rows(ranks, site, chance, job.settings, run=job.run, task=job.task, **labels)
        rows += [{**row, "iteration": iteration_of(row["layer"], per_loop)} for row in site_rows]
        for split in site.per_query_splits:
            if split in ranks:
                chosen = {split: queries[split]}
                vocabulary_ranks = probe_model(model, job.tokenizer, chosen, site, None)[split]
                per_query.append(_per_query_rows(ranks[split], vocabulary_ranks, site, split, chosen[split], **labels))
    return rows, per_query


def per_checkpoint(model, step: int, job, prepared) -> dict:
    network = "step0" if step == 0 else "trained"
    rows, per_query = _lens(model, job, prepared, network=network, seed=-1, step=step)
    tables = {"logit_lens": rows}
    if per_query:
        tables["logit_lens_queries"] = pd.concat(per_query, ignore_index=True).assign(run=job.run)
    return tables


def nulls(job, prepared) -> dict:
    """The lens on random-init networks of the run's architecture, and (composition) the relation prior."""
    rows = []
    for seed, model in null_models(job.model_spec, job.tokenizer, job.settings["null_seeds"], job.device):
        rows += _lens(model, job, prepared, network="random_init", seed=seed, step=0)[0]
    if job.task == "composition":
        labels = {"run": job.run, "task": job.task, "network": "relation_prior", "seed": -1, "step": 0}
        prior = relation_prior_rows(job.data_dir, prepared["queries"], depth(job.model_spec), job.settings, **labels)
        loop_of = {row["layer"]: row["iteration"] for row in rows}  # the networks' layers, labelled above
        rows += [{**row, "iteration": loop_of[row["layer"]]} for row in prior]
    return {"null_logit_lens": rows}
