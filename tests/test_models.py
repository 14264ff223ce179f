"""The model interface: residual states, patching, the final norm and unembedding, weight-decay groups."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from conftest import TINY_MODEL
from grokstudy import models
from grokstudy.data import store
from grokstudy.models.interface import Site, _hooks


@pytest.fixture
def model_and_ids(composition_dir):
    tokenizer = store.load_tokenizer(composition_dir)
    model = models.build_model(TINY_MODEL, tokenizer, seed=0).eval()
    vocab = tokenizer.get_vocab()
    ids = torch.tensor([[vocab[t] for t in p.split()] for p in ["<e_1> <r_2> <r_3>", "<e_4> <r_0> <r_9>"]])
    return model, ids


def test_residual_states_decode_to_the_models_own_logits(model_and_ids):
    model, ids = model_and_ids
    states, logits = models.residual_states(model, ids)
    assert len(states) == models.depth(TINY_MODEL) + 1 and states[0].shape == (2, 3, TINY_MODEL["d_model"])
    decoded = models.unembedding(model)(models.final_norm(model)(states[-1][:, -1]))
    torch.testing.assert_close(decoded, logits, rtol=1e-5, atol=1e-5)


def test_a_patch_changes_one_state_at_one_position_and_nothing_before_it(model_and_ids):
    model, ids = model_and_ids
    states, _ = models.residual_states(model, ids)
    replacement = torch.zeros(2, TINY_MODEL["d_model"])
    with models.patched_state(model, 1, 1, replacement):
        patched, _ = models.residual_states(model, ids)
    torch.testing.assert_close(patched[1][:, 1], replacement)
    torch.testing.assert_close(patched[1][:, 0], states[1][:, 0])  # the earlier position is untouched
    torch.testing.assert_close(patched[0], states[0])  # and so is every earlier state
    assert not torch.allclose(patched[2][:, 2], states[2][:, 2])  # later states read the patched one
    # The hooks are gone afterwards.
    torch.testing.assert_close(models.residual_states(model, ids)[0][2], states[2])


def test_a_site_names_one_call_of_a_module_used_several_times():
    """A looped block is one module called once per loop: each call is its own residual state."""
    block = torch.nn.Linear(2, 2)
    seen = {}
    with _hooks([Site(block, 0), Site(block, 1)], lambda depth, out: seen.setdefault(depth, out.clone())):
        x = torch.ones(1, 2)
        second = block(block(x))
    torch.testing.assert_close(seen[1], second)
    assert not torch.allclose(seen[0], seen[1])


def test_weight_decay_groups_by_rank(model_and_ids):
    model, _ = model_and_ids
    decay, no_decay = models.parameter_groups(model, 0.1)
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() < 2 for p in no_decay["params"])
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in no_decay["params"]} == {
        n for n, p in model.named_parameters() if n.endswith(".bias") or "ln_" in n
    }


def test_a_reloaded_checkpoint_is_recognized(model_and_ids, tmp_path):
    model, ids = model_and_ids
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert models.architecture_of(reloaded).name == "gpt2"
    torch.testing.assert_close(models.residual_states(reloaded, ids)[1], models.residual_states(model, ids)[1])


def test_an_unknown_architecture_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"model arch 'loopy' is not one of \[.*'gpt2', 'looped_gpt2'.*\]"):
        models.architecture({**TINY_MODEL, "arch": "loopy"})
    assert models.trunk_parameters(TINY_MODEL) == 2 * 12 * 32 * 32
