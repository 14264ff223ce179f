"""Runs one analysis module over a run's checkpoints (the one checkpoint iterator of the study),
or over its null networks, and writes its tables with their sidecars."""

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm
from transformers import PreTrainedTokenizerFast

from grokstudy import provenance, results
from grokstudy.recovery import checkpoint_way_out, way_out
from grokstudy.data import store
from grokstudy.errors import CorruptArtifactError
from grokstudy.models import build_model, load_model
from grokstudy.training.checkpoints import CheckpointStore, verify
from grokstudy.training.device import resolve_device


@dataclass
class Job:
    """What an analysis reads: the run, its data, the settings it asked for, where models run."""

    run: str
    task: str
    data_dir: Path
    settings: dict
    device: torch.device
    tokenizer: PreTrainedTokenizerFast
    model_spec: dict = field(default_factory=dict)  # null jobs: the architecture of the null networks
    run_dir: Path | None = None  # checkpoint jobs that read the run's logged metrics


def fp32_eval_on(model, device: torch.device):
    """Analyses read a network in fp32 and eval mode, wherever it runs."""
    return model.to(device=device, dtype=torch.float32).eval()


def verified_steps(checkpoints: CheckpointStore) -> list[int]:
    """The run's complete checkpoints, every one checked against its checksums before any is read."""
    steps = checkpoints.complete_steps()
    if not steps:
        raise FileNotFoundError(f"{checkpoints.root} holds no complete checkpoint; train the run first")
    for step in steps:
        try:
            verify(checkpoints.path(step))
        except CorruptArtifactError as error:
            raise CorruptArtifactError(
                f"{error}. Nothing was analysed; {checkpoint_way_out(checkpoints.root)}"
            ) from None
    return steps


def checkpoint_models(checkpoint_dir: Path, device: torch.device, label: str) -> Iterator[tuple[int, object]]:
    """(step, model) for every checkpoint, verified first, each reloaded with plain transformers."""
    checkpoints = CheckpointStore(checkpoint_dir)
    for step in tqdm(verified_steps(checkpoints), desc=label, mininterval=5):
        model = load_model(checkpoints.path(step), dtype=torch.float32)
        yield step, fp32_eval_on(model, device)


def null_models(spec: dict, tokenizer, seeds: list[int], device: torch.device) -> Iterator[tuple[int, object]]:
    """(seed, network) of the run's architecture, randomly initialized on the CPU (the same on every device)."""
    for seed in seeds:
        yield seed, fp32_eval_on(build_model(spec, tokenizer, seed=seed), device)


def _tables(rows: dict[str, list], names: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    unknown = set(rows) - set(names)
    if unknown:
        raise ValueError(f"the analysis returned tables {sorted(unknown)} its registry row does not declare")
    return {name: pd.concat(rows[name], ignore_index=True) if rows.get(name) else pd.DataFrame() for name in names}


def _collect(into: dict[str, list], produced: dict) -> None:
    for table, part in produced.items():
        into.setdefault(table, []).append(part if isinstance(part, pd.DataFrame) else pd.DataFrame(part))


def analyse_checkpoints(module_name: str, job: Job, checkpoint_dir: Path, tables: tuple[str, ...]) -> dict:
    """The analysis's tables over every checkpoint of the run."""
    module = importlib.import_module(module_name)
    prepared = module.prepare(job) if hasattr(module, "prepare") else None
    rows: dict[str, list] = {}
    for step, model in checkpoint_models(checkpoint_dir, job.device, f"{module_name.rsplit('.', 1)[-1]} {job.run}"):
        _collect(rows, module.per_checkpoint(model, step, job, prepared))
    return _tables(rows, tables)


def analyse_nulls(module_name: str, job: Job, tables: tuple[str, ...]) -> dict:
    module = importlib.import_module(module_name)
    prepared = module.prepare(job) if hasattr(module, "prepare") else None
    rows: dict[str, list] = {}
    _collect(rows, module.nulls(job, prepared))
    return _tables(rows, tables)


def write_table(frame: pd.DataFrame, path: Path, meta: dict) -> None:
    """The table, then its sidecar with `meta` and the table's sha256, which every reader checks."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    frame.to_parquet(partial, index=False)
    meta = {**meta, results.TABLE_HASH: provenance.file_sha256(partial)}
    partial.replace(path)
    provenance.write_json(results.sidecar(path), meta)


def make_job(run: str, task: str, data_dir: Path, settings: dict, device: str, threads: int, **extra) -> Job:
    torch.set_num_threads(threads)
    return Job(run, task, Path(data_dir), settings, resolve_device(device), store.load_tokenizer(data_dir), **extra)


def run_fingerprint(run_dir: Path) -> str | None:
    summary = Path(run_dir) / results.SUMMARY
    return provenance.read_record(summary, way_out(summary)).get("fingerprint")


def write_tables(frames: dict[str, pd.DataFrame], out_dir: Path, meta: dict) -> list[Path]:
    paths = []
    for name, frame in frames.items():
        paths.append(Path(out_dir) / f"{name}.parquet")
        write_table(frame, paths[-1], meta)
    return paths
