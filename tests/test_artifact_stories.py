"""The artifact user stories (DVC + Snakemake), on the smoke preset, each in fresh git clones.

The author's clone computes the smoke preset (conftest `smoke_author`) and seals it into a local
remote; every story then starts from its own clone of that sealed commit.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from study_repo import REPO, SMOKE, SMOKE_RESULTS, clone, dvc, grokstudy, planned_jobs, run, snakemake

pytestmark = pytest.mark.workflow

FIGURE_RULES = [
    "figure_accuracy_curves",
    "figure_phi_sweep",
    "figure_weight_decay",
    "figure_logit_lens",
    "figure_causal_tracing",
]
MOTO_SERVER = REPO / ".venv-moto" / "bin" / "moto_server"


def fresh_clone(sealed, tmp_path: Path, name: str = "clone", remote=None) -> Path:
    return clone(sealed["author"], tmp_path / name, remote_url=remote or sealed["remote"])


def restored_clone(sealed, tmp_path: Path, *only: str) -> Path:
    repo = fresh_clone(sealed, tmp_path)
    grokstudy(repo, "restore", "--configfile", SMOKE, *(["--only", *only] if only else []))
    return repo


@pytest.fixture(scope="module")
def restored_once(sealed, tmp_path_factory) -> Path:
    """One full restore, copied by the tests that only need a restored clone to start from."""
    return restored_clone(sealed, tmp_path_factory.mktemp("restored"))


def copy_of(restored: Path, tmp_path: Path) -> Path:
    """A restored clone's copy: working tree, DVC cache and Snakemake's records, times kept."""
    return Path(shutil.copytree(restored, tmp_path / "clone", symlinks=True))


def files_of(repo: Path, directory: str) -> dict[str, bytes]:
    root = repo / SMOKE_RESULTS / directory
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def edit_config(repo: Path, old: str, new: str) -> None:
    path = repo / SMOKE
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_seal_pins_every_class_in_git(sealed):
    author = sealed["author"]
    tracked = run(author, "git", "ls-files", str(SMOKE_RESULTS)).stdout.split()
    classes = ("data", "checkpoints", "runs", "probes", "figures", "report", "logs")
    assert sorted(tracked) == sorted([*(f"{SMOKE_RESULTS}/{d}.dvc" for d in classes), f"{SMOKE_RESULTS}/jobs.json"])
    assert "checkpoints" in sealed["seal_output"] and "MB" in sealed["seal_output"]
    assert any(sealed["remote"].rglob("*")), "nothing was pushed to the remote"


def test_story1_clone_restore_plans_zero_jobs_every_time(sealed, tmp_path):
    for attempt in range(2):
        repo = fresh_clone(sealed, tmp_path, f"clone{attempt}")
        grokstudy(repo, "restore", "--configfile", SMOKE)
        assert planned_jobs(repo) == {}, f"attempt {attempt}"
        assert files_of(repo, "figures") == files_of(sealed["author"], "figures")


def test_story2_a_change_reruns_only_what_depends_on_it(restored_once, tmp_path):
    """Which jobs each edit plans is checked for every parameter in test_partial_reruns.py;
    here the plan is carried out, and what it does not plan is left untouched."""
    repo = copy_of(restored_once, tmp_path)

    # One run's training parameter: that run retrains; the others are not touched.
    runs = repo / SMOKE_RESULTS / "runs"
    others = {p: p.stat().st_mtime_ns for p in runs.glob("*/metrics.parquet") if p.parent.name != "comp_phi3.6_wd0.1"}
    edit_config(
        repo,
        "comp_phi3.6_wd0.1: {dataset: composition_phi3.6}",
        "comp_phi3.6_wd0.1: {dataset: composition_phi3.6, lr: 2.0e-3}",
    )
    assert planned_jobs(repo) == {"train": 1, "figure_phi_sweep": 1, "claims": 1, "report": 1}
    snakemake(repo, "--configfile", SMOKE, "--cores", "2")
    assert {p: p.stat().st_mtime_ns for p in others} == others
    assert planned_jobs(repo) == {}


def test_story3_figures_rerun_from_a_partial_restore_without_checkpoints(sealed, tmp_path):
    repo = restored_clone(sealed, tmp_path, "figures", "probes")
    results = repo / SMOKE_RESULTS
    assert not (results / "checkpoints").exists()
    assert (results / "runs").is_dir() and (results / "data").is_dir()  # pulled because figures need them
    # Marking the results up to date fabricates no (empty) job logs that a later seal would record.
    logs = results / "logs"
    assert not logs.exists() or not [p for p in logs.rglob("*") if p.is_file()]
    assert planned_jobs(repo) == {}
    before = (results / "figures" / "phi_sweep.png").read_bytes()

    edit_config(
        repo,
        "phi_sweep: {runs: [comp_phi7.2_wd0.1, comp_phi3.6_wd0.1]}",
        "phi_sweep: {runs: [comp_phi7.2_wd0.1, comp_phi3.6_wd0.1], step_axis: linear}",
    )
    assert planned_jobs(repo) == {"figure_phi_sweep": 1, "report": 1}
    snakemake(repo, "--configfile", SMOKE, "--cores", "2")
    assert (results / "figures" / "phi_sweep.png").read_bytes() != before
    assert not (results / "checkpoints").exists()
    assert planned_jobs(repo) == {}


def test_figures_regenerated_from_pulled_artifacts_are_byte_identical(sealed, tmp_path):
    repo = restored_clone(sealed, tmp_path, "figures")
    snakemake(repo, "--configfile", SMOKE, "--cores", "2", "--forcerun", *FIGURE_RULES)
    assert files_of(repo, "figures") == files_of(sealed["author"], "figures")


def test_story4_identical_checkout_does_not_retrain_a_real_edit_does(restored_once, tmp_path):
    repo = copy_of(restored_once, tmp_path)
    loop = repo / "src" / "grokstudy" / "training" / "loop.py"
    run(repo, "git", "checkout", "-q", "-b", "experiment")
    loop.write_text(loop.read_text() + "\n# an experiment\n")
    run(repo, "git", "commit", "-q", "-am", "experiment")
    run(repo, "git", "checkout", "-q", "main")  # rewrites loop.py: identical content, newer mtime
    assert planned_jobs(repo) == {}

    loop.write_text(
        loop.read_text().replace("    torch.set_num_threads(threads)\n", "    torch.set_num_threads(int(threads))\n", 1)
    )
    planned = planned_jobs(repo)
    every_run = len(yaml.safe_load((repo / SMOKE).read_text())["runs"])
    assert planned.get("train") == every_run and planned.get("prepare_dataset") is None


def test_story6_push_and_pull_through_an_s3_compatible_server(sealed, tmp_path):
    assert MOTO_SERVER.exists(), f"{MOTO_SERVER} missing: `make test` installs moto in its own environment"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        credentials = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        run(
            tmp_path,
            str(MOTO_SERVER.parent / "python"),
            "-c",
            f"import boto3; boto3.client('s3', endpoint_url='{endpoint}').create_bucket(Bucket='study')",
            extra_env=credentials,
        )

        def use_s3(repo: Path) -> None:
            dvc(repo, "remote", "add", "--local", "--default", "s3", "s3://study/artifacts")
            dvc(repo, "remote", "modify", "--local", "s3", "endpointurl", endpoint)

        uploader = restored_clone(sealed, tmp_path)
        use_s3(uploader)
        out = grokstudy(uploader, "seal", "--configfile", SMOKE, extra_env=credentials).stdout
        assert "remote 's3'" in out

        # A clone that can reach only the S3 server.
        reader = fresh_clone(sealed, tmp_path, "reader", remote="/nonexistent/dvc-remote")
        use_s3(reader)
        grokstudy(reader, "restore", "--configfile", SMOKE, extra_env=credentials)
        assert planned_jobs(reader) == {}
        assert files_of(reader, "figures") == files_of(sealed["author"], "figures")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


CURVE_FIGURE_RULES = ["figure_accuracy_curves", "figure_phi_sweep", "figure_weight_decay"]


def _edit_curve_figures(repo: Path) -> None:
    curves = repo / "src" / "grokstudy" / "figures" / "curves.py"
    text = curves.read_text()
    assert text.count("figsize=(6.8, 4.4)") == 1
    curves.write_text(text.replace("figsize=(6.8, 4.4)", "figsize=(7.0, 4.4)"))


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "uncommitted"])
def test_story8_a_restore_keeps_the_seals_code_record(sealed, tmp_path, committed):
    """A figure function edited before the restore: the restored figures were drawn by the sealed code,
    so Snakemake plans exactly those figures and the report, and `why` names the module."""
    repo = fresh_clone(sealed, tmp_path)
    _edit_curve_figures(repo)
    if committed:
        run(repo, "git", "commit", "-qam", "wider curve figures")
    restored = grokstudy(repo, "restore", "--configfile", SMOKE, "--only", "figures")
    assert "4 jobs would rerun (3 code, 1 upstream)" in restored.stdout
    assert planned_jobs(repo) == {**dict.fromkeys(CURVE_FIGURE_RULES, 1), "report": 1}
    why = grokstudy(repo, "why", "--configfile", SMOKE).stdout
    assert why.count("changed  grokstudy.figures.curves") == 3
    assert "figure_logit_lens" not in why and "train" not in why


def test_story7_seal_refuses_pending_jobs(restored_once, tmp_path):
    repo = copy_of(restored_once, tmp_path)
    edit_config(repo, "dpi: 80", "dpi: 90")
    result = grokstudy(repo, "seal", "--configfile", SMOKE, check=False)
    assert result.returncode == 2
    assert "not up to date" in result.stderr and "figure_phi_sweep" in result.stderr
    assert run(repo, "git", "status", "--porcelain", str(SMOKE_RESULTS)).stdout == ""


def test_story7_unreachable_remote_is_named(sealed, tmp_path):
    repo = fresh_clone(sealed, tmp_path, remote="/nonexistent/dvc-remote")
    result = grokstudy(repo, "restore", "--configfile", SMOKE, check=False)
    assert result.returncode == 2
    assert "could not pull from remote 'public' (/nonexistent/dvc-remote)" in result.stderr
    assert not (repo / ".snakemake" / "metadata").exists()


def test_story7_corrupt_cache_object_is_named_and_repaired_from_the_remote(sealed, restored_once, tmp_path):
    repo = copy_of(restored_once, tmp_path)
    figure = repo / SMOKE_RESULTS / "figures" / "phi_sweep.png"
    good = figure.read_bytes()
    cache = Path(dvc(repo, "cache", "dir").stdout.strip())
    objects = [p for p in (cache / "files" / "md5").rglob("*") if p.is_file() and p.read_bytes() == good]
    assert len(objects) == 1
    objects[0].chmod(0o644)
    objects[0].write_bytes(b"not a png")
    figure.unlink()

    dvc(repo, "remote", "modify", "--local", "public", "url", "/nonexistent/dvc-remote")
    result = grokstudy(repo, "restore", "--configfile", SMOKE, check=False)
    assert result.returncode == 2
    assert "corrupt files in the DVC cache" in result.stderr
    assert "results/smoke/figures/phi_sweep.png" in result.stderr
    assert (repo / SMOKE_RESULTS / "figures" / "accuracy_curves.png").exists()  # nothing else lost

    dvc(repo, "remote", "modify", "--local", "public", "url", str(sealed["remote"]))
    grokstudy(repo, "restore", "--configfile", SMOKE)
    assert figure.read_bytes() == good
    assert planned_jobs(repo) == {}
