"""The training benchmark: what it measures against, and the rows it appends."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from grokstudy.benchmark import measure

ROOT = Path(__file__).resolve().parents[1]


def test_cpu_peak_is_measured_with_one_thread_and_the_thread_count_is_restored(monkeypatch):
    seen = []
    real_randn = torch.randn
    monkeypatch.setattr(
        measure.torch, "randn", lambda *a, **k: seen.append(torch.get_num_threads()) or real_randn(*a, **k)
    )
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        flops, source = measure.peak_flops(torch.device("cpu"))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen and set(seen) == {1}
    assert flops > 0 and "one thread" in source


def test_model_flops_count_six_per_parameter_per_token():
    params = {"d_model": 8, "layers": 2}
    trunk = 2 * 12 * 8 * 8
    assert (
        measure.model_flops_per_step(params, vocab_rows=10, batch=4, prompt_tokens=3)
        == 6 * trunk * 4 * 3 + 6 * 8 * 10 * 4
    )


@pytest.mark.slow  # ~30 s: builds the smoke world and compiles the fast loop in a subprocess
def test_bench_appends_one_row_per_loop(tmp_path):
    out = tmp_path / "results.csv"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grokstudy",
            "bench",
            "--configfile",
            "config/smoke.yaml",
            "--run",
            "comp_phi7.2_wd0.1",
            "--loops",
            "reference",
            "fast",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--device",
            "cpu",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    rows = list(csv.DictReader(out.open()))
    assert [r["loop"] for r in rows] == ["reference", "fast"]
    assert list(rows[0]) == measure.COLUMNS
    for row in rows:
        assert float(row["steps_per_s"]) > 0 and float(row["mfu"]) > 0 and float(row["peak_mem_gb"]) > 0
        assert row["preset"] == "smoke" and "torch" in row["versions"]
