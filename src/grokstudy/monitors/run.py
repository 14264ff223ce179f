"""The monitor jobs: every checkpoint of a trained run, and the random-init band (fresh networks at
the run's checkpoint slots, whose course over the slots is pure estimator noise)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from grokstudy.analyses.runner import checkpoint_models, fp32_eval_on
from grokstudy.models import build_model
from grokstudy.monitors.compute import MonitorSettings, monitor_rows, training_sample

# One band network per (trajectory, slot): seeds far from the training seeds and from the
# probes' null seeds, so no band network equals a network another job builds.
BAND_SEED_BASE = 7_000_000
BAND_SLOTS_PER_TRAJECTORY = 10_000


def _frame(rows: list[dict], **labels) -> pd.DataFrame:
    return pd.DataFrame([{**labels, **row} for row in rows])


def _mean_seconds(timings: list[dict[str, float]]) -> dict[str, float]:
    return {group: float(np.mean([t[group] for t in timings])) for group in timings[0]} if timings else {}


def monitor_checkpoints(
    checkpoint_dir: Path, data_dir: Path, tokenizer, settings: MonitorSettings, device: torch.device, run: str
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Every monitor at every checkpoint of the run (verified first), and the mean seconds per
    checkpoint of each monitor group."""
    sample = training_sample(data_dir, tokenizer, settings).to(device)
    frames, timings = [], []
    for step, model in checkpoint_models(checkpoint_dir, device, f"monitors {run}"):
        rows, seconds = monitor_rows(model, sample, settings)
        frames.append(_frame(rows, run=run, network="trained", trajectory=-1, step=step))
        timings.append(seconds)
    return pd.concat(frames, ignore_index=True), _mean_seconds(timings)


def band_seed(trajectory: int, slot: int) -> int:
    return BAND_SEED_BASE + trajectory * BAND_SLOTS_PER_TRAJECTORY + slot


def monitor_band(
    model_spec: dict,
    checkpoint_steps: list[int],
    data_dir: Path,
    tokenizer,
    settings: MonitorSettings,
    trajectories: int,
    device: torch.device,
    label: str,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """The monitors of `trajectories` sequences of freshly initialized networks, one new network at
    each checkpoint slot (seeded by trajectory and slot), labelled with the slot's step."""
    if len(checkpoint_steps) >= BAND_SLOTS_PER_TRAJECTORY:
        raise ValueError(f"{len(checkpoint_steps)} checkpoint slots; the band seeds allow {BAND_SLOTS_PER_TRAJECTORY}")
    sample = training_sample(data_dir, tokenizer, settings).to(device)
    frames, timings = [], []
    for trajectory in range(trajectories):
        for slot, step in enumerate(checkpoint_steps):
            model = fp32_eval_on(build_model(model_spec, tokenizer, seed=band_seed(trajectory, slot)), device)
            rows, seconds = monitor_rows(model, sample, settings)
            frames.append(_frame(rows, run=label, network="random_init", trajectory=trajectory, step=step))
            timings.append(seconds)
    return pd.concat(frames, ignore_index=True), _mean_seconds(timings)
