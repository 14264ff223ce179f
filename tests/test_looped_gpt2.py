"""The looped GPT-2: one loop is GPT-2 exactly, no position reads a later one, checkpoints reload
through the Auto classes, and the number of loops can change at test time."""

import pandas as pd
import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2LMHeadModel

from grokstudy import models
from grokstudy.data import store
from grokstudy.models.gpt2 import gpt2_config
from grokstudy.models.interface import _hidden, _hooks
from grokstudy.models.looped_gpt2 import LoopedGPT2
from grokstudy.models.looped_gpt2_modeling import LoopedGPT2LMHeadModel

LOOPED = {"d_model": 32, "layers_per_loop": 2, "recurrence": 3, "heads": 2, "dropout": 0.0}
ARCH = LoopedGPT2()


@pytest.fixture
def tokenizer(composition_dir):
    return store.load_tokenizer(composition_dir)


def _ids(tokenizer, prompts=("<e_1> <r_2> <r_3>", "<e_4> <r_0> <r_9>")) -> torch.Tensor:
    vocab = tokenizer.get_vocab()
    return torch.tensor([[vocab[t] for t in p.split()] for p in prompts])


def _randomized(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every weight random, so that no zero-initialized projection hides a bug."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    return model.eval()


def test_one_loop_is_gpt2_exactly_given_the_same_weights(tokenizer):
    spec = {**LOOPED, "recurrence": 1}
    gpt2 = _randomized(GPT2LMHeadModel(gpt2_config({**spec, "layers": spec["layers_per_loop"]}, tokenizer)))
    looped = ARCH.build(spec, tokenizer).eval()
    looped.load_state_dict(gpt2.state_dict())
    ids = _ids(tokenizer)
    with torch.no_grad():
        assert torch.equal(looped(input_ids=ids).logits, gpt2(input_ids=ids).logits)


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_no_position_reads_a_later_token(tokenizer, attention):
    model = _randomized(ARCH.build(LOOPED, tokenizer))
    model.set_attn_implementation(attention)
    ids = _ids(tokenizer)
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 1) % len(tokenizer)
    with torch.no_grad():
        before, after = model(input_ids=ids).logits, model(input_ids=changed).logits
    assert torch.equal(before[:, :-1], after[:, :-1])
    assert not torch.equal(before[:, -1], after[:, -1])


def test_a_saved_checkpoint_reloads_through_the_auto_classes_with_its_head_tied(tokenizer, tmp_path):
    model = _randomized(ARCH.build(LOOPED, tokenizer))
    model.tie_weights()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded, LoopedGPT2LMHeadModel) and reloaded.config.recurrence == LOOPED["recurrence"]
    assert reloaded.lm_head.weight.data_ptr() == reloaded.transformer.wte.weight.data_ptr()
    ids = _ids(tokenizer)
    with torch.no_grad():
        assert torch.equal(reloaded(input_ids=ids).logits, model(input_ids=ids).logits)


def test_test_time_recurrence_runs_more_loops_of_the_same_weights(tokenizer):
    model = _randomized(ARCH.build(LOOPED, tokenizer))
    deeper = ARCH.build({**LOOPED, "recurrence": 5}, tokenizer).eval()
    deeper.load_state_dict(model.state_dict())
    ids = _ids(tokenizer)
    with torch.no_grad():
        swept = model(input_ids=ids, recurrence=5).logits
        assert torch.equal(swept, deeper(input_ids=ids).logits)
        assert not torch.equal(swept, model(input_ids=ids).logits)


def test_one_residual_site_per_block_call_and_the_last_is_the_trunk_output(tokenizer):
    model = _randomized(ARCH.build(LOOPED, tokenizer))
    sites = ARCH.residual_sites(model)
    assert len(sites) == ARCH.depth(LOOPED) + 1 == 1 + 2 * 3
    states = {}
    ids = _ids(tokenizer)
    with torch.no_grad(), _hooks(sites, lambda depth, out: states.setdefault(depth, _hidden(out).clone())):
        logits = model(input_ids=ids).logits
    assert sorted(states) == list(range(len(sites)))
    decoded = model.lm_head(ARCH.final_norm(model)(states[len(sites) - 1]))
    torch.testing.assert_close(decoded, logits)


def test_a_fresh_model_starts_with_every_block_the_identity(tokenizer):
    model = ARCH.build(LOOPED, tokenizer).eval()
    states = {}
    with torch.no_grad(), _hooks(ARCH.residual_sites(model), lambda d, out: states.setdefault(d, _hidden(out).clone())):
        model(input_ids=_ids(tokenizer))
    for depth in range(1, ARCH.depth(LOOPED) + 1):
        torch.testing.assert_close(states[depth], states[0])


