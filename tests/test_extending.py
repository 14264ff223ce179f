"""The README's "Extending the study", followed to the letter in a copy of the computed smoke
workspace: a toy analysis, a toy architecture and a toy monitor group, each with exactly the files
the section names. Then Snakemake plans only the toy analysis's jobs and what reads them on the
smoke preset, the monitors preset gains the toy group's jobs and changes no other group's, and
the checks `make check` runs pass in the copy.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grokstudy.artifacts import workflow_state
from study_repo import REPO, SMOKE

pytestmark = pytest.mark.workflow

MONITORS = "config/monitors.yaml"


def _section() -> str:
    readme = (REPO / "README.md").read_text()
    return readme[readme.index("## Extending the study") :].split("\n## ", 1)[0]


def _write(repo: Path, path: str, text: str) -> None:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)


def _add_row(repo: Path, path: str, table: str, row: str) -> None:
    """`row` as the last entry of the tuple assigned to `table` in `path`."""
    source = (repo / path).read_text()
    start = source.index(f"\n{table} = (")
    end = source.index("\n)\n", start)
    _write(repo, path, source[:end] + "\n" + row + source[end:])


TOY_ANALYSIS = {
    "src/grokstudy/analyses/toy_norm.py": '''"""A toy analysis: the parameter norm at each checkpoint."""

import torch


@torch.no_grad()
def per_checkpoint(model, step, job, prepared):
    norm = float(sum(p.double().pow(2).sum() for p in model.parameters()) ** 0.5)
    return {"toy_norm": [{"run": job.run, "step": step, "norm": norm}]}
''',
    "src/grokstudy/figures/toy_norm.py": '''"""The toy analysis's figure."""

import matplotlib.pyplot as plt


def toy_norm_figure(tables):
    frame = tables["toy_norm"].sort_values("step")
    fig, ax = plt.subplots()
    ax.plot(frame["step"], frame["norm"])
    return fig, frame
''',
    "workflow/report/toy_norm.rst": "The toy analysis: the parameter norm at each checkpoint.\n",
    "tests/test_toy_norm.py": """from types import SimpleNamespace

from conftest import TINY_MODEL
from grokstudy import models
from grokstudy.analyses import toy_norm
from grokstudy.data import store


def test_the_toy_norm_is_positive(composition_dir):
    model = models.build_model(TINY_MODEL, store.load_tokenizer(composition_dir), seed=0)
    (row,) = toy_norm.per_checkpoint(model, 5, SimpleNamespace(run="r"), None)["toy_norm"]
    assert row["step"] == 5 and row["norm"] > 0
""",
}
TOY_ANALYSIS_ROW = """    Analysis(
        "toy_norm",
        "grokstudy.analyses.toy_norm",
        tables=("toy_norm",),
        trained_on=("all",),
        figure="grokstudy.figures.toy_norm:toy_norm_figure",
        figure_tables=("toy_norm",),
        caption="toy_norm",
    ),"""
TOY_ARCHITECTURE = {
    "src/grokstudy/models/toy_gpt2.py": '''"""A toy architecture: GPT-2's blocks under another name."""

from grokstudy.models.gpt2 import GPT2

ARCHITECTURE = GPT2()
''',
    "tests/test_toy_gpt2.py": """from conftest import TINY_MODEL
from grokstudy import models
from grokstudy.data import store


def test_the_toy_architecture_builds_and_probes(composition_dir):
    spec = {**TINY_MODEL, "arch": "toy_gpt2"}
    assert "toy_gpt2" in models.ARCHITECTURES and models.depth(spec) == TINY_MODEL["layers"]
    model = models.build_model(spec, store.load_tokenizer(composition_dir), seed=0)
    states, _ = models.residual_states(model, model.dummy_inputs["input_ids"][:, :3])
    assert len(states) == TINY_MODEL["layers"] + 1
""",
}
TOY_MONITOR = {
    "src/grokstudy/monitors/toy_scale.py": '''"""A toy monitor group: the mean absolute weight, scaled."""

import torch


def prepare(inferred, tokenizer, settings, device):
    return None


@torch.no_grad()
def read(model, prepared, settings):
    values = [float(p.abs().mean()) for p in model.parameters()]
    return [("mean_abs_weight", "total", settings["toy_factor"] * sum(values) / len(values))]
