"""Shared fixtures, built once per session: the tiny composition world and model of docs/study.md §5.2
(trained for fewer steps here), a tiny comparison world, and clones of the repository."""

from pathlib import Path

import pytest

from grokstudy.data import store
from study_repo import SMOKE, clone, dvc, grokstudy, make_origin, run, snakemake

REPO = Path(__file__).resolve().parents[1]

# Session fixtures that take minutes (Snakemake end to end, a SLURM cluster): a test using any of
# them, directly or through another fixture, is slow, as is every test marked `workflow`.
SLOW_FIXTURES = frozenset({"study_origin", "smoke_author", "sealed", "slurm_cluster"})
PLANNING_MODULES = frozenset({"test_edit_matrix", "test_extending", "test_workflow", "test_job_records"})


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    """Mark `slow` what `make check` (-m "not slow") leaves to `make test`, and give each slow test
    an xdist group: the tests sharing the smoke author's session fixtures run on one worker, and
    every other slow module keeps its module fixtures on one worker, so nothing is built twice."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("workflow") or SLOW_FIXTURES & fixtures:
            item.add_marker(pytest.mark.slow)
            group = item.module.__name__
            if "smoke_author" in fixtures:
                # Two groups, each on its own worker with its own smoke author: the tests that only
                # plan on the computed workspace, and those that seal, restore and publish it.
                group = "smoke_author_plans" if group in PLANNING_MODULES else "smoke_author"
            item.add_marker(pytest.mark.xdist_group(group))


TINY_COMPOSITION = {
    "task": "composition",
    "entities": 100,
    "relations": 20,
    "out_degree": 10,
    "ood_fraction": 0.1,
    "test_id_fraction": 0.01,
    "phi": 7.2,
    "max_eval_items": 300,
    "seed": 0,
}
TINY_COMPARISON = {
    "task": "comparison",
    "entities": 40,
    "attributes": 4,
    "values": 10,
    "ood_fraction": 0.1,
    "test_id_fraction": 0.1,
    "phi": 7.2,
    "max_eval_items": 300,
    "seed": 0,
}
TINY_MODEL = {"d_model": 32, "layers": 2, "heads": 2, "dropout": 0.1}
TINY_RUN = {
    "dataset": "tiny",
    "model": "tiny",
    "seed": 0,
    "steps": 60,
    "batch_size": 128,
    "lr": 1e-3,
    "betas": [0.9, 0.999],
    "weight_decay": 0.1,
    "warmup_steps": 10,
    "grad_clip": 1.0,
    "eval_every": 20,
    "checkpoints": {"count": 6, "dense_fraction": 0.1, "dense_count": 2},
}


@pytest.fixture(scope="session")
def composition_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("composition")
    store.write(store.generate(TINY_COMPOSITION), TINY_COMPOSITION, out)
    return out


@pytest.fixture(scope="session")
def comparison_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("comparison")
    store.write(store.generate(TINY_COMPARISON), TINY_COMPARISON, out)
    return out


@pytest.fixture(scope="session")
def trained_run(composition_dir, tmp_path_factory) -> Path:
    """A short uninterrupted run on the tiny composition world."""
    from grokstudy.training.loop import train_run

    out = tmp_path_factory.mktemp("run")
    train_run(TINY_RUN, TINY_MODEL, composition_dir, out, device="cpu", progress=False)
    return out


@pytest.fixture(scope="session")
def study_origin(tmp_path_factory) -> Path:
    """The working tree as a git repository that tests clone."""
    return make_origin(tmp_path_factory.mktemp("origin") / "study")


@pytest.fixture(scope="session")
def smoke_author(study_origin, tmp_path_factory) -> dict:
    """A fresh clone whose remote is unreachable: restore fails, then Snakemake computes the smoke
    preset from scratch, offline (user story 5). Later tests seal its results."""
    author = clone(study_origin, tmp_path_factory.mktemp("author") / "study", remote_url="/nonexistent/dvc-remote")
    failed_restore = grokstudy(author, "restore", "--configfile", SMOKE, check=False)
    snakemake(author, "--configfile", SMOKE, "--cores", "2")
    return {"repo": author, "failed_restore": failed_restore}


@pytest.fixture(scope="session")
def sealed(smoke_author, tmp_path_factory) -> dict:
    """The author seals the smoke results into a local remote and commits the pointers."""
    author = smoke_author["repo"]
    remote = tmp_path_factory.mktemp("remote") / "dvc-remote"
    dvc(author, "remote", "modify", "--local", "public", "url", str(remote))
    result = grokstudy(author, "seal", "--configfile", SMOKE)
    run(author, "git", "commit", "-q", "-m", "Seal the smoke preset's artifacts")
    return {"author": author, "remote": remote, "seal_output": result.stdout}
