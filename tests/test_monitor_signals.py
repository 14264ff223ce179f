"""The monitor groups' signals: known values on constructed matrices and point clouds, and on tiny models the
gradient signals' bounds, their invariances, and that they leave the model as it was."""

import math

import numpy as np
import pytest
import torch

from conftest import TINY_MODEL
from grokstudy import models
from grokstudy.batching import encode
from grokstudy.data import store
from grokstudy.monitors import weights
from grokstudy.monitors.coherence import gradient_coherence
from grokstudy.monitors.commutator import commutator_defect
from grokstudy.monitors.geometry import effective_rank, participation_ratio, within_between_ratio
from grokstudy.monitors.gradients import answer_loss
from grokstudy.monitors.weights import stable_rank

torch.set_num_threads(1)

MODEL = {**TINY_MODEL, "dropout": 0.0}
LOOPED = {**MODEL, "arch": "looped_gpt2", "layers_per_loop": 1, "recurrence": 2}


@pytest.fixture(scope="module")
def tokenizer(composition_dir):
    return store.load_tokenizer(composition_dir)


@pytest.fixture(scope="module")
def train(composition_dir):
    """Training queries, atomic and two-hop mixed."""
    return store.read_train(composition_dir).sample(n=64, random_state=0).reset_index(drop=True)


def _model(tokenizer, spec=MODEL, seed=0):
    return models.build_model(spec, tokenizer, seed=seed)


def _snapshot(model) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    return [(p.detach().clone(), None if p.grad is None else p.grad.clone()) for p in model.parameters()]


def _assert_unchanged(model, snapshot):
    for p, (value, grad) in zip(model.parameters(), snapshot, strict=True):
        assert torch.equal(p, value)
        assert (p.grad is None and grad is None) or torch.equal(p.grad, grad)


def test_stable_rank_of_rank_one_and_identity():
    u, v = torch.randn(7, 1), torch.randn(1, 5)
    assert stable_rank(u @ v) == pytest.approx(1.0)
    assert stable_rank(torch.eye(6)) == pytest.approx(6.0)
    assert stable_rank(torch.zeros(3, 4)) == 0.0


def test_participation_ratio_spans_isotropic_dimensions_and_collapses_on_a_line():
    rng = np.random.default_rng(0)
    d = 8
    assert participation_ratio(rng.standard_normal((20_000, d))) == pytest.approx(d, rel=0.02)
    line = rng.standard_normal((500, 1)) * rng.standard_normal((1, d)) + 3.0
    assert participation_ratio(line) == pytest.approx(1.0, abs=1e-6)


def test_effective_rank_of_orthogonal_and_rank_one_data():
    d = 10
    assert effective_rank(torch.eye(d)) == pytest.approx(d)
    assert effective_rank(np.outer(np.arange(1, 6), np.ones(d))) == pytest.approx(1.0, abs=1e-6)
    rng = np.random.default_rng(1)
    spread = effective_rank(rng.standard_normal((1000, d)))
    assert 0.9 * d < spread <= d


def test_within_between_ratio_tells_clusters_from_random_labels():
    rng = np.random.default_rng(2)
    centers = rng.standard_normal((5, 16)) * 10
    labels = np.repeat(np.arange(5), 40)
    tight = centers[labels] + 0.1 * rng.standard_normal((200, 16))
    assert within_between_ratio(tight, labels) < 0.05
    scrambled = rng.permutation(labels)
    assert within_between_ratio(tight, scrambled) > 1.0
    assert math.isnan(within_between_ratio(tight, np.zeros(200)))


def test_within_between_ratio_counts_lone_members_between_groups_only():
    states = np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 1.0]])
    # within: both members of group a lie 1 from their centroid (0, 1); between: (0, 1) to (10, 1)
    assert within_between_ratio(states, ["a", "a", "b"]) == pytest.approx(1.0 / 10.0)


def test_gradient_coherence_of_identical_examples_is_the_batch_size(tokenizer, train):
    model = _model(tokenizer)
    m = 6
    batch = encode(train.iloc[[0] * m], tokenizer)
    assert gradient_coherence(model, batch, answer_loss) == pytest.approx(m, rel=1e-5)


def test_gradient_coherence_of_a_mixed_batch_is_within_bounds_and_leaves_the_model(tokenizer, train):
    model = _model(tokenizer).train()
    batch = encode(train.head(8), tokenizer)
    answer_loss(model, encode(train.tail(4), tokenizer)).backward()  # some .grad to keep
    next(iter(model.parameters())).grad = None  # and one left unset
    before = _snapshot(model)
    coherence = gradient_coherence(model, batch, answer_loss)
    assert 0 < coherence < len(batch)
    _assert_unchanged(model, before)
    assert model.training


def test_commutator_defect_is_zero_for_one_batch_and_positive_for_two(tokenizer, train):
    model = _model(tokenizer)
    a, b = encode(train.head(8), tokenizer), encode(train.iloc[8:16], tokenizer)
    before = _snapshot(model)
    assert commutator_defect(model, a, a, lr=1e-2, loss_fn=answer_loss) == pytest.approx(0.0, abs=1e-9)
    defect = commutator_defect(model, a, b, lr=1e-2, loss_fn=answer_loss)
    assert defect > 1e-3 and math.isfinite(defect)
    assert commutator_defect(model, a, b, lr=1e-2, loss_fn=answer_loss) == defect
    _assert_unchanged(model, before)
    assert next(model.parameters()).dtype == torch.float32


def test_commutator_defect_is_antisymmetric_in_norm_and_free_of_the_step_size(tokenizer, train):
    model = _model(tokenizer)
    a, b = encode(train.head(8), tokenizer), encode(train.iloc[8:16], tokenizer)
    defect = commutator_defect(model, a, b, lr=1e-3)
    assert commutator_defect(model, b, a, lr=1e-3) == pytest.approx(defect, rel=1e-9)
    assert commutator_defect(model, a, b, lr=1e-4) == pytest.approx(defect, rel=0.02)


@pytest.mark.parametrize("spec", [MODEL, LOOPED], ids=["gpt2", "looped_gpt2"])
def test_weight_statistics_are_finite_and_positive_over_the_distinct_blocks(tokenizer, train, spec):
    model = _model(tokenizer, spec)
    rows = {(monitor, site): value for monitor, site, value in weights.read(model, encode(train, tokenizer), {})}
    assert {("stable_rank", "blocks"), ("logit_scale", "train"), ("norm", "total")} <= rows.keys()
    assert all(math.isfinite(v) and v > 0 for v in rows.values())
    assert len(models.block_modules(model)) == spec.get("layers_per_loop", spec["layers"])
