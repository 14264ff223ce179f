"""Pick the device and the per-process CPU thread count."""

import contextlib
import warnings

import torch


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but torch sees no GPU; use device: auto or cpu")
    return torch.device(requested)


def autocast(device: torch.device):
    """bf16 autocast on a GPU that has bf16; plain fp32 elsewhere (on the CPU results must be
    bit-reproducible; a GPU without bf16 falls back to fp32, with a warning)."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    if not torch.cuda.is_bf16_supported():
        warnings.warn(f"{torch.cuda.get_device_name(device)} has no bf16: training runs in fp32", stacklevel=2)
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16)


def seed_step(seed: int, step: int) -> None:
    """Dropout randomness as a pure function of (seed, step), so resuming needs no RNG state."""
    torch.manual_seed(seed * 1_000_003 + step + 1)