def test_one_layer_looped_four_times_costs_what_four_layers_cost():
    from grokstudy.models.gpt2 import GPT2

    vanilla = {"d_model": 128, "layers": 4}
    looped = {"d_model": 128, "layers_per_loop": 1, "recurrence": 4}
    assert ARCH.block_applications_cost(looped) == GPT2().block_applications_cost(vanilla)
    assert ARCH.trunk_parameters(looped) * 4 == GPT2().trunk_parameters(vanilla)


def test_load_model_registers_the_looped_classes_from_the_checkpoint_alone(tokenizer, tmp_path):
    model = _randomized(models.build_model({**LOOPED, "arch": "looped_gpt2"}, tokenizer, seed=0))
    model.save_pretrained(tmp_path)
    reloaded = models.load_model(tmp_path).eval()
    assert models.architecture_of(reloaded).name == "looped_gpt2"
    ids = _ids(tokenizer)
    with torch.no_grad():
        assert torch.equal(reloaded(input_ids=ids).logits, model(input_ids=ids).logits)


def test_test_time_recurrence_changes_the_loops_inside_the_block_only(tokenizer):
    model = _randomized(ARCH.build(LOOPED, tokenizer))
    ids = _ids(tokenizer)
    with torch.no_grad():
        trained = model(input_ids=ids).logits
        with models.test_time_recurrence(model, 5):
            assert models.recurrence(model) == 5
            assert len(models.residual_states(model, ids)[0]) == 1 + 5 * LOOPED["layers_per_loop"]
            five = model(input_ids=ids).logits
        assert models.recurrence(model) == LOOPED["recurrence"]
        assert torch.equal(model(input_ids=ids, recurrence=5).logits, five)
        assert torch.equal(model(input_ids=ids).logits, trained)


def test_a_model_that_does_not_loop_refuses_a_test_time_recurrence(tokenizer):
    gpt2 = models.build_model({**LOOPED, "arch": "gpt2", "layers": 2}, tokenizer, seed=0)
    with pytest.raises(ValueError, match="does not loop"), models.test_time_recurrence(gpt2, 2):
        pass


@pytest.mark.parametrize(
    ("depth", "per_loop", "loop"), [(0, 2, 0), (1, 2, 1), (2, 2, 1), (3, 2, 2), (6, 2, 3), (4, 4, 1)]
)
def test_each_depth_belongs_to_its_loop(depth, per_loop, loop):
    assert models.iteration_of(depth, per_loop) == loop


def test_the_recurrence_sweep_reports_every_loop_count_and_the_drop_from_the_peak(tokenizer, composition_dir):
    from grokstudy.analyses import recurrence_sweep
    from grokstudy.analyses.runner import Job

    model = _randomized(ARCH.build(LOOPED, tokenizer))
    job = Job("run", "composition", composition_dir, {"bootstrap_resamples": 50, "confidence": 0.9}, "cpu", tokenizer)
    tables = recurrence_sweep.per_checkpoint(model, 7, job, recurrence_sweep.prepare(job))
    rows = pd.DataFrame(tables["recurrence_sweep"])
    assert set(rows["recurrence"]) == set(range(1, 3 * LOOPED["recurrence"] + 1))
    assert set(rows["split"]) == {"train_inferred", "test_inferred_id", "test_inferred_ood"}
    for _, split in rows.groupby("split"):
        peak = split.loc[split["margin"].idxmax()]
        assert (split["peak_recurrence"] == peak["recurrence"]).all()
        assert peak["drop_from_peak"] == pytest.approx(0.0, abs=1e-6)
        assert (split["drop_from_peak"] >= -1e-6).all()  # a mean difference from the highest mean
        assert (split["accuracy"] == split["correct"] / split["n"]).all()
    assert models.recurrence(model) == LOOPED["recurrence"]  # the sweep leaves the model as it was
    # Every ID item's margin at every r, which the summary's ID rows average.
    items = tables["recurrence_sweep_items"]
    assert set(items["split"]) == {"test_inferred_id"} and (items["step"] == 7).all()
    by_loops = items.groupby("recurrence")
    summary = rows[rows["split"] == "test_inferred_id"].set_index("recurrence")
    assert by_loops["margin"].mean().to_numpy() == pytest.approx(summary["margin"].to_numpy(), abs=1e-5)
    assert (by_loops["correct"].sum() == summary["correct"]).all()
    assert (by_loops.size() == summary["n"]).all() and (by_loops["item"].nunique() == summary["n"]).all()
