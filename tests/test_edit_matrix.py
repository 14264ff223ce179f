"""Real edits to the code, each with the exact set of jobs it must rerun on the smoke preset.

Each edit is made in a copy of the computed smoke workspace (its files and Snakemake's records).
Two things are compared with what the edit must touch, written down below from the study's design:
the jobs whose own code digest or settings changed (the checkout's job record before and after),
and Snakemake's plan (a dry run), which adds everything downstream of them.
"""

import ast
import shutil
from pathlib import Path

import pytest

from grokstudy.artifacts import workflow_state
from study_repo import SMOKE
from test_partial_reruns import CURVES, PRESET, PROBED, RUNS, analysis_jobs, closure, direct_jobs, every_job

pytestmark = pytest.mark.workflow

MONITORS = "config/monitors.yaml"
SRC = Path("src/grokstudy")


def add_statement(repo: Path, module: str, function: str) -> None:
    """A new last statement in `function` of `module`: a real change to what that function runs."""
    path = repo / SRC / module
    text = path.read_text()
    node = next(n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef) and n.name == function)
    last = node.body[-1]
    lines = text.splitlines(keepends=True)
    lines.insert(last.lineno - 1, " " * last.col_offset + "_edited = 1  # noqa: F841\n")
    path.write_text("".join(lines))


def replace(repo: Path, module: str, old: str, new: str) -> None:
    path = repo / SRC / module
    text = path.read_text()
    assert text.count(old) == 1, (module, old)
    path.write_text(text.replace(old, new))


def new_architecture(repo: Path) -> None:
    (repo / SRC / "models" / "toy_arch.py").write_text(
        '"""A toy architecture, added as the README says."""\n\n'
        "from grokstudy.models.gpt2 import ARCHITECTURE as GPT2\n\nARCHITECTURE = GPT2\n"
    )


def comment_and_docstring(repo: Path) -> None:
    replace(repo, "training/step.py", '"""One optimizer step,', '"""A single optimizer step,')
    path = repo / SRC / "training" / "step.py"
    path.write_text(path.read_text() + "\n# a comment\n")


def job_name(job: workflow_state.PlannedJob) -> str:
    """A planned job as test_partial_reruns names jobs: rule[wildcard value], or the rule alone."""
    return f"{job.rule}[{next(iter(job.wildcards.values()))}]" if job.wildcards else job.rule


COMPOSITION_DATASETS = {d for d, spec in PRESET["datasets"].items() if spec["task"] == "composition"}
LENS_JOBS = {j for run in PROBED for j in analysis_jobs(run) if j.startswith(("logit_lens[", "logit_lens_nulls["))}

# edit -> (the jobs whose own digest or settings change, the jobs Snakemake must plan)
EDITS = {
    "a new architecture module": (new_architecture, set(), set()),
    "inside the looped architecture": (lambda r: add_statement(r, "models/looped_gpt2.py", "build"), set(), set()),
    "a CLI help string": (
        lambda r: replace(r, "cli.py", "module:function drawing the figure", "module:function that draws"),
        set(),
        set(),
    ),
    "a recovery message": (
        lambda r: replace(r, "recovery.py", "regenerate it with", "recompute it with"),
        set(),
        set(),
    ),
    "an error message in a stage": (
        lambda r: replace(r, "data/store.py", "records no file hashes", "holds no file hashes"),
        set(),
        set(),
    ),
    "a comment and a docstring": (comment_and_docstring, set(), set()),
    "a figure function": (
        lambda r: replace(r, "figures/curves.py", "figsize=(6.8, 4.4)", "figsize=(7.0, 4.4)"),
        {f"figure_{c}" for c in CURVES},
        {*(f"figure_{c}" for c in CURVES), "report"},
    ),
    "one analysis's per-checkpoint function": (
        lambda r: add_statement(r, "analyses/logit_lens.py", "layer_logits"),
        LENS_JOBS,
        closure(LENS_JOBS),
    ),
    "a claim criterion": (
        lambda r: add_statement(r, "claims/criteria.py", "no_ood_generalization"),
        {"claims"},
        {"claims", "report"},
    ),
    "the composition generator": (
        lambda r: add_statement(r, "data/composition.py", "enumerate_two_hop"),
        {f"prepare_dataset[{d}]" for d in COMPOSITION_DATASETS},
        closure({f"prepare_dataset[{d}]" for d in COMPOSITION_DATASETS}),
    ),
    "the training step": (
        lambda r: add_statement(r, "training/step.py", "__call__"),
        {f"train[{run}]" for run in RUNS},
        closure({f"train[{run}]" for run in RUNS}),
    ),
    "a monitor signal (the smoke preset has no monitors)": (
        lambda r: add_statement(r, "monitors/weights.py", "stable_rank"),
        set(),
        set(),
    ),
    "one setting in the preset": (
        lambda r: (r / SMOKE).write_text((r / SMOKE).read_text().replace("dpi: 80", "dpi: 90")),
        direct_jobs(("figures", "dpi")),
        closure(direct_jobs(("figures", "dpi"))),
    ),
}


def changed_jobs(before, after) -> set[str]:
    names = set()
    for key, job in after.jobs.items():
        old = before.jobs.get(key)
        if old is None or old["params"] != job["params"]:
            wildcards = job["wildcards"]
            names.add(f"{job['rule']}[{next(iter(wildcards.values()))}]" if wildcards else job["rule"])
    return names


@pytest.fixture(scope="module")
def workspace(smoke_author, tmp_path_factory) -> dict:
    repo = smoke_author["repo"]
    return {
        "repo": repo,
        "smoke": workflow_state.evaluate_jobs(repo, SMOKE),
        "monitors": workflow_state.evaluate_jobs(repo, MONITORS),
    }


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edit_reruns_exactly_what_its_code_computes(workspace, tmp_path, edit):
    apply, direct, planned = EDITS[edit]
    repo = Path(shutil.copytree(workspace["repo"], tmp_path / "repo", symlinks=True))
    apply(repo)
    # One dry run gives both: Snakemake evaluates every job's params while it plans.
    planned_jobs, evaluated = workflow_state.planned_with_params(repo, SMOKE)
    assert evaluated.jobs.keys() == workspace["smoke"].jobs.keys()
    assert changed_jobs(workspace["smoke"], evaluated) == direct
    assert {job_name(j) for j in planned_jobs} == planned, edit


def test_a_monitor_signal_reruns_its_own_groups_monitor_jobs_and_no_other(workspace, tmp_path):
    """On the monitors preset (no outputs needed: the digests alone): the weights group's jobs of
    every monitored run and its band, and no other group's."""
    repo = Path(
        shutil.copytree(workspace["repo"], tmp_path / "repo", symlinks=True, ignore=shutil.ignore_patterns("results"))
    )
    add_statement(repo, "monitors/weights.py", "stable_rank")
    before, after = workspace["monitors"], workflow_state.evaluate_jobs(repo, MONITORS)
    changed = {key for key, job in after.jobs.items() if before.jobs[key]["params"] != job["params"]}
    weights = {key for key, job in before.jobs.items() if job["wildcards"].get("group") == "weights"}
    assert len(weights) > 1 and changed == weights


def test_every_job_of_the_smoke_preset_is_covered(workspace):
    assert {
        f"{j['rule']}[{next(iter(j['wildcards'].values()))}]" if j["wildcards"] else j["rule"]
        for j in workspace["smoke"].jobs.values()
    } == every_job()
