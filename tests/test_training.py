import json
import re
import threading

import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from grokstudy.batching import answer_logits, encode
from grokstudy.data import store
from grokstudy.errors import CorruptArtifactError
from grokstudy.evaluation import evaluate_split
from grokstudy.training import schedule
from grokstudy.training.checkpoints import CheckpointStore, verify
from grokstudy.training.loop import train_run
from tests.conftest import TINY_MODEL, TINY_RUN
import itertools


def test_checkpoint_schedule_is_dense_early_and_ends_at_the_last_step():
    steps = schedule.checkpoint_steps(10_000, count=30, dense_fraction=0.1, dense_count=10)
    assert steps[0] == 0 and steps[-1] == 10_000
    early = [s for s in steps if s <= 1000]
    assert len(early) >= 10
    gaps = [b - a for a, b in itertools.pairwise(steps)]
    assert gaps[-1] > gaps[1], "later checkpoints are sparser"


def test_learning_rate_warms_up_then_stays_constant():
    assert schedule.learning_rate(0, 1e-3, 100) == pytest.approx(1e-5)
    assert schedule.learning_rate(99, 1e-3, 100) == pytest.approx(1e-3)
    assert schedule.learning_rate(5000, 1e-3, 100) == 1e-3


def test_padding_does_not_change_the_answer(composition_dir):
    tokenizer = AutoTokenizer.from_pretrained(composition_dir / store.TOKENIZER_DIR)
    from grokstudy.models import build_model

    model = build_model(TINY_MODEL, tokenizer, seed=0).eval()
    frame = store.read_train(composition_dir)
    mixed = pd.concat([frame[frame["kind"] == "atomic"].head(4), frame[frame["kind"] == "inferred"].head(4)])
    batch = encode(mixed, tokenizer)
    assert batch.input_ids.shape[1] == 3 and batch.answer_position.tolist() == [1] * 4 + [2] * 4
    with torch.no_grad():
        padded = answer_logits(model, batch)
        for i, prompt in enumerate(mixed["prompt"]):
            alone = model(input_ids=torch.tensor([tokenizer(prompt)["input_ids"]])).logits[0, -1]
            torch.testing.assert_close(padded[i], alone, rtol=1e-5, atol=1e-5)


def test_loss_falls(trained_run):
    metrics = pd.read_parquet(trained_run / "metrics.parquet")
    assert {"step", "split", "accuracy", "loss"} <= set(metrics.columns)
    atomic = metrics[metrics["split"] == "atomic_id"].sort_values("step")
    assert atomic["loss"].iloc[-1] < atomic["loss"].iloc[0] - 0.2
    assert set(metrics["split"]) >= {
        "atomic_id",
        "atomic_ood",
        "train_inferred",
        "test_inferred_id",
        "test_inferred_ood",
    }


