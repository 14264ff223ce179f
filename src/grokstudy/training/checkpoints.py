"""Checkpoint directories that plain transformers can load, written atomically and verified on read.

A checkpoint is complete once its `checksums.json` exists: it is written last, inside a
temporary directory that is renamed into place. Its `model.safetensors` is in half precision:
checkpoints exist to be probed, and probes read them in fp32 (transformers upcasts on load).
Only the newest checkpoint also keeps what resuming needs, the fp32 weights and the optimizer
state; they are dropped from a checkpoint once a newer one is complete.
"""

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from grokstudy import provenance
from grokstudy.recovery import newest_checkpoint_way_out
from grokstudy.errors import CorruptArtifactError
from grokstudy.paths import inside, refuse_dot_parts

CHECKSUMS = "checksums.json"
TRAINER_STATE = "trainer_state.json"
OPTIMIZER_STATE = "optimizer.safetensors"
WEIGHTS = "model.safetensors"
RESUME_WEIGHTS = "resume_weights.safetensors"
RESUME_FILES = (OPTIMIZER_STATE, RESUME_WEIGHTS)
ANALYSIS_DTYPE = torch.float16


def step_dir_name(step: int) -> str:
    return f"step_{step:08d}"


def _write_checksums(directory: Path, exclude: tuple[str, ...] = ()) -> None:
    skip = {CHECKSUMS, *exclude}
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.name not in skip)
    provenance.write_json(directory / CHECKSUMS, {p.name: provenance.file_sha256(p) for p in files})


def verify(directory: Path) -> None:
    """Raise CorruptArtifactError naming the first file whose bytes differ from its recorded checksum."""
    directory = Path(directory)
    manifest = directory / CHECKSUMS
    if not manifest.exists():
        raise CorruptArtifactError(f"{directory} is incomplete: {CHECKSUMS} is missing")
    recorded = provenance.read_record(manifest, way_out=f"the checkpoint {directory.name} cannot be trusted")
    for name, expected in recorded.items():
        path = directory / name
        if not path.exists():
            raise CorruptArtifactError(f"{path} is missing (listed in {manifest})")
        actual = provenance.file_sha256(path)
        if actual != expected:
            raise CorruptArtifactError(f"{path} is corrupt: its sha256 is {actual}, but {manifest} records {expected}")


def _read_trainer_state(directory: Path) -> dict | None:
    try:
        state = json.loads((directory / TRAINER_STATE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return state if isinstance(state, dict) else None


def optimizer_tensors(optimizer: torch.optim.Optimizer, names: dict[int, str]) -> dict[str, torch.Tensor]:
    """Flatten AdamW state to named tensors (still on their device), so it can live in safetensors
    instead of a pickle."""
    flat = {}
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                flat[f"{names[id(param)]}::{key}"] = torch.as_tensor(value).detach()
    return flat


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, names: dict[int, str], flat: dict) -> None:
    for group in optimizer.param_groups:
        for param in group["params"]:
            prefix = f"{names[id(param)]}::"
            state = {k[len(prefix) :]: v.to(param.device) for k, v in flat.items() if k.startswith(prefix)}
            if state:
                optimizer.state[param] = state


class CheckpointStore:
    """The checkpoints of one run in their own directory; clean-up deletes only what the store wrote."""

    def __init__(self, root: Path):
        self.root = refuse_dot_parts(Path(root), "checkpoint directory")

    def complete_steps(self) -> list[int]:
        if not self.root.exists():
            return []
        return sorted(
            int(p.name.removeprefix("step_"))
            for p in self.root.glob("step_*")
            if p.is_dir() and (p / CHECKSUMS).exists()
        )

    def path(self, step: int) -> Path:
        return self.root / step_dir_name(step)

    def latest_resumable(self, fingerprint: str) -> int | None:
        """The newest complete checkpoint of this exact configuration, or None (stale ones are removed).

        A damaged newest checkpoint stops the run with the directory to delete: older checkpoints
        keep no optimizer state, so there is nothing to fall back to but a fresh start.
        """
        steps = self.complete_steps()
        if not steps:
            self.clear()
            return None
        newest = self.path(steps[-1])
        state = _read_trainer_state(newest)  # None when unreadable: verify names the damage
        resumable = all((newest / name).exists() for name in RESUME_FILES)
        if state is not None and (state.get("fingerprint") != fingerprint or not resumable):
            self.clear()
            return None
        try:
            verify(newest)
            if state is None:
                raise CorruptArtifactError(f"{newest / TRAINER_STATE} is unreadable")
        except CorruptArtifactError as error:
            way_out = newest_checkpoint_way_out(newest)
            raise CorruptArtifactError(f"{error}. Training cannot resume from {newest.name}; {way_out}") from None
        for partial in self.root.glob(".partial-*"):
            shutil.rmtree(partial)
        return steps[-1]

    def clear(self) -> None:
        """Remove this run's checkpoints: the step_* and .partial-* directories, nothing else."""
        if not self.root.exists():
            return
        for child in [*self.root.glob("step_*"), *self.root.glob(".partial-*")]:
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(inside(child, self.root, "remove"))

    def save(self, step: int, model, tokenizer, optimizer_state: dict, trainer_state: dict) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".partial-{step_dir_name(step)}"
        if tmp.exists():
            shutil.rmtree(tmp)
        model.save_pretrained(tmp, safe_serialization=True)
        _to_half_precision(tmp / WEIGHTS)
        tokenizer.save_pretrained(tmp)
        save_file(_parameters(model), tmp / RESUME_WEIGHTS)
        save_file({k: v.cpu().contiguous() for k, v in optimizer_state.items()}, tmp / OPTIMIZER_STATE)
        provenance.write_json(tmp / TRAINER_STATE, trainer_state)
        _write_checksums(tmp)
        final = self.path(step)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        self._drop_older_resume_state(step)
        return final

    def _drop_older_resume_state(self, newest: int) -> None:
        for step in self.complete_steps():
            older = [self.path(step) / name for name in RESUME_FILES]
            if step < newest and any(path.exists() for path in older):
                # Checksums first: an interruption then leaves an unlisted file, never a missing one.
                _write_checksums(self.path(step), exclude=RESUME_FILES)
                for path in older:
                    path.unlink(missing_ok=True)

    def load_optimizer(self, step: int) -> dict:
        return load_file(self.path(step) / OPTIMIZER_STATE)

    def load_resume_weights(self, step: int, model: torch.nn.Module) -> None:
        """Put the checkpoint's fp32 weights into `model` (its analysis weights are half precision)."""
        tensors = load_file(self.path(step) / RESUME_WEIGHTS)
        expected = set(_parameters(model))
        if set(tensors) != expected:
            raise CorruptArtifactError(
                f"{self.path(step) / RESUME_WEIGHTS} holds {sorted(set(tensors) ^ expected)[:5]} "
                "where the model's parameters were expected"
            )
        model.load_state_dict(tensors, strict=False)


def _parameters(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter once (tied embeddings share one), on the host, in fp32."""
    return {name: p.detach().cpu().float().contiguous() for name, p in model.named_parameters()}


def _to_half_precision(path: Path) -> None:
    tensors = load_file(path)
    save_file(
        {k: v.to(ANALYSIS_DTYPE) if v.is_floating_point() else v for k, v in tensors.items()},
        path,
        metadata={"format": "pt"},
    )
