"""The training loop: answer-token loss, evaluation of every split, resumable checkpoints.

`train_run` reads what the run needs (`load_plan`), builds a fresh model or resumes the newest
checkpoint (`init_or_resume`), runs the steps (`StepLoop`) and writes the summary (`run_summary`).
"""

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm
from transformers import PreTrainedTokenizerFast

from grokstudy import code_digest, provenance, results
from grokstudy.batching import EncodedSplit, encode
from grokstudy.data import store
from grokstudy.data.specs import ATOMIC
from grokstudy.evaluation import evaluate_items
from grokstudy.models import architecture_module, build_model, load_model
from grokstudy.training import schedule
from grokstudy.training.checkpoint_writer import BackgroundCheckpointWriter
from grokstudy.training.checkpoints import CheckpointStore, load_optimizer_tensors, optimizer_tensors
from grokstudy.training.device import resolve_device, seed_step
from grokstudy.training.metrics_log import PREDICTION_COLUMNS, MetricsLog
from grokstudy.training.optim import build_optimizer, parameter_names
from grokstudy.training.sampler import EpochSampler
from grokstudy.training.step import TrainStep

TRAIN_BATCHES = "train_batches"
# The test splits whose every item is logged at each evaluation (runs on one world share them).
PREDICTION_SPLITS = ("test_inferred_id", "test_inferred_ood")


def run_fingerprint(run_params: dict, model_params: dict, data_hashes: dict[str, str]) -> str:
    """`data_hashes` are those of the dataset files as read (store.verify), never the manifest's word
    for them: a run on damaged data must not leave checkpoints that a repaired dataset resumes."""
    # An edit to the training code must not resume old checkpoints; a comment or docstring edit may.
    code = code_digest.digest(code_digest.training(architecture_module(model_params)))
    return provenance.fingerprint(run_params, model_params, data_hashes, code)


@dataclass
class RunPlan:
    """What a run reads before its first step: parameters, data, identity and schedules."""

    run_params: dict
    model_params: dict
    manifest: dict
    fingerprint: str
    versions: dict
    tokenizer: PreTrainedTokenizerFast
    train_data: EncodedSplit
    eval_data: dict[str, EncodedSplit]
    eval_prompts: dict[str, list[str]]  # the prompts of PREDICTION_SPLITS, in their files' order
    checkpoint_steps: list[int]
    eval_steps: set[int]

    @property
    def total_steps(self) -> int:
        return self.run_params["steps"]


def training_facts(train: pd.DataFrame, which: str) -> pd.DataFrame:
    """The facts a run trains on: all of them, or the atomic ones only (a control that never sees a two-hop fact)."""
    return train if which == "all" else train[train["kind"] == ATOMIC].reset_index(drop=True)


def load_plan(run_params: dict, model_params: dict, data_dir: Path, dev: torch.device) -> RunPlan:
    data_hashes = store.verify(data_dir)  # every file checked (and hashed once) before anything is read
    manifest = store.read_manifest(data_dir)
    tokenizer = store.load_tokenizer(data_dir)
    eval_frames = store.read_eval(data_dir)
    total, ckpt = run_params["steps"], run_params["checkpoints"]
    checkpoint_steps = schedule.checkpoint_steps(total, ckpt["count"], ckpt["dense_fraction"], ckpt["dense_count"])
    return RunPlan(
        run_params=run_params,
        model_params=model_params,
        manifest=manifest,
        fingerprint=run_fingerprint(run_params, model_params, data_hashes),
        versions=provenance.versions(),  # read once: package metadata lookups do not belong in the step loop
        tokenizer=tokenizer,
        train_data=encode(
            training_facts(store.read_train(data_dir), run_params.get("training_facts", "all")), tokenizer
        ).to(dev),
        eval_data={s: encode(f, tokenizer).to(dev) for s, f in eval_frames.items()},
        eval_prompts={s: eval_frames[s]["prompt"].tolist() for s in PREDICTION_SPLITS if s in eval_frames},
        checkpoint_steps=checkpoint_steps,
        eval_steps=set(schedule.evaluation_steps(total, run_params["eval_every"], checkpoint_steps)),
    )


