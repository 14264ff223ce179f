"""Probes on a device against the same probes on the CPU: the logit lens and causal tracing of one
network, both in fp32, so a GPU probe job can be trusted to give the CPU's numbers."""

import copy
from pathlib import Path

import numpy as np
import torch

from grokstudy.data import store
from grokstudy.models import build_model
from grokstudy.analyses.causal_tracing import trace_model, variant_queries
from grokstudy.analyses.logit_lens import SITES, probe_model, site_queries
from grokstudy.analyses.queries import PROBE_SPLITS, candidate_tokens

PARITY_PROBES = {"bootstrap_resamples": 50, "confidence": 0.95}


def _readings(model, tokenizer, lens_queries: dict, trace_queries: dict) -> dict[str, np.ndarray]:
    vocabulary = list(tokenizer.get_vocab())
    ranks = {
        site.name: probe_model(
            model, tokenizer, lens_queries[site.name], site, candidate_tokens(vocabulary, site.candidates)
        )
        for site in SITES["composition"]
    }
    effects, _ = trace_model(model, tokenizer, trace_queries, PARITY_PROBES)
    return {
        "reciprocal_rank": np.concatenate([r.ravel() for by_split in ranks.values() for r in by_split.values()]),
        "causal_effect": np.array([row["effect"] for row in effects]),
    }


def probe_parity(data_dir: Path, model_params: dict, device: str, max_queries: int = 200, seed: int = 1) -> dict:
    """Max |device - CPU| of the per-query reciprocal ranks and of the mean causal effects, on a
    randomly initialized network of the given shape (a trained one would do the same)."""
    tokenizer = store.load_tokenizer(data_dir)
    frames = store.read_eval(data_dir)
    lens_queries = {
        site.name: {s: site_queries(frames[s], site, max_queries, seed=0) for s in PROBE_SPLITS}
        for site in SITES["composition"]
    }
    trace_queries = variant_queries(store.read_train(data_dir), frames, list(tokenizer.get_vocab()), max_queries)
    cpu_model = build_model(model_params, tokenizer, seed=seed).float().eval()
    device_model = copy.deepcopy(cpu_model).to(torch.device(device)).eval()
    on_cpu = _readings(cpu_model, tokenizer, lens_queries, trace_queries)
    on_device = _readings(device_model, tokenizer, lens_queries, trace_queries)
    found = {"device": device, "queries_per_split": max_queries}
    for key in on_cpu:
        diff = np.abs(on_cpu[key] - on_device[key])
        found.update({f"{key}_max_abs_diff": float(diff.max()), f"{key}_mean_abs_diff": float(diff.mean())})
    return found
