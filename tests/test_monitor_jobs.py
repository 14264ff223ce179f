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
from grokstudy.config import job_settings
from grokstudy.data import store
from grokstudy.monitors import compute
from grokstudy.monitors.run import band_seed, monitor_band, monitor_checkpoints
from grokstudy.training.checkpoints import CheckpointStore
from study_repo import REPO, snakemake

SETTINGS = compute.MonitorSettings(
    queries=40,
    coherence_examples=6,
    commutator_pairs=2,
    commutator_batch=8,
    commutator_lr=0.01,
    geometry_layer=1,
    sample_seed=0,
)


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
    frame, seconds = monitor_checkpoints(
        trained_run / "checkpoints", composition_dir, tokenizer, SETTINGS, torch.device("cpu"), "tiny"
    )
    assert sorted(frame["step"].unique()) == CheckpointStore(trained_run / "checkpoints").complete_steps()
    monitors = set(frame["monitor"])
    assert {
        "norm",
        "stable_rank",
        "logit_scale",
        "train_accuracy",
        "train_loss",
        "participation_ratio",
        "effective_rank",
        "within_between_ratio",
        "gradient_coherence",
        "commutator_defect",
    } <= monitors
    assert set(frame.loc[frame["monitor"] == "participation_ratio", "site"]) == {"r1_layer1", "r2_layer2"}
    assert frame["value"].notna().all()
    assert set(seconds) == set(compute.GROUPS) and all(s >= 0 for s in seconds.values())
    again, _ = monitor_checkpoints(
        trained_run / "checkpoints", composition_dir, tokenizer, SETTINGS, torch.device("cpu"), "tiny"
    )
    pd.testing.assert_frame_equal(frame, again)


def test_the_band_builds_a_fresh_network_per_slot(no_test_split, composition_dir):
    tokenizer = store.load_tokenizer(composition_dir)
    spec = {**TINY_MODEL, "dropout": 0.0}
    frame, _ = monitor_band(spec, [0, 10, 20], composition_dir, tokenizer, SETTINGS, 2, torch.device("cpu"), "band")
    assert sorted(frame["trajectory"].unique()) == [0, 1] and sorted(frame["step"].unique()) == [0, 10, 20]
    norms = frame[(frame["monitor"] == "norm") & (frame["site"] == "total")]["value"]
    assert norms.nunique() == 6  # six distinct networks
    assert len({band_seed(t, s) for t in range(3) for s in range(5)}) == 15


def test_the_job_settings_are_the_monitor_settings():
    assert set(job_settings.MONITOR_KEYS) == set(compute.MonitorSettings.__dataclass_fields__)


def _dry_run(*targets: str) -> str:
    result = snakemake(REPO, *targets, "-n", "--configfile", "config/monitors.yaml")
    return result.stdout + result.stderr


def _jobs(plan: str, rule: str) -> list[str]:
    """The blocks of a dry-run plan that run `rule`."""
    blocks = re.split(r"\n(?=rule |localrule )", plan)
    return [b for b in blocks if re.match(rf"(local)?rule {rule}:", b)]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths")
def test_the_monitor_rule_lists_no_evaluation_split():
    plan = _dry_run("results/monitors/probes/monitors/comp_phi7.2_wd0.5.s2.parquet")
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
