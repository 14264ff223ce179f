"""Accuracy and loss of every split, recomputed from each reloaded (half-precision) checkpoint next
to the accuracy training logged at that step: the check that checkpoints hold what was trained."""

from pathlib import Path

import numpy as np

from grokstudy import results
from grokstudy.batching import encode
from grokstudy.data import store
from grokstudy.evaluation import evaluate_split


def prepare(job) -> dict:
    logged = results.read_run_metrics(Path(job.run_dir) / results.METRICS)
    return {
        "splits": {s: encode(f, job.tokenizer).to(job.device) for s, f in store.read_eval(job.data_dir).items()},
        "logged": logged.set_index(["step", "split"])["accuracy"],
    }


def per_checkpoint(model, step: int, job, prepared) -> dict:
    rows = []
    for split, data in prepared["splits"].items():
        logged = float(prepared["logged"].get((step, split), np.nan))
        rows.append(
            {"run": job.run, "step": step, "split": split, **evaluate_split(model, data), "accuracy_logged": logged}
        )
    return {"checkpoint_accuracy": rows}


def summary(tables: dict) -> str:
    accuracy = tables["checkpoint_accuracy"]
    gap = float((accuracy["accuracy"] - accuracy["accuracy_logged"]).abs().max())
    return f"analysed {accuracy['step'].nunique()} checkpoints; max |reloaded - logged accuracy| = {gap:.2e}"
