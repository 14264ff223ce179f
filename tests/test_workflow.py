"""The smoke preset end to end through Snakemake, in a fresh copy of the repository."""

from pathlib import Path

import pandas as pd
import pytest

from study_repo import REPO, copy_tree, snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def smoke_repo(smoke_author) -> Path:
    return smoke_author["repo"]


def test_smoke_preset_produces_every_figure_and_the_report(smoke_repo):
    results = smoke_repo / "results" / "smoke"
    stems = ["accuracy_curves", "phi_sweep", "weight_decay", "logit_lens_comp_phi7.2_wd0.5", "logit_lens_cmp_phi7.2_wd0.1",
             "causal_tracing_comp_phi7.2_wd0.5"]
    for stem in stems:
        for ext in ("png", "pdf", "csv"):
            path = results / "figures" / f"{stem}.{ext}"
            assert path.stat().st_size > 500, path
        assert (results / "figures" / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (results / "report" / "index.html").read_text()
    assert all(f"{stem}.png" in report for stem in stems)
    claims = pd.read_csv(results / "report" / "claims.csv")
    assert list(claims["claim"]) == ["C1", "C2", "C3", "C4", "C5", "C6", "C7a", "C7b"]
    assert set(claims["status"]) <= {"pass", "fail", "not tested"}
    assert claims["measured"].notna().all()
    metrics = pd.read_parquet(results / "runs" / "comp_phi7.2_wd0.1" / "metrics.parquet")
    assert {"step", "split", "accuracy", "loss"} <= set(metrics.columns)


def test_finished_workflow_plans_nothing(smoke_repo):
    result = snakemake(smoke_repo, "--configfile", "config/smoke.yaml", "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_figures_are_byte_identical_when_regenerated(smoke_repo):
    figure = smoke_repo / "results" / "smoke" / "figures" / "phi_sweep"
    before = {ext: Path(f"{figure}.{ext}").read_bytes() for ext in ("png", "pdf", "csv")}
    snakemake(smoke_repo, "--configfile", "config/smoke.yaml", "--cores", "1", "--forcerun", "figure_phi_sweep")
    assert {ext: Path(f"{figure}.{ext}").read_bytes() for ext in ("png", "pdf", "csv")} == before


def test_lint_passes():
    result = snakemake(REPO, "--lint", "--cores", "1", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_offline_clone_computes_everything_from_scratch(smoke_author):
    """Story 5: no remote reachable; restore says so, and Snakemake alone produced every figure."""
    failed = smoke_author["failed_restore"]
    assert failed.returncode == 2
    assert "no sealed artifacts at this commit" in failed.stderr
    assert (smoke_author["repo"] / "results" / "smoke" / "report" / "index.html").exists()


def test_bad_config_is_rejected_before_any_job_runs(tmp_path):
    repo = copy_tree(tmp_path / "repo")
    bad = (repo / "config" / "smoke.yaml").read_text().replace("phi: 3.6", "phi: 40.0")
    (repo / "config" / "bad.yaml").write_text(bad)
    result = snakemake(repo, "--configfile", "config/bad.yaml", "--cores", "1", check=False)
    assert result.returncode != 0
    assert "datasets.composition_phi3.6.phi" in result.stdout + result.stderr
    assert not (repo / "results").exists()
