"""What each job asks a batch scheduler for (SLURM through snakemake-executor-plugin-slurm).

Pure functions for the rules' `resources:`; nothing here talks to a cluster. The keys they return
are the executor plugin's resource names: `runtime` (minutes, becomes `sbatch -t`), `mem_mb`
(`--mem`), `cpus_per_task` (`--cpus-per-task`) and `gpu` (`--gpus`, also passed to the `srun`
inside the job so the step sees CUDA_VISIBLE_DEVICES).

Training time is estimated as steps x seconds per step x a safety margin, plus a fixed allowance
for start-up, evaluation and checkpoints. The CPU rates are measured (the numbers and the machine:
docs/cluster.md). Other model sizes scale with the architecture's forward cost (grokstudy.models)
x batch size.

GPU rates have NOT been measured. GPU_SECONDS_PER_STEP is a deliberately generous guess for the
paper's model (d = 768, 8 layers, batch 512); measure yours (`grokstudy bench --device cuda`)
and pass it as `seconds_per_step`, e.g. from GROKSTUDY_SLURM_SECONDS_PER_STEP (see
`seconds_per_step_override`). An underestimate is not fatal: a job killed at its time limit is
resubmitted by the profile's retries, and training resumes from its newest complete checkpoint.
A retry thus needs only the time that is left, so training asks for the same runtime on every
attempt (a doubled request could exceed the partition's limit and be refused).
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass

from grokstudy import models

# Seconds per training step on one CPU thread for the reference model below (measured: docs/cluster.md).
CPU_SECONDS_PER_STEP = {"composition": 0.24, "comparison": 0.41}
CPU_REFERENCE = {"d_model": 128, "layers": 4, "batch_size": 512}
# Not measured: a conservative guess for one GPU, reference model below.
GPU_SECONDS_PER_STEP = 0.1
GPU_REFERENCE = {"d_model": 768, "layers": 8, "batch_size": 512}
SAFETY_MARGIN = 1.5
# Start-up (imports, data, CUDA context, torch.compile), evaluations and checkpoint writes.
FIXED_MINUTES = 10
# Host memory: a CPU training process of the default preset stays well inside the base; a CUDA context,
# pinned buffers and torch.compile's worker processes add several GB on a GPU node.
CPU_BASE_MB = 2048
GPU_BASE_MB = 12288
# Probes on the CPU: a guess, not measured at paper scale.
PROBE_CPU_MB = 4096
# Parameters, gradients, two AdamW moments and the copies a checkpoint write holds, in float32.
BYTES_PER_PARAMETER = 4 * 8
RATE_ENVIRONMENT_VARIABLE = "GROKSTUDY_SLURM_SECONDS_PER_STEP"
# Set by profiles/slurm when it loads: the jobs run on the cluster's nodes, not on this machine.
SUBMIT_MARK = "GROKSTUDY_SUBMITS_TO_CLUSTER"


class ClusterError(RuntimeError):
    """A job cannot be submitted as asked; the message names the rule, the limit and the fix."""


def _step_cost(model_params: Mapping, batch_size: int) -> float:
    return models.forward_cost(model_params) * batch_size


def parameter_count(model_params: Mapping) -> int:
    """Transformer blocks only; embeddings are small next to them here."""
    return models.trunk_parameters(model_params)


def uses_gpu(device: str) -> bool:
    """Only an explicit `device: cuda` preset asks for a GPU; `auto` runs on what the node has."""
    return device == "cuda"


def estimated_seconds_per_step(task: str, model_params: Mapping, batch_size: int, device: str) -> float:
    if task not in CPU_SECONDS_PER_STEP:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(CPU_SECONDS_PER_STEP)}")
    if uses_gpu(device):
        reference = _step_cost(GPU_REFERENCE, GPU_REFERENCE["batch_size"])
        # Small models are bound by kernel launches on a GPU: never estimate below the reference.
        return GPU_SECONDS_PER_STEP * max(1.0, _step_cost(model_params, batch_size) / reference)
    reference = _step_cost(CPU_REFERENCE, CPU_REFERENCE["batch_size"])
    return CPU_SECONDS_PER_STEP[task] * _step_cost(model_params, batch_size) / reference


def seconds_per_step_override(environ: Mapping[str, str]) -> float | None:
    """The measured rate a user exported in GROKSTUDY_SLURM_SECONDS_PER_STEP, or None."""
    raw = environ.get(RATE_ENVIRONMENT_VARIABLE, "").strip()
    if not raw:
        return None
    try:
        rate = float(raw)
    except ValueError:
        raise ClusterError(f"{RATE_ENVIRONMENT_VARIABLE}={raw!r} is not a number of seconds per step") from None
    if not rate > 0:
        raise ClusterError(f"{RATE_ENVIRONMENT_VARIABLE}={raw!r} must be a positive number of seconds per step")
    return rate


def train_runtime(steps: int, seconds_per_step: float, margin: float = SAFETY_MARGIN) -> int:
    """Minutes to request: steps x rate x margin plus the fixed allowance."""
    if steps < 0 or not seconds_per_step > 0 or margin < 1:
        raise ValueError(f"need steps >= 0, seconds_per_step > 0, margin >= 1: {steps}, {seconds_per_step}, {margin}")
    return math.ceil(steps * seconds_per_step * margin / 60 + FIXED_MINUTES)


def train_resources(
    steps: int,
    task: str,
    model_params: Mapping,
    device: str,
    seconds_per_step: float | None = None,
    *,
    batch_size: int = 512,
    threads: int = 1,
    margin: float = SAFETY_MARGIN,
) -> dict[str, int]:
    """runtime (minutes), mem_mb, cpus_per_task and gpu for one training run.

    `seconds_per_step` overrides the estimate (a measured rate for the hardware at hand).
    """
    rate = seconds_per_step or estimated_seconds_per_step(task, model_params, batch_size, device)
    gpu = uses_gpu(device)
    memory = (GPU_BASE_MB if gpu else CPU_BASE_MB) + parameter_count(model_params) * BYTES_PER_PARAMETER / 2**20
    return {
        "runtime": train_runtime(steps, rate, margin),
        "mem_mb": int(math.ceil(memory / 1024) * 1024),
        "cpus_per_task": max(1, threads),
        "gpu": int(gpu),
    }


def probe_resources(device: str, threads: int = 1, runtime: int = 120, attempt: int = 1) -> dict[str, int]:
    """Checkpoint probes, null networks and causal tracing.

    `device` is the device the probe commands compute on (`grokstudy probe --device`): "cuda" asks
    for a GPU. Their cost has not been measured at paper scale; `runtime` (minutes) is
    a generous default, doubled on each retry: these jobs do not resume, so a retry after a
    timeout needs more time.
    """
    gpu = uses_gpu(device)
    return {
        "runtime": runtime * 2 ** (max(1, attempt) - 1),
        "mem_mb": GPU_BASE_MB if gpu else PROBE_CPU_MB,
        "cpus_per_task": max(1, threads),
        "gpu": int(gpu),
    }


def parse_slurm_time(value: str) -> int | None:
    """Minutes in a SLURM time limit as `sinfo -o %l` prints it; None for no limit.

    SLURM's forms: "minutes", "minutes:seconds", "hours:minutes:seconds", "days-hours",
    "days-hours:minutes", "days-hours:minutes:seconds"; "infinite" or "UNLIMITED" for none.
    """
    text = value.strip()
    if text.lower() in ("infinite", "unlimited", "n/a", ""):
        return None
    try:
        if "-" in text:
            days, _, clock = text.partition("-")
            parts = [int(p) for p in clock.split(":")]
            if len(parts) > 3:
                raise ValueError
            hours, minutes, seconds = parts + [0] * (3 - len(parts))
            total = int(days) * 1440 + hours * 60 + minutes + math.ceil(seconds / 60)
        else:
            parts = [int(p) for p in text.split(":")]
            forms = {1: lambda m: (0, m, 0), 2: lambda m, s: (0, m, s), 3: lambda h, m, s: (h, m, s)}
            if len(parts) not in forms:
                raise ValueError
            hours, minutes, seconds = forms[len(parts)](*parts)
            total = hours * 60 + minutes + math.ceil(seconds / 60)
    except ValueError:
        raise ValueError(f"not a SLURM time limit: {value!r}") from None
    return total


TRAIN_RUNTIME_BASIS = (
    f"steps x seconds per step x {SAFETY_MARGIN} + {FIXED_MINUTES} min; a rate measured on this hardware, "
    f"exported as {RATE_ENVIRONMENT_VARIABLE}, replaces the estimated rate"
)


def check_runtime(
    rule: str, requested: int, estimated: int, limit: int | None = None, *, basis: str = TRAIN_RUNTIME_BASIS
) -> None:
    """Raise ClusterError when a job would be killed before it can finish.

    `requested` is the runtime the job asks for (minutes), `estimated` what it needs (by
    `train_resources` or `probe_resources`, made as `basis` says), `limit` the partition's MaxTime
    (None: no limit).
    """
    if requested < estimated:
        raise ClusterError(
            f"rule {rule}: the runtime limit of {requested} min is below the estimated {estimated} min "
            f"({basis}); SLURM would kill the job before it finishes. Raise runtime to at least {estimated} min."
        )
    if limit is not None and requested > limit:
        raise ClusterError(
            f"rule {rule}: the runtime request of {requested} min exceeds the partition's limit of {limit} min. "
            f"Choose a partition with a longer limit (GROKSTUDY_SLURM_PARTITION), or export "
            f"{RATE_ENVIRONMENT_VARIABLE} if a rate measured on this hardware makes the estimate shorter."
        )


def check_memory(rule: str, requested: int, estimated: int, basis: str) -> None:
    """Raise ClusterError when a job's memory limit (mem_mb) is below its estimated need."""
    if requested < estimated:
        raise ClusterError(
            f"rule {rule}: the memory limit of {requested} MB (mem_mb) is below the estimated {estimated} MB "
            f"({basis}); SLURM would kill the job when it runs out. Raise mem_mb to at least {estimated}."
        )


