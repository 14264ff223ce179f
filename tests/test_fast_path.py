"""The training forward keeps the math and stays on transformers' public API."""

import re
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from conftest import TINY_MODEL, TINY_RUN
from grokstudy.batching import encode
from grokstudy.data import store
from grokstudy.models import build_model
from grokstudy.training import loop
from grokstudy.training.device import seed_step
from grokstudy.training.optim import build_optimizer
from grokstudy.training.sampler import EpochSampler
from grokstudy.training.step import AnswerLogits, TrainStep

STEPS = 8
PACKAGE = Path(__file__).resolve().parents[1] / "src" / "grokstudy"
# Attributes and hooks inside GPT-2's blocks: private to transformers, renamed between releases.
GPT2_INTERNALS = re.compile(
    r"register_forward_pre_hook|\.c_attn\b|\.split_size\b|\.attn\.|\.num_heads\b|\.head_dim\b|\.scaling\b"
    r"|\.h\[|\.ln_[12]\b|\.mlp\b"
)


def loss_trajectory(data_dir, compile: bool, model_params: dict = TINY_MODEL) -> list[float]:
    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(data_dir / store.TOKENIZER_DIR)
    data = encode(store.read_train(data_dir), tokenizer)
    model = build_model(model_params, tokenizer, seed=0).train()
    optimizer = build_optimizer(model, TINY_RUN)
    step = TrainStep(model, optimizer, TINY_RUN["grad_clip"], torch.device("cpu"), compile=compile)
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


@pytest.mark.slow
def test_compiled_step_matches_the_plain_step(composition_dir):
    """torch.compile fuses kernels, which reorders float sums: equal to 1e-4 relative, not bit for bit.
    Inductor draws dropout masks from its own generator; `fallback_random` makes it draw eager's,
    in eager's order, so the comparison runs with dropout."""
    inductor = pytest.importorskip("torch._inductor.config")
    assert TINY_MODEL["dropout"] > 0
    plain = loss_trajectory(composition_dir, compile=False)
    with inductor.patch(fallback_random=True):
        fast = loss_trajectory(composition_dir, compile=True)
    assert plain[-1] < plain[0]
    assert fast == pytest.approx(plain, rel=1e-4)


def test_training_code_is_part_of_the_run_fingerprint(monkeypatch):
    manifest = {"files": {"train.parquet": "abc"}}
    before = loop.run_fingerprint(TINY_RUN, TINY_MODEL, manifest)
    monkeypatch.setattr(loop.code_digest, "digest", lambda entries: "edited")
    assert loop.run_fingerprint(TINY_RUN, TINY_MODEL, manifest) != before


@pytest.mark.parametrize("dataset", ["composition_dir", "comparison_dir"])
def test_training_forward_equals_the_full_model_at_the_answer(dataset, request):
    """Logits and gradients of the training forward equal transformers' full GPT-2 forward read at
    each row's answer position, on padded batches that mix prompt lengths."""
    data_dir = request.getfixturevalue(dataset)
    tokenizer = AutoTokenizer.from_pretrained(data_dir / store.TOKENIZER_DIR)
    data = encode(store.read_train(data_dir), tokenizer)
    batch = data.select(torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:256])
    assert len(set(batch.answer_position.tolist())) > 1
    model = build_model({**TINY_MODEL, "dropout": 0.0}, tokenizer, seed=0)
    rows = torch.arange(len(batch))
    full = model(input_ids=batch.input_ids).logits[rows, batch.answer_position]
    full.logsumexp(-1).sum().backward()
    full_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    trained = AnswerLogits(model)(batch.input_ids, batch.answer_position)
    trained.logsumexp(-1).sum().backward()
    assert torch.allclose(trained, full, atol=1e-5)
    for p, g in zip(model.parameters(), full_grads, strict=True):
        assert torch.allclose(p.grad, g, atol=1e-5, rtol=1e-4)


def _sources(globs) -> dict[str, str]:
    files = {path for pattern in globs for path in PACKAGE.glob(pattern)}
    return {str(path.relative_to(PACKAGE)): path.read_text() for path in sorted(files)}


def test_no_module_reaches_into_gpt2_blocks():
    """Only an architecture's own module (models/) may know a block's parts, e.g. to initialize them."""
    outside = {name: text for name, text in _sources(["**/*.py"]).items() if not name.startswith("models/")}
    hits = {name: GPT2_INTERNALS.findall(text) for name, text in outside.items()}
    assert {name: found for name, found in hits.items() if found} == {}


def test_no_module_outside_models_names_a_gpt2_submodule():
    """Probes, optimizer, estimates and training reach the model through grokstudy.models and the
    public transformers API (base_model, get_output_embeddings), never by GPT-2's attribute names."""
    attributes = re.compile(r"\.transformer\b|\.lm_head\b|\.wte\b|\.wpe\b|\bln_f\b|\.drop\b|\.h\b|\bn_layer\b")
    outside = {name: text for name, text in _sources(["**/*.py"]).items() if not name.startswith("models/")}
    hits = {name: attributes.findall(text) for name, text in outside.items()}
    assert {name: found for name, found in hits.items() if found} == {}
