"""The fast training path keeps the math: same loss trajectory as the plain path on the CPU."""

import pytest
import torch
from transformers import AutoTokenizer

from conftest import TINY_MODEL, TINY_RUN
from grokstudy.batching import encode
from grokstudy.data import store
from grokstudy.model import build_model
from grokstudy.training import loop
from grokstudy.training.device import seed_step
from grokstudy.training.optim import build_optimizer
from grokstudy.training.sampler import EpochSampler
from grokstudy.training.step import TrainStep

STEPS = 8


def loss_trajectory(data_dir, compile: bool) -> list[float]:
    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(data_dir / store.TOKENIZER_DIR)
    data = encode(store.read_train(data_dir), tokenizer)
    model = build_model(TINY_MODEL, tokenizer, seed=0).train()
    step = TrainStep(model, build_optimizer(model, TINY_RUN), TINY_RUN["grad_clip"], torch.device("cpu"), compile=compile)
    sampler = EpochSampler(len(data), TINY_RUN["batch_size"], 0)
    losses = []
    for i in range(STEPS):
        seed_step(0, i)
        batch = data.select(sampler.indices(i))
        loss_sum, _ = step(batch, TINY_RUN["lr"])
        losses.append(loss_sum.item() / len(batch))
    return losses


def test_plain_path_is_bit_reproducible(composition_dir):
    assert loss_trajectory(composition_dir, compile=False) == loss_trajectory(composition_dir, compile=False)


def test_compiled_step_matches_the_plain_step(composition_dir):
    """torch.compile fuses kernels, which reorders float sums: equal to 1e-4 relative, not bit for bit.
    Dropout draws from the eager generator (fallback_random) so both paths see the same masks."""
    inductor = pytest.importorskip("torch._inductor.config")
    inductor.fallback_random = True
    try:
        plain = loss_trajectory(composition_dir, compile=False)
        fast = loss_trajectory(composition_dir, compile=True)
    finally:
        inductor.fallback_random = False
    assert plain[-1] < plain[0]
    assert fast == pytest.approx(plain, rel=1e-4)


def test_training_code_is_part_of_the_run_fingerprint(monkeypatch):
    manifest = {"files": {"train.parquet": "abc"}}
    before = loop.run_fingerprint(TINY_RUN, TINY_MODEL, manifest)
    monkeypatch.setattr(loop.provenance, "source_digest", lambda *paths: "edited")
    assert loop.run_fingerprint(TINY_RUN, TINY_MODEL, manifest) != before