def check_gpu(rule: str, requested: int, device: str, idle_because: str) -> None:
    """Raise ClusterError for more than one GPU, or for a GPU the rule's command would not compute on.

    `device` is what the command computes on: "cpu" leaves a GPU idle, "auto" uses one when the
    node has it, "cuda" needs one. `idle_because` says, for the message, why the device is "cpu".
    """
    if requested > 1:
        raise ClusterError(
            f"rule {rule}: gpu={requested} asks for {requested} GPUs, above the limit of 1 per job: a job computes "
            f"on one device (no run is spread over several GPUs), so the others would sit idle. Set gpu=1 at most."
        )
    if requested > 0 and device == "cpu":
        raise ClusterError(
            f"rule {rule}: gpu={requested} asks for a GPU, above the limit of 0 for this rule: its command computes "
            f"on the CPU ({idle_because}), so the GPU would sit idle. Leave out gpu for {rule}, or set device: cuda "
            f"in the preset."
        )


def forced_value(overrides: Mapping, rule: str, resource: str) -> int | None:
    """A resource fixed on the command line (`--set-resources RULE:RESOURCE=N`), or None.

    `overrides` is Snakemake's `workflow.resource_settings.overwrite_resources` (rule -> resource
    -> Snakemake Resource, with `mem=8G` already turned into `mem_mb` and `runtime="2h"` into
    minutes) or a plain mapping of numbers; an expression is not a fixed value.
    """
    entry = overrides.get(rule, {}).get(resource)
    if hasattr(entry, "is_evaluable"):  # a Snakemake Resource; a missing one has the value None
        entry = None if entry.is_evaluable() else entry.value
    if entry is None:
        return None
    try:
        return int(entry)
    except (TypeError, ValueError):
        raise ClusterError(f"rule {rule}: {resource}={entry!r} is not a whole number") from None