@dataclass
class TrainingState:
    """The model and optimizer a run starts from; `resumed_from` is None for a fresh run."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    parameter_names: dict[int, str]
    resumed_from: int | None

    @property
    def start_step(self) -> int:
        return 0 if self.resumed_from is None else self.resumed_from


def init_or_resume(
    plan: RunPlan, checkpoints: CheckpointStore, logs: tuple[MetricsLog, ...], dev: torch.device
) -> TrainingState:
    """A fresh model, or the newest complete checkpoint written under the same fingerprint.

    The logs keep only the rows up to the starting step: a resumed run recomputes the rest.
    """
    resumed_from = checkpoints.latest_resumable(plan.fingerprint)
    if resumed_from is None:
        model = build_model(plan.model_params, plan.tokenizer, seed=plan.run_params["seed"])
    else:
        model = load_model(checkpoints.path(resumed_from), dtype=torch.float32)
        checkpoints.load_resume_weights(resumed_from, model)  # the exact fp32 weights, not the half-precision copy
    model.to(dev).train()
    names = parameter_names(model)
    optimizer = build_optimizer(model, plan.run_params, fused=dev.type == "cuda")
    if resumed_from is not None:
        load_optimizer_tensors(optimizer, names, checkpoints.load_optimizer(resumed_from))
    for log in logs:
        log.truncate_after(-1 if resumed_from is None else resumed_from)
    return TrainingState(model, optimizer, names, resumed_from)


class BatchTotals:
    """Training-batch loss and accuracy since the last evaluation.

    Summed on the device and read only when a row is asked for: no host sync inside the step loop.
    """

    def __init__(self, dev: torch.device):
        self.loss = torch.zeros((), device=dev)
        self.correct = torch.zeros((), dtype=torch.long, device=dev)
        self.seen = 0

    def add(self, loss_sum: torch.Tensor, correct: torch.Tensor, examples: int) -> None:
        self.loss += loss_sum
        self.correct += correct
        self.seen += examples

    def rows(self, step: int) -> list[dict]:
        if not self.seen:
            return []
        return [
            {
                "step": step,
                "split": TRAIN_BATCHES,
                "accuracy": self.correct.item() / self.seen,
                "loss": self.loss.item() / self.seen,
                "n": self.seen,
            }
        ]


def evaluation_rows(model, plan: RunPlan, step: int) -> tuple[list[dict], list[dict]]:
    """Accuracy and loss per split, and each item of the prediction splits answered right or not."""
    rows, predictions = [], []
    for split, data in plan.eval_data.items():
        summary, correct = evaluate_items(model, data)
        rows.append({"step": step, "split": split, **summary})
        for prompt, hit in zip(plan.eval_prompts.get(split, ()), correct.tolist(), strict=False):
            predictions.append({"step": step, "split": split, "prompt": prompt, "correct": hit})
    return rows, predictions


class StepLoop:
    """Trains from the starting step to the last, evaluating and checkpointing on the plan's schedules."""

    def __init__(
        self,
        plan: RunPlan,
        state: TrainingState,
        logs: tuple[MetricsLog, MetricsLog],
        writer: BackgroundCheckpointWriter,
        dev: torch.device,
        bar: tqdm,
    ):
        self.plan, self.state, self.writer, self.dev, self.bar = plan, state, writer, dev, bar
        self.log, self.predictions = logs
        params = plan.run_params
        self.sampler = EpochSampler(len(plan.train_data), params["batch_size"], params["seed"], dev)
        self.train_step = TrainStep(
            state.model, state.optimizer, params["grad_clip"], dev, compile=params.get("compile", False)
        )
        self.totals = BatchTotals(dev)

    def run(self, stop_after_step: int | None = None) -> int | None:
        """Returns the step of an early stop (the first checkpoint at or past `stop_after_step`), else None."""
        if self.state.resumed_from is None:
            self.record(0)
            self.save(0)
        total = self.plan.total_steps
        for step in range(self.state.start_step, total):
            self.train_one(step)
            done = step + 1
            if done in self.plan.eval_steps:
                self.record(done)
            if done in self.plan.checkpoint_steps:
                self.save(done)
                if stop_after_step is not None and stop_after_step <= done < total:
                    return done
        return None

    def train_one(self, step: int) -> None:
        params = self.plan.run_params
        seed_step(params["seed"], step)
        batch = self.plan.train_data.select(self.sampler.indices(step))
        loss_sum, correct = self.train_step(batch, schedule.learning_rate(step, params["lr"], params["warmup_steps"]))
        self.totals.add(loss_sum, correct, len(batch))
        self.bar.update(1)

    def record(self, step: int) -> None:
        rows, predictions = evaluation_rows(self.state.model, self.plan, step)
        rows += self.totals.rows(step)
        epoch = step * self.plan.run_params["batch_size"] / len(self.plan.train_data)
        rows = [{**row, "epoch": epoch} for row in rows]
        self.totals = BatchTotals(self.dev)
        self.log.append(rows)
        self.predictions.append(predictions)
        self.bar.set_postfix({r["split"][:12]: round(r["accuracy"], 3) for r in rows if r["split"] != TRAIN_BATCHES})

    def save(self, step: int) -> None:
        plan, state = self.plan, self.state
        trainer_state = {
            "step": step,
            "fingerprint": plan.fingerprint,
            "seed": plan.run_params["seed"],
            "versions": plan.versions,
        }
        self.writer.submit(
            step, state.model, plan.tokenizer, optimizer_tensors(state.optimizer, state.parameter_names), trainer_state
        )


