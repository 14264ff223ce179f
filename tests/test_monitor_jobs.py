"""The monitor jobs on a real tiny run: they read checkpoints and training facts, never a test
split (enforced by making every evaluation read raise), and the workflow lists no evaluation file
as their input; tuning plans only the development runs."""

import re
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from conftest import TINY_MODEL
import importlib

from grokstudy.config import job_settings
from grokstudy.data import store
from grokstudy.monitors import registry
from grokstudy.monitors.run import band_seed, monitor_band, monitor_checkpoints
from grokstudy.monitors.sample import training_two_hop
from grokstudy.training.checkpoints import CheckpointStore
from study_repo import REPO, snakemake

# Small samples; any other group's settings keep their registry defaults.
SETTINGS = {
    **{key: setting.default for key, setting in registry.settings().items()},
    "queries": 40,
    "coherence_examples": 6,
    "commutator_pairs": 2,
    "commutator_batch": 8,
    "commutator_lr": 0.01,
    "geometry_site": "resid.1",
    "sample_seed": 0,
}
GROUPS = {group.name: importlib.import_module(group.module) for group in registry.MONITORS}


def _every_group(read) -> pd.DataFrame:
    """`read(module, settings)` for every group of the registry, with its own settings only."""
    frames = []
    for group in registry.MONITORS:
        frame, seconds = read(GROUPS[group.name], registry.settings_of(SETTINGS, group))
        assert seconds >= 0
        frames.append(frame.assign(group=group.name))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def no_test_split(monkeypatch):
    """Any read of an evaluation split raises inside the block: the monitors must not need one."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a monitor read an evaluation split: {args}")

    real_read_parquet = pd.read_parquet

    def guarded_read_parquet(path, *args, **kwargs):
        if store.EVAL_DIR in Path(path).parts:
            refuse(path)
        return real_read_parquet(path, *args, **kwargs)

    monkeypatch.setattr(store, "read_eval", refuse)
    monkeypatch.setattr(pd, "read_parquet", guarded_read_parquet)


def test_the_guard_catches_a_test_split_read(no_test_split, composition_dir):
    with pytest.raises(AssertionError, match="evaluation split"):
        store.read_eval(composition_dir)
    with pytest.raises(AssertionError, match="evaluation split"):
        pd.read_parquet(composition_dir / store.EVAL_DIR / "test_inferred_id.parquet")


def test_monitors_of_every_checkpoint_read_no_test_split(no_test_split, trained_run, composition_dir):
    torch.set_num_threads(1)
    tokenizer = store.load_tokenizer(composition_dir)

    def checkpoints(module, settings):
        cpu = torch.device("cpu")
        return monitor_checkpoints(module, trained_run / "checkpoints", composition_dir, tokenizer, settings, cpu, "t")

    frame = _every_group(checkpoints)
    assert sorted(frame["step"].unique()) == CheckpointStore(trained_run / "checkpoints").complete_steps()
    found = {group: set(rows["monitor"]) for group, rows in frame.groupby("group")}
    assert found.keys() == {group.name for group in registry.MONITORS}
    assert {group: found[group] for group in ("weights", "fit", "geometry", "coherence", "commutator")} == {
        "weights": {"norm", "stable_rank", "logit_scale"},
        "fit": {"train_accuracy", "train_loss"},
        "geometry": {"participation_ratio", "effective_rank", "within_between_ratio"},
        "coherence": {"gradient_coherence"},
        "commutator": {"commutator_defect"},
    }
    assert set(frame.loc[frame["monitor"] == "participation_ratio", "site"]) == {"resid.1@r1", "resid.2@r2"}
    assert frame["value"].notna().all()
    again = _every_group(checkpoints)
    pd.testing.assert_frame_equal(frame, again)


def test_each_group_reads_the_same_training_queries_whatever_the_other_groups_settings(composition_dir):
    tokenizer = store.load_tokenizer(composition_dir)
    inferred = training_two_hop(composition_dir)
    cpu = torch.device("cpu")
    queries = GROUPS["fit"].prepare(inferred, tokenizer, {"queries": 40, "sample_seed": 0}, cpu)
    assert torch.equal(
        queries.input_ids,
        GROUPS["weights"].prepare(inferred, tokenizer, {"queries": 40, "sample_seed": 0}, cpu).input_ids,
    )
    coherence = {"coherence_examples": 6, "sample_seed": 0}
    first = GROUPS["coherence"].prepare(inferred, tokenizer, coherence, cpu)
    assert not torch.equal(first.input_ids, queries.input_ids[:6])
    assert torch.equal(first.input_ids, GROUPS["coherence"].prepare(inferred, tokenizer, coherence, cpu).input_ids)


def test_the_band_builds_a_fresh_network_per_slot(no_test_split, composition_dir):
    tokenizer = store.load_tokenizer(composition_dir)
    spec = {**TINY_MODEL, "dropout": 0.0}
    weights = registry.BY_NAME["weights"]
    settings = registry.settings_of(SETTINGS, weights)
    frame, _ = monitor_band(
        GROUPS["weights"], spec, [0, 10, 20], composition_dir, tokenizer, settings, 2, torch.device("cpu"), "band"
    )
    assert sorted(frame["trajectory"].unique()) == [0, 1] and sorted(frame["step"].unique()) == [0, 10, 20]
    norms = frame[(frame["monitor"] == "norm") & (frame["site"] == "total")]["value"]
    assert norms.nunique() == 6  # six distinct networks
    assert len({band_seed(t, s) for t in range(3) for s in range(5)}) == 15


def test_each_group_is_given_exactly_the_settings_its_row_names():
    preset = {"monitors": {**SETTINGS, "band_trajectories": 3, "dev_seeds": [0]}}
    assert job_settings.monitor(preset, "coherence") == {"sample_seed": 0, "coherence_examples": 6}
    assert job_settings.monitor_band(preset, "fit") == {"queries": 40, "sample_seed": 0, "band_trajectories": 3}
    assert set(registry.settings()) == set(SETTINGS)
    for group in registry.MONITORS:
        assert set(job_settings.monitor(preset, group.name)) == set(group.keys)


def _dry_run(*targets: str) -> str:
    result = snakemake(REPO, *targets, "-n", "--configfile", "config/monitors.yaml")
    return result.stdout + result.stderr


def _jobs(plan: str, rule: str) -> list[str]:
    """The blocks of a dry-run plan that run `rule`."""
    blocks = re.split(r"\n(?=rule |localrule )", plan)
    return [b for b in blocks if re.match(rf"(local)?rule {rule}:", b)]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths")
def test_the_monitor_rule_lists_no_evaluation_split():
    plan = _dry_run("results/monitors/probes/monitors/geometry/comp_phi7.2_wd0.5.s2.parquet")
    jobs = _jobs(plan, "monitor")
    assert len(jobs) == 1
    inputs = re.search(r"input: (.*)", jobs[0]).group(1)
    assert "train.parquet" in inputs and "/eval/" not in inputs and "baselines" not in inputs


def test_tuning_trains_and_reads_only_the_development_runs():
    plan = _dry_run("monitor_tuning")
    trained = sorted(re.search(r"wildcards: run=(\S+)", job).group(1) for job in _jobs(plan, "train"))
    assert trained == ["comp_phi7.2_wd0.5.s0", "comp_phi7.2_wd0.5.s1"]
    tuning = _jobs(plan, "monitor_tuning")[0]
    assert ".s2" not in tuning and "shuffled" not in tuning