@dataclass(frozen=True)
class RuleNeeds:
    """What the jobs of one rule need, to check the resources forced on the command line against.

    `device`: what the rule's command computes on. `estimates`: per run, or under None for every job
    of the rule, what `train_resources` or `probe_resources` asks for. `basis`: for the messages,
    how the estimate of each resource is made, and ("gpu") why a "cpu" device is the CPU.
    """

    device: str
    estimates: Mapping[str | None, Mapping[str, int]]
    basis: Mapping[str, str]


def training_needs(device: str, estimates: Mapping[str, Mapping[str, int]]) -> RuleNeeds:
    """`train`: the preset's device, and `train_resources` per run."""
    return RuleNeeds(
        device,
        estimates,
        {
            "runtime": TRAIN_RUNTIME_BASIS,
            "mem_mb": f"{CPU_BASE_MB} MB, or {GPU_BASE_MB} MB with a GPU, plus {BYTES_PER_PARAMETER} bytes per "
            "parameter, rounded up to whole GiB",
            "gpu": "the preset says device: cpu",
        },
    )


def probe_needs(device: str, estimate: Mapping[str, int]) -> RuleNeeds:
    """Probes and causal tracing: the probes' device, and one `probe_resources` for every job."""
    return RuleNeeds(
        device,
        {None: estimate},
        {
            "runtime": "the probes' allowance for a first attempt; their cost at paper scale has not been measured",
            "mem_mb": f"{PROBE_CPU_MB} MB, or {GPU_BASE_MB} MB with a GPU",
            "gpu": "probes compute on a GPU only when the preset says device: cuda",
        },
    )


