"""A glimpse of paper-scale training: a few composition runs side by side for a fixed wall time.

Each run is its own process on the same device, training with the pipeline's own step (TrainStep:
compact vocabulary, data on the device, bf16 autocast and torch.compile on a GPU) and the paper's
settings, and evaluating every split every `eval_every` steps, until its time is up. No checkpoint
is written: the glimpse is for reading the early curves (claims C1 and C3), not for resuming.
"""

import multiprocessing
import time
import traceback
from pathlib import Path

import pandas as pd
import torch


GLIMPSE_SPLITS = {"train_inferred": "train", "test_inferred_id": "ID", "test_inferred_ood": "OOD"}


def _evaluations(model, eval_data: dict, step: int, seconds: float, labels: dict) -> list[dict]:
    from grokstudy.evaluation import evaluate_split

    return [
        {**labels, "step": step, "seconds": round(seconds, 2), "split": split, **evaluate_split(model, data)}
        for split, data in eval_data.items()
    ]


def _train_for(job: dict) -> list[dict]:
    """One run: train until `seconds` have passed (or `max_steps`), evaluating every `eval_every` steps."""
    from grokstudy.batching import encode
    from grokstudy.data import store
    from grokstudy.models import build_model
    from grokstudy.training.device import seed_step
    from grokstudy.training.optim import build_optimizer
    from grokstudy.training.sampler import EpochSampler
    from grokstudy.training.schedule import learning_rate
    from grokstudy.training.step import TrainStep

    dev, params = torch.device(job["device"]), job["run_params"]
    if dev.type == "cpu":
        torch.set_num_threads(1)
    tokenizer = store.load_tokenizer(job["data_dir"])
    train = encode(store.read_train(job["data_dir"]), tokenizer).to(dev)
    eval_data = {s: encode(f, tokenizer).to(dev) for s, f in store.read_eval(job["data_dir"]).items()}
    model = build_model(job["model_params"], tokenizer, seed=params["seed"]).to(dev).train()
    optimizer = build_optimizer(model, params, fused=dev.type == "cuda")
    step_fn = TrainStep(model, optimizer, params["grad_clip"], dev, compile=params.get("compile", False))
    sampler = EpochSampler(len(train), params["batch_size"], params["seed"], dev)
    started = time.perf_counter()
    rows = _evaluations(model, eval_data, 0, 0.0, job["labels"])
    step, max_steps = 0, job["max_steps"] or float("inf")
    while step < max_steps and time.perf_counter() - started < job["seconds"]:
        seed_step(params["seed"], step)
        step_fn(train.select(sampler.indices(step)), learning_rate(step, params["lr"], params["warmup_steps"]))
        step += 1
        if step % job["eval_every"] == 0:
            rows += _evaluations(model, eval_data, step, time.perf_counter() - started, job["labels"])
    if step % job["eval_every"]:
        rows += _evaluations(model, eval_data, step, time.perf_counter() - started, job["labels"])
    return rows


def _worker(job: dict, queue) -> None:
    try:
        queue.put((job["labels"]["run"], _train_for(job), None))
    except BaseException:
        queue.put((job["labels"]["run"], [], traceback.format_exc()))


def run_glimpse(jobs: list[dict], timeout_s: float) -> pd.DataFrame:
    """Every job in its own process, all at once; one row per (run, step, split)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_worker, args=(job, queue)) for job in jobs]
    for worker in workers:
        worker.start()
    by_run, failures = {}, []
    for _ in workers:
        run, run_rows, error = queue.get(timeout=timeout_s)
        by_run[run] = run_rows
        if error:
            failures.append(f"{run}:\n{error}")
    for worker in workers:
        worker.join()
    if failures:
        raise RuntimeError("glimpse run failed: " + "\n".join(failures))
    return pd.DataFrame([row for job in jobs for row in by_run[job["labels"]["run"]]])  # in the jobs' order


def glimpse_job(
    data_dir: Path, run: str, preset: dict, device: str, seconds: float, eval_every: int, max_steps: int | None
) -> dict:
    run_params = preset["runs"][run]
    dataset = preset["datasets"][run_params["dataset"]]
    return {
        "data_dir": str(data_dir),
        "run_params": run_params,
        "model_params": preset["models"][run_params["model"]],
        "device": device,
        "seconds": seconds,
        "eval_every": eval_every,
        "max_steps": max_steps,
        "labels": {"run": run, "phi": dataset["phi"]},
    }


def wide_table(rows: pd.DataFrame) -> pd.DataFrame:
    """step x (phi, split) accuracy, runs in their given order, the splits of claim C1 and C3 only."""
    picked = rows[rows["split"].isin(GLIMPSE_SPLITS)].copy()
    picked["column"] = [
        f"phi={phi:g} {GLIMPSE_SPLITS[s]}" for phi, s in zip(picked["phi"], picked["split"], strict=True)
    ]
    order = [f"phi={phi:g} {label}" for phi in dict.fromkeys(picked["phi"]) for label in GLIMPSE_SPLITS.values()]
    table = picked.pivot_table(index="step", columns="column", values="accuracy", aggfunc="first")
    return table[[c for c in order if c in table.columns]].round(3)


def first_fit(rows: pd.DataFrame, run: str, threshold: float = 0.99) -> dict:
    """The first evaluated step where train accuracy reaches `threshold`, with ID there; and the last step."""
    mine = rows[rows["run"] == run].pivot_table(index="step", columns="split", values="accuracy", aggfunc="first")
    fitted = mine[mine["train_inferred"] >= threshold]
    last = mine.index.max()
    reading = {
        "run": run,
        "last_step": int(last),
        "last_train": float(mine.loc[last, "train_inferred"]),
        "last_id": float(mine.loc[last, "test_inferred_id"]),
        "last_ood": float(mine.loc[last, "test_inferred_ood"]),
    }
    if len(fitted):
        step = fitted.index.min()
        reading.update(fit_step=int(step), id_at_fit=float(mine.loc[step, "test_inferred_id"]))
    return reading


def reading_lines(rows: pd.DataFrame, paper_notes: dict[str, str]) -> list[str]:
    lines = []
    for run in dict.fromkeys(rows["run"]):
        r = first_fit(rows, run)
        fit = (
            f"train >= 0.99 first at step {r['fit_step']} (ID there {r['id_at_fit']:.3f})"
            if "fit_step" in r
            else f"train < 0.99 through step {r['last_step']}"
        )
        last = f"at step {r['last_step']}: train {r['last_train']:.3f}, ID {r['last_id']:.3f}, OOD {r['last_ood']:.3f}"
        note = f" [{paper_notes[run]}]" if run in paper_notes else ""
        lines.append(f"- {run}: {fit}; {last}{note}")
    return lines
