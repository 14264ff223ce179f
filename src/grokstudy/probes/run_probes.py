"""Probe every checkpoint of a run, and the null networks, into tidy tables."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from grokstudy import provenance
from grokstudy.batching import encode
from grokstudy.data import store
from grokstudy.evaluation import evaluate_split
from grokstudy.model import build_model
from grokstudy.probes.causal_tracing import trace_model, tracing_queries
from grokstudy.probes.logit_lens import PROBE_SPLITS, SITES, candidate_tokens, probe_model, site_queries
from grokstudy.stats import bootstrap_mean_ci, chance_mrr
from grokstudy.training.checkpoints import CheckpointStore, verify


def _queries(data_dir: Path, task: str, max_queries: int) -> dict:
    frames = store.read_eval(data_dir)
    return {
        site.position_name: {s: site_queries(frames[s], site, max_queries, seed=0) for s in PROBE_SPLITS}
        for site in SITES[task]
    }


def _rows(ranks: dict, site, chance: float, probes: dict, **labels) -> list[dict]:
    rows = []
    for split, per_layer in ranks.items():
        for layer, values in enumerate(per_layer):
            low, high = bootstrap_mean_ci(values, probes["bootstrap_resamples"], probes["confidence"], seed=layer)
            rows.append({
                **labels, "split": split, "position": site.position_name, "target": site.target_column,
                "layer": layer, "mrr": float(values.mean()), "ci_low": low, "ci_high": high,
                "n": len(values), "chance": chance, "confidence": probes["confidence"],
            })
    return rows


def _probe_all_sites(model, tokenizer, queries, candidates, probes, **labels) -> list[dict]:
    chance = chance_mrr(len(candidates))
    rows = []
    for site in SITES[labels["task"]]:
        ranks = probe_model(model, tokenizer, queries[site.position_name], site, candidates)
        rows += _rows(ranks, site, chance, probes, **labels)
    return rows


def probe_run(run_name: str, task: str, run_dir: Path, data_dir: Path, probes: dict, threads: int = 1,
              checkpoint_dir: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Logit lens and per-split accuracy for every checkpoint, each loaded with plain transformers."""
    torch.set_num_threads(threads)
    checkpoints = CheckpointStore(checkpoint_dir or Path(run_dir) / "checkpoints")
    steps = checkpoints.complete_steps()
    if not steps:
        raise FileNotFoundError(f"{checkpoints.root} holds no complete checkpoint; train the run first")
    tokenizer = AutoTokenizer.from_pretrained(checkpoints.path(steps[0]))
    candidates = candidate_tokens(list(tokenizer.get_vocab()), task)
    queries = _queries(data_dir, task, probes["max_queries"])
    eval_data = {s: encode(f, tokenizer) for s, f in store.read_eval(data_dir).items()}
    logged = pd.read_parquet(Path(run_dir) / "metrics.parquet").set_index(["step", "split"])["accuracy"]
    lens_rows, accuracy_rows = [], []
    for step in tqdm(steps, desc=f"probe {run_name}", mininterval=5):
        path = checkpoints.path(step)
        verify(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        network = "step0" if step == 0 else "trained"
        lens_rows += _probe_all_sites(model, tokenizer, queries, candidates, probes,
                                      run=run_name, task=task, network=network, seed=-1, step=step)
        for split, data in eval_data.items():
            result = evaluate_split(model, data)
            accuracy_rows.append({
                "run": run_name, "step": step, "split": split, **result,
                "accuracy_logged": float(logged.get((step, split), np.nan)),
            })
    return pd.DataFrame(lens_rows), pd.DataFrame(accuracy_rows)


def probe_nulls(run_name: str, task: str, model_params: dict, data_dir: Path, probes: dict, threads: int = 1) -> pd.DataFrame:
    """The same logit lens on randomly initialized networks of the run's architecture, one per seed."""
    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(Path(data_dir) / store.TOKENIZER_DIR)
    candidates = candidate_tokens(list(tokenizer.get_vocab()), task)
    queries = _queries(data_dir, task, probes["max_queries"])
    rows = []
    for seed in probes["null_seeds"]:
        model = build_model(model_params, tokenizer, seed=seed).eval()
        rows += _probe_all_sites(model, tokenizer, queries, candidates, probes,
                                 run=run_name, task=task, network="random_init", seed=seed, step=0)
    return pd.DataFrame(rows)


def trace_run(run_name: str, model_params: dict, data_dir: Path, probes: dict, checkpoint_dir: Path,
              threads: int = 1) -> pd.DataFrame:
    """Causal tracing (composition) at every checkpoint of a run, and on the random-init null networks."""
    torch.set_num_threads(threads)
    checkpoints = CheckpointStore(checkpoint_dir)
    steps = checkpoints.complete_steps()
    if not steps:
        raise FileNotFoundError(f"{checkpoints.root} holds no complete checkpoint; train the run first")
    tokenizer = AutoTokenizer.from_pretrained(checkpoints.path(steps[0]))
    entities = candidate_tokens(list(tokenizer.get_vocab()), "composition")
    frames = store.read_eval(data_dir)
    queries = {s: tracing_queries(frames[s], entities, probes["max_queries"], seed=0) for s in PROBE_SPLITS}
    rows = []
    for step in tqdm(steps, desc=f"causal tracing {run_name}", mininterval=5):
        path = checkpoints.path(step)
        verify(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        rows += trace_model(model, tokenizer, queries, probes, run=run_name,
                            network="step0" if step == 0 else "trained", seed=-1, step=step)
    for seed in probes["null_seeds"]:
        model = build_model(model_params, tokenizer, seed=seed).eval()
        rows += trace_model(model, tokenizer, queries, probes, run=run_name, network="random_init", seed=seed, step=0)
    return pd.DataFrame(rows)


def write_table(frame: pd.DataFrame, path: Path, meta: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")


def probe_and_write(run_name: str, task: str, run_dir: Path, data_dir: Path, probes: dict, threads: int,
                    checkpoint_dir: Path | None, out_lens: Path, out_accuracy: Path) -> tuple[float, int]:
    """Probe a run's checkpoints into its two tables; returns (max |reloaded - logged accuracy|, checkpoints)."""
    lens, accuracy = probe_run(run_name, task, run_dir, data_dir, probes, threads=threads, checkpoint_dir=checkpoint_dir)
    fingerprint = json.loads((Path(run_dir) / "run.json").read_text())["fingerprint"]
    meta = {"probes": probes, "versions": provenance.versions(), "run_fingerprint": fingerprint}
    write_table(lens, out_lens, meta)
    write_table(accuracy, out_accuracy, meta)
    gap = float((accuracy["accuracy"] - accuracy["accuracy_logged"]).abs().max())
    return gap, int(accuracy["step"].nunique())


def probe_nulls_and_write(run_name: str, task: str, model_params: dict, data_dir: Path, probes: dict, threads: int,
                          out: Path) -> None:
    nulls = probe_nulls(run_name, task, model_params, data_dir, probes, threads=threads)
    write_table(nulls, out, {"probes": probes, "model_params": model_params, "versions": provenance.versions()})


def trace_and_write(run_name: str, model_params: dict, data_dir: Path, probes: dict, checkpoint_dir: Path, threads: int,
                    out: Path) -> pd.DataFrame:
    """Trace a run into its table; returns the final checkpoint's effects on training queries (layer x position)."""
    table = trace_run(run_name, model_params, data_dir, probes, checkpoint_dir, threads=threads)
    write_table(table, out, {"probes": probes, "model_params": model_params, "versions": provenance.versions()})
    final = table[(table["network"] == "trained") & (table["step"] == table["step"].max()) & (table["split"] == "train_inferred")]
    return final.pivot_table(index="layer", columns="position", values="effect").round(3)