def check_forced_resources(overrides: Mapping, needs: Mapping[str, RuleNeeds]) -> None:
    """Refuse, before anything is submitted, a `gpu`, `mem_mb` or `runtime` fixed on the command
    line (`--set-resources`) that a job of a rule in `needs` (rule -> RuleNeeds) cannot work with."""
    for rule, need in needs.items():
        forced = {name: forced_value(overrides, rule, name) for name in ("gpu", "mem_mb", "runtime")}
        if forced["gpu"] is not None:
            check_gpu(rule, forced["gpu"], need.device, need.basis["gpu"])
        for run, estimate in need.estimates.items():
            job = rule if run is None else f"{rule}[{run}]"
            if forced["mem_mb"] is not None:
                check_memory(job, forced["mem_mb"], estimate["mem_mb"], need.basis["mem_mb"])
            if forced["runtime"] is not None:
                check_runtime(job, forced["runtime"], estimate["runtime"], basis=need.basis["runtime"])


def require_sbatch(which: Callable[[str], str | None] = shutil.which) -> str:
    """The path of `sbatch`, or a ClusterError saying what to do when it is not on PATH."""
    path = which("sbatch")
    if path is None:
        raise ClusterError(
            "sbatch is not on PATH, so no job can be submitted to SLURM. Run this on the cluster's login "
            "node (on some clusters after `module load slurm`), or leave out --profile profiles/slurm "
            "to run on this machine."
        )
    return path


def mark_cluster_submission(environ: MutableMapping[str, str]) -> None:
    environ[SUBMIT_MARK] = "1"


def local_gpu_visible(which: Callable[[str], str | None] = shutil.which) -> bool:
    """Whether this machine has an NVIDIA GPU (`nvidia-smi -L` lists one); no torch import needed."""
    if which("nvidia-smi") is None:
        return False
    listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    return listed.returncode == 0 and "GPU" in listed.stdout


def missing_gpu(preset: str, device: str, environ: Mapping[str, str], gpu_visible: Callable[[], bool]) -> str | None:
    """Why a preset that asks for CUDA cannot execute on this machine, or None when it can (or a
    cluster runs its jobs). Planning never asks: only executing jobs needs the hardware."""
    if device != "cuda" or environ.get(SUBMIT_MARK) or gpu_visible():
        return None
    return (
        f"preset '{preset}' sets device: cuda, and this machine has no NVIDIA GPU (nvidia-smi lists none), so "
        "nothing was run. Run it on a GPU machine, or submit it to a cluster with --profile profiles/slurm. "
        "On this machine, --configfile config/rehearsal.yaml runs the paper's worlds and model for a few steps "
        "on the CPU."
    )
