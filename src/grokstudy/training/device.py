"""Pick the device and the per-process CPU thread count."""

import contextlib

import torch


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but torch sees no GPU; use device: auto or cpu")
    return torch.device(requested)


def autocast(device: torch.device):
    """bf16 autocast on a GPU; plain fp32 on the CPU, where results must be bit-reproducible."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_step(seed: int, step: int) -> None:
    """Dropout randomness as a pure function of (seed, step), so resuming needs no RNG state."""
    torch.manual_seed(seed * 1_000_003 + step + 1)
