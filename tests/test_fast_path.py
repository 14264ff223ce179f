"""The fast training path keeps the math: same loss trajectory as the plain path on the CPU."""

import pytest
import torch
from transformers import AutoTokenizer

from conftest import TINY_MODEL, TINY_RUN
from grokstudy.batching import encode, logits_at
from grokstudy.data import store
from grokstudy.model import build_model
from grokstudy.training import loop
from grokstudy.training.answer_forward import answer_only_logits
from grokstudy.training.device import seed_step
from grokstudy.training.optim import build_optimizer
from grokstudy.training.sampler import EpochSampler
from grokstudy.training.step import TrainStep

STEPS = 8


def loss_trajectory(data_dir, compile: bool, model_params: dict = TINY_MODEL) -> list[float]:
    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(data_dir / store.TOKENIZER_DIR)
    data = encode(store.read_train(data_dir), tokenizer)
    model = build_model(model_params, tokenizer, seed=0).train()
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
    The compiled step runs the full trunk and the eager one the answer-only last block, whose
    dropout masks are drawn in a different order, so this comparison runs without dropout."""
    pytest.importorskip("torch._inductor.config")
    no_dropout = {**TINY_MODEL, "dropout": 0.0}
    plain = loss_trajectory(composition_dir, compile=False, model_params=no_dropout)
    fast = loss_trajectory(composition_dir, compile=True, model_params=no_dropout)
    assert plain[-1] < plain[0]
    assert fast == pytest.approx(plain, rel=1e-4)


def test_training_code_is_part_of_the_run_fingerprint(monkeypatch):
    manifest = {"files": {"train.parquet": "abc"}}
    before = loop.run_fingerprint(TINY_RUN, TINY_MODEL, manifest)
    monkeypatch.setattr(loop.provenance, "source_digest", lambda *paths: "edited")
    assert loop.run_fingerprint(TINY_RUN, TINY_MODEL, manifest) != before


@pytest.mark.parametrize("dataset", ["composition_dir", "comparison_dir"])
def test_answer_only_forward_equals_the_full_model(dataset, request):
    """Logits and gradients of the training forward match transformers' full GPT-2 on padded
    batches that mix prompt lengths (so masking of later positions is exercised)."""
    data_dir = request.getfixturevalue(dataset)
    tokenizer = AutoTokenizer.from_pretrained(data_dir / store.TOKENIZER_DIR)
    data = encode(store.read_train(data_dir), tokenizer)
    batch = data.select(torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:256])
    assert len(set(batch.answer_position.tolist())) > 1
    model = build_model({**TINY_MODEL, "dropout": 0.0}, tokenizer, seed=0)
    full = logits_at(model, batch.input_ids, batch.answer_position)
    full.logsumexp(-1).sum().backward()
    full_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    fast = answer_only_logits(model, batch.input_ids, batch.answer_position)
    fast.logsumexp(-1).sum().backward()
    assert torch.allclose(fast, full, atol=1e-5)
    for p, g in zip(model.parameters(), full_grads):
        assert torch.allclose(p.grad, g, atol=1e-5, rtol=1e-4)
    # the hook that stops the trunk is removed: the plain model still runs end to end
    assert model(batch.input_ids).logits.shape[0] == len(batch)
