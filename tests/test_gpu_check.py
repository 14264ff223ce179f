"""The GPU pre-flight check, known to work before any GPU is at hand: its tiny CPU run end to end,
its offline wheel install, its refusal to time a shared GPU, and probes that take a device."""

import base64
import contextlib
import csv
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import TINY_MODEL

from grokstudy import config, gpu_check
from grokstudy.benchmark import measure
from grokstudy.benchmark.probe_parity import probe_parity
from grokstudy.data import store
from grokstudy.models import build_model
from grokstudy.analyses import causal_tracing
from grokstudy.analyses.logit_lens import SITES, probe_model, site_queries
from grokstudy.analyses.queries import candidate_tokens
from grokstudy.training import device as training_device

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu-check.sh"
PROBES = {"null_seeds": [1, 2], "max_queries": 30, "bootstrap_resamples": 50, "confidence": 0.95}


def _script(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYTHON": sys.executable, **env},
    )


@pytest.mark.slow  # ~70 s on 2 cores: scripts/gpu-check.sh trains and benchmarks the tiny preset
def test_tiny_check_appends_rows_and_writes_the_glimpse(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    existing = {column: "earlier" for column in measure.COLUMNS}
    measure.append_rows(out / "results.csv", [existing])
    result = _script("--tiny", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert rows[0] == existing
    assert [r["loop"] for r in rows[1:]] == ["reference", "fast", "fast-concurrent", "fast"]
    assert all(r["device"].startswith("CPU") and float(r["steps_per_s"]) > 0 for r in rows[1:])
    glimpse = pd.read_csv(next(out.glob("gpu-glimpse-*.csv")))
    assert set(glimpse["run"]) == set(gpu_check.GLIMPSE_RUNS)
    assert sorted(glimpse["step"].unique()) == [0, 1, 2]
    table = next(out.glob("gpu-glimpse-*.md")).read_text()
    assert "| step | phi=18 train | phi=18 ID | phi=18 OOD | phi=7.2 train |" in table
    report = next(out.glob("gpu-check-*.md")).read_text()
    assert "## Probe parity" in report and "Rows appended to results.csv." in report
    assert next(out.glob("gpu-check-*.log")).stat().st_size > 0
    assert "every module it needs imports" in result.stdout


def _wheel(directory: Path, name: str) -> Path:
    """A minimal pure-Python wheel holding one module, as pip download would leave it."""
    files = {
        f"{name}/__init__.py": b"VALUE = 1\n",
        f"{name}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{name}-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for path, data in files.items()
    ]
    files[f"{name}-1.0.dist-info/RECORD"] = ("\n".join([*record, f"{name}-1.0.dist-info/RECORD,,"]) + "\n").encode()
    path = directory / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def test_a_missing_module_is_installed_offline_from_its_wheel(tmp_path):
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    wheels.mkdir()
    _wheel(wheels, "gpucheck_fakedep")
    result = _script(
        "--deps-only",
        GPU_CHECK_NEEDS="json:json gpucheck_fakedep:gpucheck_fakedep",
        GPU_CHECK_WHEELS=str(wheels),
        GPU_CHECK_SITE=str(site),
    )
    assert result.returncode == 0, result.stderr
    assert "installing from" in result.stdout and "gpucheck_fakedep-1.0-py3-none-any.whl" in result.stdout
    assert (site / "gpucheck_fakedep" / "__init__.py").exists()


def test_a_missing_module_without_a_wheel_is_named(tmp_path):
    result = _script("--deps-only", GPU_CHECK_NEEDS="gpucheck_absent:gpucheck_absent", GPU_CHECK_WHEELS=str(tmp_path))
    assert result.returncode == 3
    assert "gpucheck_absent is missing" in result.stderr


def test_no_benchmark_rows_while_another_process_uses_the_gpu(tmp_path, monkeypatch):
    monkeypatch.setattr(measure, "benchmark", lambda *a, **k: pytest.fail("timed a shared GPU"))
    env = {"device_type": "cuda", "other_gpu_processes": ["4242, python, 30000 MiB"], "precision": "bf16"}
    plan = gpu_check.paper_plan("cuda")
    result = gpu_check.run_benchmark(plan, env, tmp_path, log=lambda *_: None)
    assert not result["appended"] and "4242" in result["why"]
    assert not (tmp_path / "results.csv").exists()
    assert gpu_check.gpu_is_ours({**env, "other_gpu_processes": []})[0]
    assert "unverified" in gpu_check.gpu_is_ours({**env, "other_gpu_processes": None})[1]


def test_a_gpu_without_bf16_trains_in_fp32_with_a_warning(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Old GPU")
    with pytest.warns(UserWarning, match="Old GPU has no bf16: training runs in fp32"):
        assert isinstance(training_device.autocast(torch.device("cuda")), contextlib.nullcontext)
    assert isinstance(training_device.autocast(torch.device("cpu")), contextlib.nullcontext)


def test_tiny_preset_keeps_the_paper_names_and_is_valid():
    paper = config.load(REPO / "config/paper.yaml")
    tiny = config.resolve(gpu_check.tiny_preset(yaml.safe_load((REPO / "config/paper.yaml").read_text())))
    assert set(tiny["runs"]) == set(paper["runs"]) and set(tiny["datasets"]) == set(paper["datasets"])
    assert tiny["device"] == "cpu" and all(run["steps"] == 2 for run in tiny["runs"].values())


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True)


def test_probe_batches_leave_every_query_as_it_was(composition_dir):
    tokenizer = store.load_tokenizer(composition_dir)
    model = build_model(TINY_MODEL, tokenizer, seed=3).eval()
    frames = store.read_eval(composition_dir)
    entities = candidate_tokens(list(tokenizer.get_vocab()), "composition")
    site = SITES["composition"][1]
    queries = {"train_inferred": site_queries(frames["train_inferred"], site, 40, seed=0)}
    whole = probe_model(model, tokenizer, queries, site, entities)["train_inferred"]
    batched = probe_model(model, tokenizer, queries, site, entities, batch_size=7)["train_inferred"]
    np.testing.assert_allclose(batched, whole, rtol=0, atol=1e-7)
    variants = causal_tracing.variant_queries(
        store.read_train(composition_dir), frames, list(tokenizer.get_vocab()), 40
    )
    traced = {variant: {"train_inferred": by_split["train_inferred"]} for variant, by_split in variants.items()}
    rows_whole, queries_whole = causal_tracing.trace_model(model, tokenizer, traced, PROBES)
    rows_batched, queries_batched = causal_tracing.trace_model(model, tokenizer, traced, PROBES, batch_size=7)
    np.testing.assert_allclose(
        [r["effect"] for r in rows_batched], [r["effect"] for r in rows_whole], rtol=0, atol=1e-6
    )
    changed = [c for c in queries_whole if c.startswith("changed_")]
    pd.testing.assert_frame_equal(queries_batched[changed], queries_whole[changed])
    drops = [c for c in queries_whole if c.startswith("drop_")]
    np.testing.assert_allclose(queries_batched[drops].to_numpy(), queries_whole[drops].to_numpy(), rtol=0, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_probes_on_the_gpu_match_the_cpu(composition_dir):
    parity = probe_parity(composition_dir, TINY_MODEL, "cuda", max_queries=50)
    assert parity["reciprocal_rank_mean_abs_diff"] < 1e-3
    assert parity["causal_effect_max_abs_diff"] < 1e-4


def test_glimpse_readings_name_the_first_fitted_step_and_id_there():
    from grokstudy.benchmark.glimpse import reading_lines, wide_table

    rows = pd.DataFrame(
        [
            {
                "run": "comp_phi7.2_wd0.1",
                "phi": 7.2,
                "step": step,
                "seconds": step / 100,
                "split": split,
                "accuracy": acc,
            }
            for step, accs in ((0, (0.0, 0.0, 0.0)), (1000, (0.995, 0.08, 0.0)), (2000, (1.0, 0.2, 0.01)))
            for split, acc in zip(("train_inferred", "test_inferred_id", "test_inferred_ood"), accs, strict=True)
        ]
    )
    assert list(wide_table(rows).columns) == ["phi=7.2 train", "phi=7.2 ID", "phi=7.2 OOD"]
    (line,) = reading_lines(rows, {"comp_phi7.2_wd0.1": "paper: x"})
    assert "train >= 0.99 first at step 1000 (ID there 0.080)" in line
    assert "at step 2000: train 1.000, ID 0.200, OOD 0.010 [paper: x]" in line
