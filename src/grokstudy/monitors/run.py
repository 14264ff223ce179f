"""The jobs of one monitor group: every checkpoint of a trained run, and the random-init band
(fresh networks at the run's checkpoint slots, whose course over the slots is pure estimator
noise). The group's module (a row of grokstudy.monitors.registry) is passed in, not looked up, so
a job depends on its own group's code only. Each network's reading is timed, so the cost per
checkpoint is measured where it is paid."""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import torch

from grokstudy.analyses.runner import checkpoint_models, fp32_eval_on
from grokstudy.models import build_model
from grokstudy.monitors.sample import training_two_hop

# One band network per (trajectory, slot): seeds far from the training seeds and from the
# probes' null seeds, so no band network equals a network another job builds.
BAND_SEED_BASE = 7_000_000
BAND_SLOTS_PER_TRAJECTORY = 10_000


def read_network(group: ModuleType, model, prepared, settings: dict, **labels) -> tuple[pd.DataFrame, float]:
    """The group's rows (monitor, site, value) of one network, labelled, and the seconds they took."""
    start = time.perf_counter()
    rows = group.read(model, prepared, settings)
    seconds = time.perf_counter() - start
    return pd.DataFrame([{**labels, "monitor": m, "site": s, "value": float(v)} for m, s, v in rows]), seconds


def monitor_checkpoints(
    group: ModuleType, checkpoint_dir: Path, data_dir: Path, tokenizer, settings: dict, device: torch.device, run: str
) -> tuple[pd.DataFrame, float]:
    """The group's monitors at every checkpoint of the run (verified first), and the mean seconds
    per checkpoint."""
    prepared = group.prepare(training_two_hop(data_dir), tokenizer, settings, device)
    frames, seconds = [], []
    for step, model in checkpoint_models(checkpoint_dir, device, f"monitors {run}"):
        frame, took = read_network(
            group, model, prepared, settings, run=run, network="trained", trajectory=-1, step=step
        )
        frames.append(frame)
        seconds.append(took)
    return pd.concat(frames, ignore_index=True), float(np.mean(seconds))


def band_seed(trajectory: int, slot: int) -> int:
    return BAND_SEED_BASE + trajectory * BAND_SLOTS_PER_TRAJECTORY + slot


def monitor_band(
    group: ModuleType,
    model_spec: dict,
    checkpoint_steps: list[int],
    data_dir: Path,
    tokenizer,
    settings: dict,
    trajectories: int,
    device: torch.device,
    label: str,
) -> tuple[pd.DataFrame, float]:
    """The group's monitors of `trajectories` sequences of freshly initialized networks, one new
    network at each checkpoint slot (seeded by trajectory and slot, the same networks for every
    group), labelled with the slot's step; and the mean seconds per network."""
    if len(checkpoint_steps) >= BAND_SLOTS_PER_TRAJECTORY:
        raise ValueError(f"{len(checkpoint_steps)} checkpoint slots; the band seeds allow {BAND_SLOTS_PER_TRAJECTORY}")
    prepared = group.prepare(training_two_hop(data_dir), tokenizer, settings, device)
    frames, seconds = [], []
    for trajectory in range(trajectories):
        for slot, step in enumerate(checkpoint_steps):
            model = fp32_eval_on(build_model(model_spec, tokenizer, seed=band_seed(trajectory, slot)), device)
            labels = {"run": label, "network": "random_init", "trajectory": trajectory, "step": step}
            frame, took = read_network(group, model, prepared, settings, **labels)
            frames.append(frame)
            seconds.append(took)
    return pd.concat(frames, ignore_index=True), float(np.mean(seconds))