''',
    "tests/test_toy_scale.py": """from conftest import TINY_MODEL
from grokstudy import models
from grokstudy.data import store
from grokstudy.monitors import toy_scale


def test_the_toy_monitor_reads_one_positive_value(composition_dir):
    model = models.build_model(TINY_MODEL, store.load_tokenizer(composition_dir), seed=0)
    ((monitor, site, value),) = toy_scale.read(model, None, {"toy_factor": 2.0})
    assert (monitor, site) == ("mean_abs_weight", "total") and value > 0
""",
}
TOY_MONITOR_ROW = """    MonitorGroup(
        "toy_scale",
        "grokstudy.monitors.toy_scale",
        settings=(Setting("toy_factor", 1.0, "a toy factor", above=0, high=10),),
        candidates=(("mean_abs_weight", "total"),),
    ),"""


def _named_in_the_section(path: str, name: str) -> bool:
    section = _section()
    return path in section or path.replace(name, "<name>") in section or path.replace(name, "<arch>") in section


def test_the_section_names_every_file_the_toys_add():
    for files, name in ((TOY_ANALYSIS, "toy_norm"), (TOY_ARCHITECTURE, "toy_gpt2"), (TOY_MONITOR, "toy_scale")):
        for path in files:
            caption = path.replace("toy_norm.rst", "<caption>.rst")
            assert _named_in_the_section(path, name) or caption in _section(), path
    for path in ("src/grokstudy/analyses/registry.py", "src/grokstudy/monitors/registry.py", "docs/outputs.md"):
        assert path in _section()
    assert "python -m grokstudy.config.schema_file" in _section()
    assert "python -m grokstudy.config.keys_doc" in _section()


def _follow_the_section(repo: Path) -> None:
    for files in (TOY_ANALYSIS, TOY_ARCHITECTURE, TOY_MONITOR):
        for path, text in files.items():
            _write(repo, path, text)
    _add_row(repo, "src/grokstudy/analyses/registry.py", "ANALYSES", TOY_ANALYSIS_ROW)
    outputs = repo / "docs" / "outputs.md"
    outputs.write_text(outputs.read_text() + "\n| `probes/<run>/toy_norm.parquet` | the toy analysis |\n")
    _add_row(repo, "src/grokstudy/monitors/registry.py", "MONITORS", TOY_MONITOR_ROW)
    for module in ("grokstudy.config.schema_file", "grokstudy.config.keys_doc"):
        subprocess.run([sys.executable, "-m", module], cwd=repo, env=_env(repo), check=True, capture_output=True)


def _env(repo: Path) -> dict:
    """The copy's own sources first, as its checkout would run them."""
    return {**os.environ, "PYTHONPATH": str(repo / "src")}


def _planned(repo: Path, configfile: str) -> set[str]:
    command = [sys.executable, "-m", "snakemake", "--configfile", configfile, "--dry-run"]
    result = subprocess.run(command, cwd=repo, env=_env(repo), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {job.key for job in workflow_state.parse_planned_jobs(result.stdout) if job.rule != "all"}


@pytest.fixture(scope="module")
def extended(smoke_author, tmp_path_factory) -> dict:
    """A copy of the computed smoke workspace, its monitors preset's jobs before, and the section followed."""
    repo = Path(shutil.copytree(smoke_author["repo"], tmp_path_factory.mktemp("extended") / "repo", symlinks=True))
    before = workflow_state.evaluate_jobs(repo, MONITORS)
    _follow_the_section(repo)
    return {"repo": repo, "monitors_before": before}


def test_the_smoke_preset_plans_only_the_new_analysis_and_what_reads_it(extended, smoke_author):
    probed = ["comp_phi7.2_wd0.5", "cmp_phi7.2_wd0.1"]  # the probed runs trained on all facts
    new = {f"{rule}[run={run}]" for rule in ("toy_norm", "figure_toy_norm") for run in probed}
    assert _planned(extended["repo"], SMOKE) == new | {"report[]"}
    assert _planned(smoke_author["repo"], SMOKE) == set()


def test_the_monitors_preset_adds_the_new_groups_jobs_and_recomputes_no_other_group(extended, monkeypatch):
    before = extended["monitors_before"]
    monkeypatch.setenv("PYTHONPATH", str(extended["repo"] / "src"))
    after = workflow_state.evaluate_jobs(extended["repo"], MONITORS)
    added = {key for key in after.jobs if key not in before.jobs}
    # The toy group's jobs, and the toy analysis's on the preset's probed runs.
    toy = re.compile(r"(monitor(_band)?\[.*group=toy_scale|(figure_)?toy_norm\[)")
    assert any(key.startswith("monitor") for key in added) and all(toy.match(key) for key in added), added
    changed = {key for key, job in before.jobs.items() if after.jobs[key]["params"] != job["params"]}
    # Only what reads every group: tuning, scoring, the figures and the report.
    assert {key.split("[")[0] for key in changed} <= {"monitor_tuning", "monitor_leads", "figure_monitors", "report"}


# `make check`'s commands, run by this interpreter on the copy's sources: its linters, and the
# fast tests of the toys and of every file an extension touches (the registries, the typed preset
# and its generated files, the code digests, the model interface and the monitor jobs).
CHECK_TESTS = (
    "tests/test_toy_norm.py",
    "tests/test_toy_gpt2.py",
    "tests/test_toy_scale.py",
    "tests/test_config.py",
    "tests/test_code_digest.py",
    "tests/test_models.py",
    "tests/test_monitor_jobs.py",
)


def test_the_checks_pass_in_the_copy(extended):
    repo, python = extended["repo"], sys.executable
    commands = [
        [python, "-m", "ruff", "check", "."],
        [python, "-m", "ruff", "format", "--check", "."],
        [python, "-m", "snakemake", "--lint"],
        [python, "-m", "snakemake", "--lint", "--configfile", MONITORS],
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", *CHECK_TESTS],
    ]
    for command in commands:
        result = subprocess.run(command, cwd=repo, env=_env(repo), capture_output=True, text=True)
        assert result.returncode == 0, " ".join(command[2:]) + "\n" + result.stdout[-4000:] + result.stderr[-2000:]
