"""The smoke preset end to end through Snakemake, in a fresh copy of the repository."""

import json
from pathlib import Path

import pandas as pd
import pytest

from grokstudy import cluster
from study_repo import REPO, copy_tree, snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def smoke_repo(smoke_author) -> Path:
    return smoke_author["repo"]


def test_smoke_preset_produces_every_figure_and_the_report(smoke_repo):
    results = smoke_repo / "results" / "smoke"
    stems = [
        "accuracy_curves",
        "phi_sweep",
        "weight_decay",
        "logit_lens_comp_phi7.2_wd0.5",
        "logit_lens_cmp_phi7.2_wd0.1",
        "causal_tracing_comp_phi7.2_wd0.5",
        "weight_norms_comp_phi7.2_wd0.5",
        "weight_norms_cmp_phi7.2_wd0.1",
    ]
    for stem in stems:
        for ext in ("png", "pdf", "csv"):
            path = results / "figures" / f"{stem}.{ext}"
            assert path.stat().st_size > 500, path
        assert (results / "figures" / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (results / "report" / "index.html").read_text()
    assert all(f"{stem}.png" in report for stem in stems)
    claims = pd.read_csv(results / "report" / "claims.csv")
    assert list(claims["claim"]) == ["C1", "C2", "C3", "C4", "C5", "C6", "C7-bridge", "C7-r2", "C7-causal"]
    # 200 steps of a tiny model learn next to nothing: no claim may pass on them, in any seed.
    allowed = {"not reproduced", "not tested as stated", "inconclusive", "not tested"}
    assert set(claims["status"]) <= allowed, claims[["claim", "status", "measured"]]
    assert claims["criteria_version"].nunique() == 1
    assert claims["measured"].notna().all() and claims["rationale"].notna().all()
    assert (claims.loc[claims["status"] != "not tested", "seeds_passing"] == "0 of 1").all()
    assert "bridge at resid." in claims.set_index("claim").loc["C7-bridge", "measured"]
    metrics = pd.read_parquet(results / "runs" / "comp_phi7.2_wd0.1" / "metrics.parquet")
    assert {"step", "epoch", "split", "accuracy", "loss"} <= set(metrics.columns)
    baselines = json.loads((results / "data" / "composition" / "baselines.json").read_text())
    assert baselines["splits"]["test_inferred_ood"]["name"] == "relation_frequency"


def test_finished_workflow_plans_nothing(smoke_repo):
    result = snakemake(smoke_repo, "--configfile", "config/smoke.yaml", "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_snakemake_report_holds_every_figure_with_its_caption(smoke_repo, tmp_path):
    page = tmp_path / "report.html"
    snakemake(smoke_repo, "--report", str(page), "--configfile", "config/smoke.yaml")
    text = page.read_text()
    for stem in (
        "accuracy_curves",
        "phi_sweep",
        "weight_decay",
        "logit_lens_comp_phi7.2_wd0.5",
        "causal_tracing_comp_phi7.2_wd0.5",
    ):
        assert f"{stem}.png" in text, stem
    assert "inferred/atomic ratio phi" in text  # the caption of workflow/report/phi_sweep.rst


def test_lint_passes():
    result = snakemake(REPO, "--lint", "--cores", "1", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_offline_clone_computes_everything_from_scratch(smoke_author):
    """Story 5: no remote reachable; restore says so, and Snakemake alone produced every figure."""
    failed = smoke_author["failed_restore"]
    assert failed.returncode == 2
    assert "no sealed artifacts at this commit" in failed.stderr
    assert (smoke_author["repo"] / "results" / "smoke" / "report" / "index.html").exists()


BAD_PRESETS = {
    "phi out of range": (lambda text: text.replace("phi: 3.6", "phi: 40.0"), "datasets.composition_phi3.6.phi"),
    "empty file": (lambda text: "{}\n", "is empty"),
    "run named ..": (lambda text: text.replace("  comp_phi3.6_wd0.1:", "  ..:"), "the name '..'"),
    "run given twice": (
        lambda text: text.replace(
            "  comp_phi3.6_wd0.1: {dataset: composition_phi3.6}",
            "  comp_phi3.6_wd0.1: {dataset: composition_phi3.6}\n  comp_phi3.6_wd0.1: {dataset: composition}",
        ),
        "given twice",
    ),
    "comparison claim on a composition run": (
        lambda text: text.replace("comparison_run: cmp_phi7.2_wd0.1", "comparison_run: comp_phi7.2_wd0.1"),
        "claims.comparison_run",
    ),
    "phi sweep with one phi": (
        lambda text: text.replace(
            "phi_sweep: {runs: [comp_phi7.2_wd0.1, comp_phi3.6_wd0.1]}", "phi_sweep: {runs: [comp_phi7.2_wd0.1]}"
        ),
        "figures.phi_sweep.runs",
    ),
    "alias bomb": (
        lambda text: (
            "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
            + "name: *a8\n"
        ),
        "YAML aliases",
    ),
}


def test_a_gpu_preset_plans_anywhere_and_refuses_only_to_execute_without_a_gpu(scratch_repo):
    if cluster.local_gpu_visible():
        pytest.skip("this machine has a GPU")
    for planning in (["-n"], ["--summary"], ["--dag"]):
        result = snakemake(scratch_repo, *planning, "--configfile", "config/paper.yaml", check=False)
        assert result.returncode == 0, (planning, result.stderr[-2000:])
    assert "rule train" in snakemake(scratch_repo, "-n", "--configfile", "config/paper.yaml").stdout
    result = snakemake(scratch_repo, "--cores", "1", "--configfile", "config/paper.yaml", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "has no NVIDIA GPU" in output and "config/rehearsal.yaml" in output
    assert "Traceback" not in output and "nothing was run" in output
    assert not (scratch_repo / "results" / "paper").exists()


BAD_FILES = {
    "a directory": (None, "is not a regular file"),
    "a missing file": ("", "does not exist"),
    "a YAML syntax error": ("name: [smoke\n", "not valid YAML at line 2"),
    "a NUL byte": ("name: sm\x00oke\n", "NUL byte"),
    "a list": ("- name: smoke\n", "not a mapping"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_a_bad_preset_file_gets_one_line_before_snakemake_reads_it(scratch_repo, case):
    """Snakemake parses --configfile itself; the workflow profile reads it strictly first."""
    text, words = BAD_FILES[case]
    path = scratch_repo / "config" / f"bad_file_{list(BAD_FILES).index(case)}.yaml"
    if text is None:
        path.mkdir(exist_ok=True)
    elif text:
        path.write_text(text)
    result = snakemake(scratch_repo, "--configfile", str(path.relative_to(scratch_repo)), "--cores", "1", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "invalid preset, nothing was run: config key '--configfile'" in output and words in output, output[-2000:]
    assert "Traceback" not in output and not (scratch_repo / "results").exists()


@pytest.fixture(scope="module")
def scratch_repo(tmp_path_factory) -> Path:
    return copy_tree(tmp_path_factory.mktemp("bad") / "repo")


@pytest.mark.parametrize("case", BAD_PRESETS, ids=list(BAD_PRESETS))
def test_bad_preset_is_rejected_before_any_job_runs(scratch_repo, case):
    """One line naming the key, nothing written, and never the default preset in its place."""
    edit, words = BAD_PRESETS[case]
    (scratch_repo / "config" / "bad.yaml").write_text(edit((scratch_repo / "config" / "smoke.yaml").read_text()))
    result = snakemake(scratch_repo, "--configfile", "config/bad.yaml", "--cores", "1", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "invalid preset, nothing was run" in output and words in output, output[-2000:]
    assert "Traceback" not in output
    assert not (scratch_repo / "results").exists()
