"""Probe every checkpoint of a run, and the null networks, into tidy tables."""

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from grokstudy import provenance, results
from grokstudy.artifacts.recovery import checkpoint_way_out, way_out
from grokstudy.batching import encode
from grokstudy.data import store
from grokstudy.data.baselines import tail_counts
from grokstudy.errors import CorruptArtifactError
from grokstudy.evaluation import evaluate_split
from grokstudy.model import build_model
from grokstudy.probes.causal_tracing import trace_model, tracing_queries
from grokstudy.probes.logit_lens import PROBE_SPLITS, SITES, candidate_tokens, halves, probe_model, site_queries
from grokstudy.stats import bootstrap_mean_ci, chance_mrr
from grokstudy.training.checkpoints import CheckpointStore, verify
from grokstudy.training.device import resolve_device


def _queries(data_dir: Path, task: str, max_queries: int) -> dict:
    frames = store.read_eval(data_dir)
    return {
        site.position_name: {s: site_queries(frames[s], site, max_queries, seed=0) for s in PROBE_SPLITS}
        for site in SITES[task]
    }


def _rows(ranks: dict, site, chance: float, probes: dict, **labels) -> list[dict]:
    """MRR per split and layer with its CI, over all queries and over the test half (see `halves`)."""
    rows = []
    for split, per_layer in ranks.items():
        for layer, values in enumerate(per_layer):
            select, test = halves(values)
            low, high = bootstrap_mean_ci(values, probes["bootstrap_resamples"], probes["confidence"], seed=layer)
            test_low, test_high = bootstrap_mean_ci(test, probes["bootstrap_resamples"], probes["confidence"], seed=layer)
            rows.append({
                **labels, "split": split, "position": site.position_name, "target": site.target_column,
                "layer": layer, "mrr": float(values.mean()), "ci_low": low, "ci_high": high,
                "n": len(values), "chance": chance, "confidence": probes["confidence"],
                "mrr_select": float(select.mean()), "mrr_test": float(test.mean()),
                "ci_low_test": test_low, "ci_high_test": test_high, "n_test": len(test),
            })
    return rows


def _relation_prior_rows(data_dir: Path, queries: dict, layers: int, probes: dict, **labels) -> list[dict]:
    """The relation-frequency prior as a null network: it ranks entities by how often they are the
    tail of the site's relation among the atomic training facts, the same at every layer. It knows
    the relation and nothing of the head entity. Ties rank like the lens: only higher counts count."""
    counts = tail_counts(store.read_train(data_dir)).set_index(["relation", "tail"])["count"]
    per_relation = counts.groupby(level="relation").apply(lambda c: np.sort(c.to_numpy()))
    rows = []
    for site in SITES["composition"]:
        ranks = {}
        for split, frame in queries[site.position_name].items():
            if frame.empty:
                continue
            relation = frame["prompt"].str.split(" ").str[site.position]
            target = np.array([counts.get((r, t), 0) for r, t in zip(relation, frame["target"])])
            # entities whose count exceeds the target's (sorted counts: those after its last equal)
            rank = np.array([len(c) - np.searchsorted(c, k, side="right") for c, k in zip(per_relation.reindex(relation), target)])
            ranks[split] = np.tile(1.0 / (1.0 + rank), (layers + 1, 1))
        rows += _rows(ranks, site, float("nan"), probes, **labels)
    return rows


def _probe_all_sites(model, tokenizer, queries, candidates, probes, **labels) -> list[dict]:
    chance = chance_mrr(len(candidates))
    rows = []
    for site in SITES[labels["task"]]:
        ranks = probe_model(model, tokenizer, queries[site.position_name], site, candidates)
        rows += _rows(ranks, site, chance, probes, **labels)
    return rows


def _verified_steps(checkpoints: CheckpointStore) -> list[int]:
    """The run's complete checkpoints, every one checked against its checksums before any is probed."""
    steps = checkpoints.complete_steps()
    if not steps:
        raise FileNotFoundError(f"{checkpoints.root} holds no complete checkpoint; train the run first")
    for step in steps:
        try:
            verify(checkpoints.path(step))
        except CorruptArtifactError as error:
            way_out_text = checkpoint_way_out(checkpoints.root)
            raise CorruptArtifactError(f"{error}. Nothing was probed; {way_out_text}") from None
    return steps


def _fp32_eval_on(model, device: torch.device):
    """Probes read a network in fp32 and eval mode (docs/study.md §6.5), wherever it runs."""
    return model.to(device=device, dtype=torch.float32).eval()


def probe_run(run_name: str, task: str, run_dir: Path, data_dir: Path, probes: dict, threads: int = 1,
              checkpoint_dir: Path | None = None, device: str = "cpu") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Logit lens and per-split accuracy for every checkpoint, each loaded with plain transformers."""
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    checkpoints = CheckpointStore(checkpoint_dir or Path(run_dir) / "checkpoints")
    steps = _verified_steps(checkpoints)
    tokenizer = AutoTokenizer.from_pretrained(checkpoints.path(steps[0]))
    candidates = candidate_tokens(list(tokenizer.get_vocab()), task)
    queries = _queries(data_dir, task, probes["max_queries"])
    eval_data = {s: encode(f, tokenizer).to(dev) for s, f in store.read_eval(data_dir).items()}
    logged = results.read_run_metrics(Path(run_dir) / results.METRICS).set_index(["step", "split"])["accuracy"]
    lens_rows, accuracy_rows = [], []
    for step in tqdm(steps, desc=f"probe {run_name}", mininterval=5):
        model = _fp32_eval_on(AutoModelForCausalLM.from_pretrained(checkpoints.path(step), dtype=torch.float32), dev)
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


def probe_nulls(run_name: str, task: str, model_params: dict, data_dir: Path, probes: dict, threads: int = 1,
                device: str = "cpu") -> pd.DataFrame:
    """The same logit lens on randomly initialized networks of the run's architecture, one per seed.

    Each network is initialized on the CPU from its seed and then moved, so it is the same on every device.
    """
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    tokenizer = store.load_tokenizer(data_dir)
    candidates = candidate_tokens(list(tokenizer.get_vocab()), task)
    queries = _queries(data_dir, task, probes["max_queries"])
    rows = []
    for seed in probes["null_seeds"]:
        model = _fp32_eval_on(build_model(model_params, tokenizer, seed=seed), dev)
        rows += _probe_all_sites(model, tokenizer, queries, candidates, probes,
                                 run=run_name, task=task, network="random_init", seed=seed, step=0)
    if task == "composition":
        rows += _relation_prior_rows(data_dir, queries, model_params["layers"], probes,
                                     run=run_name, task=task, network="relation_prior", seed=-1, step=0)
    return pd.DataFrame(rows)


def trace_run(run_name: str, model_params: dict, data_dir: Path, probes: dict, checkpoint_dir: Path,
              threads: int = 1, device: str = "cpu") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Causal tracing (composition) at every checkpoint of a run and on the random-init null networks;
    also the per-query table of the run's own checkpoints."""
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    checkpoints = CheckpointStore(checkpoint_dir)
    steps = _verified_steps(checkpoints)
    tokenizer = AutoTokenizer.from_pretrained(checkpoints.path(steps[0]))
    entities = candidate_tokens(list(tokenizer.get_vocab()), "composition")
    frames = store.read_eval(data_dir)
    queries = {s: tracing_queries(frames[s], entities, probes["max_queries"], seed=0) for s in PROBE_SPLITS}
    rows, per_query = [], []
    for step in tqdm(steps, desc=f"causal tracing {run_name}", mininterval=5):
        model = _fp32_eval_on(AutoModelForCausalLM.from_pretrained(checkpoints.path(step), dtype=torch.float32), dev)
        step_rows, step_queries = trace_model(model, tokenizer, queries, probes, run=run_name,
                                              network="step0" if step == 0 else "trained", seed=-1, step=step)
        rows += step_rows
        per_query.append(step_queries)
    for seed in probes["null_seeds"]:
        model = _fp32_eval_on(build_model(model_params, tokenizer, seed=seed), dev)
        rows += trace_model(model, tokenizer, queries, probes, run=run_name, network="random_init", seed=seed, step=0)[0]
    return pd.DataFrame(rows), pd.concat(per_query, ignore_index=True)


def write_table(frame: pd.DataFrame, path: Path, meta: dict) -> None:
    """The table, then its sidecar with `meta` and the table's sha256, which every reader checks."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    frame.to_parquet(partial, index=False)
    meta = {**meta, results.TABLE_HASH: provenance.file_sha256(partial)}
    partial.replace(path)
    provenance.write_json(results.sidecar(path), meta)


def probe_and_write(run_name: str, task: str, run_dir: Path, data_dir: Path, probes: dict, threads: int,
                    checkpoint_dir: Path | None, out_lens: Path, out_accuracy: Path, device: str = "cpu") -> tuple[float, int]:
    """Probe a run's checkpoints into its two tables; returns (max |reloaded - logged accuracy|, checkpoints)."""
    lens, accuracy = probe_run(run_name, task, run_dir, data_dir, probes, threads=threads, checkpoint_dir=checkpoint_dir,
                               device=device)
    summary = Path(run_dir) / results.SUMMARY
    fingerprint = provenance.read_record(summary, way_out(summary)).get("fingerprint")
    meta = {"probes": probes, "versions": provenance.versions(), "run_fingerprint": fingerprint}
    write_table(lens, out_lens, meta)
    write_table(accuracy, out_accuracy, meta)
    gap = float((accuracy["accuracy"] - accuracy["accuracy_logged"]).abs().max())
    return gap, int(accuracy["step"].nunique())


def probe_nulls_and_write(run_name: str, task: str, model_params: dict, data_dir: Path, probes: dict, threads: int,
                          out: Path, device: str = "cpu") -> None:
    nulls = probe_nulls(run_name, task, model_params, data_dir, probes, threads=threads, device=device)
    write_table(nulls, out, {"probes": probes, "model_params": model_params, "versions": provenance.versions()})


def trace_and_write(run_name: str, model_params: dict, data_dir: Path, probes: dict, checkpoint_dir: Path, threads: int,
                    out: Path, out_queries: Path, device: str = "cpu") -> pd.DataFrame:
    """Trace a run into its two tables; returns the final checkpoint's effects on training queries (layer x position)."""
    table, per_query = trace_run(run_name, model_params, data_dir, probes, checkpoint_dir, threads=threads, device=device)
    meta = {"probes": probes, "model_params": model_params, "versions": provenance.versions()}
    write_table(table, out, meta)
    write_table(per_query, out_queries, meta)
    final = table[(table["network"] == "trained") & (table["step"] == table["step"].max()) & (table["split"] == "train_inferred")]
    return final.pivot_table(index="layer", columns="position", values="effect").round(3)