def test_interrupted_run_resumes_to_identical_numbers(composition_dir, trained_run, tmp_path):
    first = train_run(TINY_RUN, TINY_MODEL, composition_dir, tmp_path, device="cpu", progress=False, stop_after_step=25)
    assert first == {"interrupted_at": 30} or first["interrupted_at"] >= 25
    assert not (tmp_path / "metrics.parquet").exists()
    # A half-written checkpoint from the interruption must be ignored.
    (tmp_path / "checkpoints" / ".partial-step_00000099").mkdir()
    resumed = train_run(TINY_RUN, TINY_MODEL, composition_dir, tmp_path, device="cpu", progress=False)
    assert resumed["resumed_from_step"] == first["interrupted_at"]
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "metrics.parquet"), pd.read_parquet(trained_run / "metrics.parquet")
    )
    last = CheckpointStore(trained_run / "checkpoints").complete_steps()[-1]
    a = load_file(trained_run / "checkpoints" / f"step_{last:08d}" / "model.safetensors")
    b = load_file(tmp_path / "checkpoints" / f"step_{last:08d}" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_finished_run_keeps_its_rows_in_compressed_tables_and_resumes_from_them(
    composition_dir, trained_run, tmp_path
):
    """The append-only JSON-lines logs go once the tables hold every row (zstd); running the finished
    run again reopens them from the tables and writes the same tables."""
    assert not list(trained_run.glob("*.jsonl"))
    for table in ("metrics.parquet", "predictions.parquet"):
        assert pq.ParquetFile(trained_run / table).metadata.row_group(0).column(0).compression == "ZSTD"
    shutil.copytree(trained_run, tmp_path / "run")
    again = train_run(TINY_RUN, TINY_MODEL, composition_dir, tmp_path / "run", device="cpu", progress=False)
    assert again["resumed_from_step"] == TINY_RUN["steps"]
    for table in ("metrics.parquet", "predictions.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "run" / table), pd.read_parquet(trained_run / table))


def test_changed_config_does_not_resume_stale_checkpoints(composition_dir, tmp_path):
    train_run(TINY_RUN, TINY_MODEL, composition_dir, tmp_path, device="cpu", progress=False, stop_after_step=25)
    changed = {**TINY_RUN, "lr": 5e-4}
    result = train_run(changed, TINY_MODEL, composition_dir, tmp_path, device="cpu", progress=False)
    assert result["resumed_from_step"] is None


def test_checkpoint_loads_with_plain_transformers_and_reproduces_accuracy(composition_dir, trained_run):
    store_ = CheckpointStore(trained_run / "checkpoints")
    last = store_.path(store_.complete_steps()[-1])
    model = AutoModelForCausalLM.from_pretrained(last).eval()
    tokenizer = AutoTokenizer.from_pretrained(last)
    frame = store.read_eval(composition_dir)["atomic_id"]
    with torch.no_grad():
        correct = 0
        for prompt, answer in zip(frame["prompt"], frame["answer"], strict=True):
            ids = torch.tensor([tokenizer(prompt)["input_ids"]])
            correct += tokenizer.convert_ids_to_tokens(int(model(input_ids=ids).logits[0, -1].argmax())) == answer
    metrics = pd.read_parquet(trained_run / "metrics.parquet")
    logged = metrics[(metrics["step"] == metrics["step"].max()) & (metrics["split"] == "atomic_id")]["accuracy"].item()
    assert correct / len(frame) == pytest.approx(logged, abs=1e-9)
    assert evaluate_split(model, encode(frame, tokenizer))["accuracy"] == pytest.approx(logged, abs=1e-9)


def test_half_precision_checkpoints_reproduce_the_logged_accuracy(composition_dir, trained_run):
    """Every checkpoint holds fp16 weights; read in fp32 they give the accuracy logged in training,
    per split within 0.01: fp16 keeps 11 significant bits, so only an answer whose two best logits
    nearly tie can flip."""
    from grokstudy.training.checkpoints import ANALYSIS_DTYPE, WEIGHTS

    store_ = CheckpointStore(trained_run / "checkpoints")
    metrics = pd.read_parquet(trained_run / "metrics.parquet").set_index(["step", "split"])["accuracy"]
    tokenizer = AutoTokenizer.from_pretrained(store_.path(0))
    splits = {name: encode(frame, tokenizer) for name, frame in store.read_eval(composition_dir).items()}
    for step in store_.complete_steps():
        assert {t.dtype for t in load_file(store_.path(step) / WEIGHTS).values()} == {ANALYSIS_DTYPE}
        model = AutoModelForCausalLM.from_pretrained(store_.path(step), dtype=torch.float32).eval()
        for name, data in splits.items():
            reloaded = evaluate_split(model, data)["accuracy"]
            assert abs(reloaded - metrics[(step, name)]) <= 0.01, (step, name)


def test_only_newest_checkpoint_keeps_optimizer_state_and_all_verify(trained_run):
    store_ = CheckpointStore(trained_run / "checkpoints")
    steps = store_.complete_steps()
    assert len(steps) >= 4
    for name in ("optimizer.safetensors", "resume_weights.safetensors"):
        assert [s for s in steps if (store_.path(s) / name).exists()] == [steps[-1]], name
    for step in steps:
        verify(store_.path(step))
        state = json.loads((store_.path(step) / "trainer_state.json").read_text())
        assert state["step"] == step and state["seed"] == TINY_RUN["seed"] and "torch" in state["versions"]


def test_corrupt_checkpoint_is_detected_and_named(trained_run, tmp_path):
    import shutil

    store_ = CheckpointStore(trained_run / "checkpoints")
    copy = tmp_path / "ckpt"
    shutil.copytree(store_.path(store_.complete_steps()[1]), copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifactError, match=re.escape("model.safetensors")):
        verify(copy)


def test_background_checkpoint_holds_the_state_at_submission(composition_dir, tmp_path):
    """Training goes on while a checkpoint is written: later updates must not leak into it."""
    from grokstudy.models import build_model
    from grokstudy.training.checkpoint_writer import BackgroundCheckpointWriter
    from grokstudy.training.checkpoints import ANALYSIS_DTYPE, OPTIMIZER_STATE

    tokenizer = AutoTokenizer.from_pretrained(composition_dir / store.TOKENIZER_DIR)
    model = build_model(TINY_MODEL, tokenizer, seed=0)
    submitted = {k: v.clone() for k, v in model.state_dict().items()}
    moment = {"w::exp_avg": torch.ones(3)}
    updated = threading.Event()

    class WritesAfterTheUpdate(CheckpointStore):
        def save(self, *args):
            assert updated.wait(timeout=60)
            return super().save(*args)

    checkpoints = WritesAfterTheUpdate(tmp_path / "checkpoints")
    writer = BackgroundCheckpointWriter(checkpoints)
    writer.submit(7, model, tokenizer, moment, {"step": 7})
    with torch.no_grad():
        for param in model.parameters():
            param.add_(1.0)
    moment["w::exp_avg"].add_(1.0)
    updated.set()
    writer.close()

    assert checkpoints.complete_steps() == [7]
    verify(checkpoints.path(7))
    resume = build_model(TINY_MODEL, tokenizer, seed=1)
    checkpoints.load_resume_weights(7, resume)  # the exact fp32 weights
    analysis = AutoModelForCausalLM.from_pretrained(checkpoints.path(7), dtype=torch.float32).state_dict()
    for name, value in resume.state_dict().items():
        assert torch.equal(value, submitted[name]), name
        assert torch.equal(analysis[name], submitted[name].to(ANALYSIS_DTYPE).float()), name
    assert torch.equal(load_file(checkpoints.path(7) / OPTIMIZER_STATE)["w::exp_avg"], torch.ones(3))


def test_a_failed_background_write_is_raised(composition_dir, tmp_path):
    from grokstudy.models import build_model
    from grokstudy.training.checkpoint_writer import BackgroundCheckpointWriter

    tokenizer = AutoTokenizer.from_pretrained(composition_dir / store.TOKENIZER_DIR)
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("")
    writer = BackgroundCheckpointWriter(CheckpointStore(blocker))
    writer.submit(1, build_model(TINY_MODEL, tokenizer, seed=0), tokenizer, {}, {"step": 1})
    with pytest.raises(OSError):
        writer.close()


def _groups(optimizer) -> tuple[set[int], set[int]]:
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] > 0 and no_decay["weight_decay"] == 0
    return {id(p) for p in decay["params"]}, {id(p) for p in no_decay["params"]}


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_embedding_weight_decay_false_moves_the_embeddings_to_the_no_decay_group(composition_dir, tied):
    from grokstudy.models import build_model, embedding_parameters
    from grokstudy.training.optim import build_optimizer

    tokenizer = AutoTokenizer.from_pretrained(composition_dir / store.TOKENIZER_DIR)
    model = build_model({**TINY_MODEL, "tie_embeddings": tied}, tokenizer, seed=0)
    token, position = embedding_parameters(model)
    assert token is model.get_input_embeddings().weight and position.shape[0] == model.config.max_position_embeddings
    head = model.get_output_embeddings().weight
    every = {id(p) for p in model.parameters()}

    decay, no_decay = _groups(build_optimizer(model, TINY_RUN))
    assert {id(token), id(position), id(head)} <= decay
    decay, no_decay = _groups(build_optimizer(model, {**TINY_RUN, "embedding_weight_decay": False}))
    assert {id(token), id(position)} <= no_decay
    assert decay | no_decay == every and not decay & no_decay  # each tensor once, a tied head included
    assert (id(head) in no_decay) == tied  # a tied head is the token embedding; an untied one keeps its decay


def test_init_std_reaches_the_config_and_the_initial_weights(composition_dir):
    from grokstudy.models import build_model

    tokenizer = AutoTokenizer.from_pretrained(composition_dir / store.TOKENIZER_DIR)
    default = build_model(TINY_MODEL, tokenizer, seed=0)
    small = build_model({**TINY_MODEL, "init_std": 0.01}, tokenizer, seed=0)
    assert default.config.initializer_range == 0.02 and small.config.initializer_range == 0.01
    ratio = default.get_input_embeddings().weight.std() / small.get_input_embeddings().weight.std()
    assert ratio.item() == pytest.approx(2.0, rel=0.1)


def _whole_and_resumed(model: dict, composition_dir, tmp_path):
    """The run trained in one go, and again interrupted at step 25 and resumed: the same metrics."""
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train_run(TINY_RUN, model, composition_dir, whole, device="cpu", progress=False)
    first = train_run(TINY_RUN, model, composition_dir, parts, device="cpu", progress=False, stop_after_step=25)
    resumed = train_run(TINY_RUN, model, composition_dir, parts, device="cpu", progress=False)
    assert resumed["resumed_from_step"] == first["interrupted_at"]
    metrics = [pd.read_parquet(root / "metrics.parquet") for root in (parts, whole)]
    pd.testing.assert_frame_equal(*metrics)
    return whole, parts


def test_an_untied_head_trains_resumes_and_reloads_as_its_own_tensor(composition_dir, tmp_path):
    from grokstudy.analyses.logit_lens import layer_logits

    whole, _ = _whole_and_resumed({**TINY_MODEL, "tie_embeddings": False}, composition_dir, tmp_path)

    store_ = CheckpointStore(whole / "checkpoints")
    path = store_.path(store_.complete_steps()[-1])
    assert "lm_head.weight" in load_file(path / "model.safetensors")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    assert model.config.tie_word_embeddings is False
    head, token = model.get_output_embeddings().weight, model.get_input_embeddings().weight
    assert head.data_ptr() != token.data_ptr() and not torch.equal(head, token)
    # The logit lens decodes through the model's own (untied) head.
    tokenizer = AutoTokenizer.from_pretrained(path)
    ids = torch.tensor([tokenizer("<e_1> <r_2> <r_3>")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(layer_logits(model, ids, position=2)[-1], model(input_ids=ids).logits[:, 2])


def test_a_looped_model_trains_and_resumes_to_identical_numbers_and_weights(composition_dir, tmp_path):
    looped = {k: v for k, v in TINY_MODEL.items() if k != "layers"} | {
        "arch": "looped_gpt2",
        "layers_per_loop": 1,
        "recurrence": 2,
    }
    whole, parts = _whole_and_resumed(looped, composition_dir, tmp_path)
    last = CheckpointStore(whole / "checkpoints").complete_steps()[-1]
    a, b = (load_file(root / "checkpoints" / f"step_{last:08d}" / "model.safetensors") for root in (whole, parts))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((whole / "checkpoints" / f"step_{last:08d}" / "config.json").read_text())["recurrence"] == 2
