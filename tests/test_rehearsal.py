"""The rehearsal preset end to end: the paper's worlds and model through every rule, on the CPU.

One training run is interrupted after its first step at paper shapes and the workflow resumes it.
Every `grokstudy` call goes through benchmarks/job_costs.py's shim, so the run also records each
job's wall time and peak memory (printed; docs/paper-scale.md holds a measured copy).
"""

import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from safetensors.torch import load_file
from study_repo import REPO, copy_tree, env, run

from grokstudy import config
from grokstudy.config import job_settings

pytestmark = pytest.mark.workflow

REHEARSAL = "config/rehearsal.yaml"
RESULTS = Path("results/rehearsal")
RESUMED_RUN = "comp_phi18_wd0.1"
STEMS = (
    "accuracy_curves",
    "logit_lens_comp_phi18_wd0.1",
    "logit_lens_cmp_phi7.2_wd0.1",
    "causal_tracing_comp_phi18_wd0.1",
)


def _job_costs_module():
    spec = importlib.util.spec_from_file_location("job_costs", REPO / "benchmarks" / "job_costs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _train_command(preset: dict, run_name: str, stop_after_step: int) -> list[str]:
    """The `grokstudy train` call of the workflow's train rule for this run, with an early stop."""
    return [
        "grokstudy",
        "train",
        "--run-params",
        json.dumps(job_settings.training(preset, run_name), sort_keys=True),
        "--model-params",
        json.dumps(job_settings.model(preset, run_name), sort_keys=True),
        "--data",
        str(RESULTS / "data" / preset["runs"][run_name]["dataset"]),
        "--out",
        str(RESULTS / "runs" / run_name),
        "--checkpoints",
        str(RESULTS / "checkpoints" / run_name),
        "--device",
        "cpu",
        "--threads",
        "1",
        "--stop-after-step",
        str(stop_after_step),
    ]


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    """Dataset, an interrupted training job, then the whole DAG, every job measured by the shim."""
    base = tmp_path_factory.mktemp("rehearsal")
    repo = copy_tree(base / "study")
    costs = base / "job_costs.jsonl"
    job_costs = _job_costs_module()
    shim = job_costs.write_shim(base / "shim", costs, real=str(Path(sys.executable).parent / "grokstudy"))
    path = {"PATH": f"{shim.parent}:{env()['PATH']}"}
    preset = config.load(REPO / REHEARSAL)
    started = time.perf_counter()
    dataset = preset["runs"][RESUMED_RUN]["dataset"]
    run(
        repo,
        sys.executable,
        "-m",
        "snakemake",
        "--configfile",
        REHEARSAL,
        "--cores",
        "2",
        str(RESULTS / "data" / dataset / "manifest.json"),
        extra_env=path,
    )
    interrupted = run(repo, *_train_command(preset, RESUMED_RUN, stop_after_step=1), extra_env=path)
    checkpoints_after_stop = sorted(p.name for p in (repo / RESULTS / "checkpoints" / RESUMED_RUN).glob("step_*"))
    run(repo, sys.executable, "-m", "snakemake", "--configfile", REHEARSAL, "--cores", "2", extra_env=path)
    seconds = time.perf_counter() - started
    table = job_costs.markdown_table(job_costs.read_costs(costs))
    print(f"\nrehearsal: {seconds:.0f} s wall in all\n{table}")
    yield {
        "repo": repo,
        "interrupted": interrupted,
        "checkpoints_after_stop": checkpoints_after_stop,
        "costs": job_costs.read_costs(costs),
        "preset": preset,
    }
    shutil.rmtree(repo / RESULTS / "checkpoints")  # 2.2 GB that pytest would keep for three sessions


def test_rehearsal_keeps_the_paper_shapes():
    rehearsal, paper = config.load(REPO / REHEARSAL), config.load(REPO / "config/paper.yaml")
    assert rehearsal["models"] == paper["models"]
    for name, dataset in paper["datasets"].items():
        assert {k: v for k, v in rehearsal["datasets"][name].items() if k != "max_eval_items"} == {
            k: v for k, v in dataset.items() if k != "max_eval_items"
        }
    for name, run_settings in rehearsal["runs"].items():
        kept = ("dataset", "model", "seed", "batch_size", "lr", "betas", "weight_decay", "grad_clip")
        assert {k: run_settings[k] for k in kept} == {k: paper["runs"][name][k] for k in kept}
        assert run_settings["steps"] <= 3 and not run_settings["compile"]
    assert rehearsal["device"] == "cpu"


def test_rehearsal_produces_every_figure_and_the_report(rehearsal):
    results = rehearsal["repo"] / RESULTS
    for stem in STEMS:
        for ext in ("png", "pdf", "csv"):
            assert (results / "figures" / f"{stem}.{ext}").stat().st_size > 500, stem
        assert (results / "figures" / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (results / "report" / "index.html").read_text()
    assert all(f"{stem}.png" in report for stem in STEMS)
    claims = pd.read_csv(results / "report" / "claims.csv")
    assert list(claims["claim"]) == ["C1", "C2", "C3", "C4", "C5", "C6", "C7-bridge", "C7-r2", "C7-causal"]
    assert (results / "probes" / RESUMED_RUN / "causal_tracing.parquet").exists()


def test_rehearsal_trains_on_the_largest_paper_world(rehearsal):
    results = rehearsal["repo"] / RESULTS
    manifest = json.loads((results / "data" / "comp_phi18" / "manifest.json").read_text())
    assert manifest["counts"]["train_inferred"] == 684_000
    model = json.loads((results / "checkpoints" / RESUMED_RUN / "step_00000002" / "config.json").read_text())
    assert (model["n_layer"], model["n_embd"], model["n_head"]) == (8, 768, 12)


def test_interrupted_paper_shape_run_resumes(rehearsal):
    results = rehearsal["repo"] / RESULTS
    assert '"interrupted_at": 1' in rehearsal["interrupted"].stdout
    assert rehearsal["checkpoints_after_stop"] == ["step_00000000", "step_00000001"]
    summary = json.loads((results / "runs" / RESUMED_RUN / "run.json").read_text())
    assert (summary["resumed_from_step"], summary["steps_this_invocation"]) == (1, 1)
    metrics = pd.read_parquet(results / "runs" / RESUMED_RUN / "metrics.parquet")
    assert sorted(metrics["step"].unique()) == [0, 1, 2]
    checkpoints = results / "checkpoints" / RESUMED_RUN
    with_optimizer = sorted(p.parent.name for p in checkpoints.glob("step_*/optimizer.safetensors"))
    assert with_optimizer == ["step_00000002"]
    # AdamW's step counter went on from the saved state: a fresh optimizer at resume would say 1.
    state = load_file(checkpoints / "step_00000002" / "optimizer.safetensors")
    assert {float(v) for k, v in state.items() if k.endswith("::step")} == {2.0}


def test_every_job_was_measured(rehearsal):
    commands = {row["command"] for row in rehearsal["costs"]}
    assert {"prepare", "train", "analyze", "analyze-nulls", "analysis-figure", "figure", "claims", "report"} <= commands
    assert all(row["status"] == 0 and row["wall_s"] > 0 and row["peak_rss_gb"] > 0 for row in rehearsal["costs"])


def test_finished_rehearsal_plans_nothing(rehearsal):
    result = run(rehearsal["repo"], sys.executable, "-m", "snakemake", "--configfile", REHEARSAL, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr
