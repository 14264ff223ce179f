"""No file outside a job's own directory is written or deleted, whatever names arrive."""

import json
import os
import re
from pathlib import Path

import pytest

from conftest import TINY_MODEL, TINY_RUN
from grokstudy import cli
from grokstudy.artifacts import classes
from grokstudy.artifacts.restore import _remove_touched_logs
from grokstudy.errors import ArtifactError
from grokstudy.paths import inside
from grokstudy.training.checkpoints import CheckpointStore


def _results_tree(root: Path) -> Path:
    results = root / "results" / "smoke"
    for directory in ("data/composition", "checkpoints/run_a/step_000000", "runs/run_a"):
        (results / directory).mkdir(parents=True)
        (results / directory / "keep.txt").write_text("precious")
    return results


def _all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_a_run_named_dotdot_cannot_make_training_clean_up_the_results(tmp_path, composition_dir):
    results = _results_tree(tmp_path)
    before = _all_files(tmp_path)
    code = cli.main(
        [
            "train",
            "--run-params",
            json.dumps(TINY_RUN),
            "--model-params",
            json.dumps(TINY_MODEL),
            "--data",
            str(composition_dir),
            "--out",
            str(tmp_path / "out"),
            "--checkpoints",
            str(results / "checkpoints" / ".."),
            "--device",
            "cpu",
        ]
    )
    assert code == 2
    assert _all_files(tmp_path) == before


def test_checkpoint_clean_up_removes_only_what_the_store_wrote(tmp_path):
    root = tmp_path / "checkpoints" / "run_a"
    (root / "step_000010").mkdir(parents=True)
    (root / ".partial-step_000020").mkdir()
    (root / "notes.txt").write_text("a user's file")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.txt").write_text("precious")
    os.symlink(outside, root / "step_000030")
    CheckpointStore(root).clear()
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt", "step_000030"]
    assert (outside / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize("root", ["results/smoke/checkpoints/..", "results/../x", "results/smoke/checkpoints/a/../.."])
def test_a_checkpoint_directory_with_dot_parts_is_refused(root):
    with pytest.raises(ArtifactError, match=re.escape("'.' and '..' are not allowed")):
        CheckpointStore(Path(root))


def test_restore_removes_no_log_outside_the_logs_directory(tmp_path):
    logs = tmp_path / "results" / "smoke" / "logs"
    logs.mkdir(parents=True)
    outside = tmp_path / "outside.log"
    outside.write_text("")
    os.symlink(outside, logs / "link.log")
    with pytest.raises(ArtifactError, match="outside"):
        _remove_touched_logs(logs, existing=set())
    assert outside.exists()


def test_class_directories_stay_inside_the_preset_results(tmp_path):
    results = _results_tree(tmp_path)
    assert all(inside(d, results, "use") for d in classes.directories(results, list(classes.ARTIFACT_CLASSES)))
    os.symlink(tmp_path, results / "figures")
    with pytest.raises(ArtifactError, match="outside"):
        classes.directories(results, ["figures"])


def test_seal_and_restore_refuse_a_preset_named_dotdot(tmp_path, monkeypatch, capsys):
    (tmp_path / "Snakefile").write_text("")
    (tmp_path / "bad.yaml").write_text(
        (Path(__file__).resolve().parents[1] / "config" / "smoke.yaml").read_text().replace("name: smoke", "name: '..'")
    )
    monkeypatch.chdir(tmp_path)
    for command in ("seal", "restore"):
        assert cli.main([command, "--configfile", "bad.yaml"]) == 2
        assert "config key 'name'" in capsys.readouterr().err
