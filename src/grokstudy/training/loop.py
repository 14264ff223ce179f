"""The training loop: answer-token loss, evaluation of every split, resumable checkpoints."""

import time
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from grokstudy import provenance, sources
from grokstudy.batching import encode
from grokstudy.data import store
from grokstudy.evaluation import evaluate_split
from grokstudy.model import build_model
from grokstudy.training import schedule
from grokstudy.training.checkpoint_writer import BackgroundCheckpointWriter
from grokstudy.training.checkpoints import CheckpointStore, load_optimizer_tensors, optimizer_tensors
from grokstudy.training.device import resolve_device, seed_step
from grokstudy.training.metrics_log import MetricsLog
from grokstudy.training.optim import build_optimizer, parameter_names
from grokstudy.training.sampler import EpochSampler
from grokstudy.training.step import TrainStep

TRAIN_BATCHES = "train_batches"


def run_fingerprint(run_params: dict, model_params: dict, data_manifest: dict) -> str:
    # An edit to the training code must not resume old checkpoints.
    code = provenance.source_digest(*sources.TRAINING_CODE)
    return provenance.fingerprint(run_params, model_params, data_manifest["files"], code)


def train_run(
    run_params: dict,
    model_params: dict,
    data_dir: Path,
    out_dir: Path,
    checkpoint_dir: Path | None = None,
    device: str = "auto",
    threads: int = 1,
    progress: bool = True,
    stop_after_step: int | None = None,
) -> dict:
    """Train one run, resuming from its newest complete checkpoint if the configuration matches.

    Metrics and the run summary go to `out_dir`; checkpoints to `checkpoint_dir` (default
    `out_dir/checkpoints`), kept apart so they can be pulled or skipped as their own artifact class.
    `stop_after_step` ends the process early, right after the first checkpoint at or past that
    step, as an interruption would; it exists so the resume path can be tested.
    """
    torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    dev = resolve_device(device)
    manifest = store.read_manifest(data_dir)
    fingerprint = run_fingerprint(run_params, model_params, manifest)
    tokenizer = AutoTokenizer.from_pretrained(Path(data_dir) / store.TOKENIZER_DIR)
    train_data = encode(store.read_train(data_dir), tokenizer).to(dev)
    eval_data = {s: encode(f, tokenizer).to(dev) for s, f in store.read_eval(data_dir).items()}

    total = run_params["steps"]
    ckpt = run_params["checkpoints"]
    checkpoint_steps = schedule.checkpoint_steps(total, ckpt["count"], ckpt["dense_fraction"], ckpt["dense_count"])
    eval_steps = set(schedule.evaluation_steps(total, run_params["eval_every"], checkpoint_steps))

    checkpoints = CheckpointStore(checkpoint_dir or out_dir / "checkpoints")
    log = MetricsLog(out_dir / "metrics.jsonl")
    resumed_from = checkpoints.latest_resumable(fingerprint)
    if resumed_from is None:
        model = build_model(model_params, tokenizer, seed=run_params["seed"])
    else:
        model = AutoModelForCausalLM.from_pretrained(checkpoints.path(resumed_from), dtype=torch.float32)
    model.to(dev).train()
    names = parameter_names(model)
    optimizer = build_optimizer(model, run_params, fused=dev.type == "cuda")
    if resumed_from is not None:
        load_optimizer_tensors(optimizer, names, checkpoints.load_optimizer(resumed_from))
        log.truncate_after(resumed_from)
    else:
        log.truncate_after(-1)

    sampler = EpochSampler(len(train_data), run_params["batch_size"], run_params["seed"], dev)
    start = 0 if resumed_from is None else resumed_from
    train_step = TrainStep(model, optimizer, run_params["grad_clip"], dev, compile=run_params.get("compile", False))
    # Summed on the device and read only at evaluation steps: no host sync inside the step loop.
    batch_loss, batch_correct, batch_seen = torch.zeros((), device=dev), torch.zeros((), dtype=torch.long, device=dev), 0
    started = time.perf_counter()
    bar = tqdm(total=total, initial=start, desc=out_dir.name, disable=not progress, mininterval=5, unit="step")

    def record(step: int) -> None:
        nonlocal batch_loss, batch_correct, batch_seen
        rows = [{"step": step, "split": s, **evaluate_split(model, d)} for s, d in eval_data.items()]
        if batch_seen:
            rows.append(
                {"step": step, "split": TRAIN_BATCHES, "accuracy": batch_correct.item() / batch_seen,
                 "loss": batch_loss.item() / batch_seen, "n": batch_seen}
            )
        batch_loss, batch_correct, batch_seen = torch.zeros_like(batch_loss), torch.zeros_like(batch_correct), 0
        log.append(rows)
        bar.set_postfix({r["split"][:12]: round(r["accuracy"], 3) for r in rows if r["split"] != TRAIN_BATCHES})

    writer = BackgroundCheckpointWriter(checkpoints)
    versions = provenance.versions()  # read once: package metadata lookups do not belong in the step loop

    def save(step: int) -> None:
        writer.submit(
            step, model, tokenizer, optimizer_tensors(optimizer, names),
            {"step": step, "fingerprint": fingerprint, "seed": run_params["seed"], "versions": versions},
        )

    try:
        if resumed_from is None:
            record(0)
            save(0)
        for step in range(start, total):
            seed_step(run_params["seed"], step)
            batch = train_data.select(sampler.indices(step))
            loss_sum, correct = train_step(batch, schedule.learning_rate(step, run_params["lr"], run_params["warmup_steps"]))
            batch_loss += loss_sum
            batch_correct += correct
            batch_seen += len(batch)
            bar.update(1)
            done = step + 1
            if done in eval_steps:
                record(done)
            if done in checkpoint_steps:
                save(done)
                if stop_after_step is not None and done >= stop_after_step and done < total:
                    bar.close()
                    return {"interrupted_at": done}
    finally:
        writer.close()  # an interruption or error still completes the checkpoint in flight
    bar.close()
    elapsed = time.perf_counter() - started
    metrics = log.frame()
    metrics.to_parquet(out_dir / "metrics.parquet", index=False)
    summary = {
        "fingerprint": fingerprint,
        "seed": run_params["seed"],
        "data_seed": manifest["seed"],
        "run_params": run_params,
        "model_params": model_params,
        "device": str(dev),
        "threads": threads,
        "resumed_from_step": resumed_from,
        "steps_this_invocation": total - start,
        "seconds_this_invocation": round(elapsed, 2),
        "checkpoint_steps": checkpoint_steps,
        "final": _final_metrics(metrics),
        "versions": versions,
        "git_revision": provenance.git_revision(),
    }
    provenance.write_json(out_dir / "run.json", summary)
    return summary


def _final_metrics(metrics: pd.DataFrame) -> dict:
    last = metrics[metrics["step"] == metrics["step"].max()]
    return {row.split: round(row.accuracy, 4) for row in last.itertuples()}