def run_steps(
    plan: RunPlan,
    state: TrainingState,
    checkpoints: CheckpointStore,
    logs: tuple[MetricsLog, MetricsLog],
    dev: torch.device,
    bar: tqdm,
    stop_after_step: int | None,
) -> int | None:
    writer = BackgroundCheckpointWriter(checkpoints)
    try:
        return StepLoop(plan, state, logs, writer, dev, bar).run(stop_after_step)
    finally:
        writer.close()  # an interruption or error still completes the checkpoint in flight


def run_summary(
    plan: RunPlan, state: TrainingState, metrics: pd.DataFrame, dev: torch.device, threads: int, seconds: float
) -> dict:
    return {
        "fingerprint": plan.fingerprint,
        "seed": plan.run_params["seed"],
        "data_seed": plan.manifest["seed"],
        "run_params": plan.run_params,
        "model_params": plan.model_params,
        "device": str(dev),
        "threads": threads,
        "resumed_from_step": state.resumed_from,
        "steps_this_invocation": plan.total_steps - state.start_step,
        "seconds_this_invocation": round(seconds, 2),
        "checkpoint_steps": plan.checkpoint_steps,
        "final": _final_metrics(metrics),
        "versions": plan.versions,
        "git_revision": provenance.git_revision(),
    }


def _final_metrics(metrics: pd.DataFrame) -> dict:
    last = metrics[metrics["step"] == metrics["step"].max()]
    return {row.split: round(row.accuracy, 4) for row in last.itertuples()}


def write_metrics(metrics: pd.DataFrame, path: Path) -> str:
    """Write a metrics table atomically; returns its sha256, which the run summary records for readers."""
    partial = path.with_name(path.name + ".partial")
    metrics.to_parquet(partial, index=False, compression="zstd")
    sha256 = provenance.file_sha256(partial)
    partial.replace(path)
    return sha256


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
    plan = load_plan(run_params, model_params, data_dir, dev)
    checkpoints = CheckpointStore(checkpoint_dir or out_dir / "checkpoints")
    logs = (MetricsLog(out_dir / "metrics.jsonl"), MetricsLog(out_dir / "predictions.jsonl", PREDICTION_COLUMNS))
    tables = (out_dir / results.METRICS, out_dir / results.PREDICTIONS)
    for log, table in zip(logs, tables, strict=True):
        log.reopen(table)
    state = init_or_resume(plan, checkpoints, logs, dev)

    started = time.perf_counter()
    bar = tqdm(
        total=plan.total_steps,
        initial=state.start_step,
        desc=out_dir.name,
        disable=not progress,
        mininterval=5,
        unit="step",
    )
    with bar:
        stopped_at = run_steps(plan, state, checkpoints, logs, dev, bar, stop_after_step)
    seconds = time.perf_counter() - started
    if stopped_at is not None:
        return {"interrupted_at": stopped_at}
    metrics = logs[0].frame()
    summary = run_summary(plan, state, metrics, dev, threads, seconds)
    summary[results.METRICS_HASH] = write_metrics(metrics, tables[0])
    summary[results.PREDICTIONS_HASH] = write_metrics(logs[1].frame(), tables[1])
    provenance.write_json(out_dir / results.SUMMARY, summary)
    for log in logs:  # the tables hold every row, compressed; a later resume reopens the logs from them
        log.path.unlink(missing_ok=True)
    return summary
