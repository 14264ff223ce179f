"""The conda environment used by the rules must ask for what pyproject.toml asks for."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def test_conda_environment_mirrors_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "envs" / "grokstudy.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(p for p in pip if not p.startswith("-e")) == sorted(project)
    assert "-e .." in pip


def test_every_rule_names_the_environment():
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        rules = re.findall(r"^\s*rule\b", text, flags=re.MULTILINE)
        assert len(rules) == text.count("conda:"), smk.name


@pytest.mark.xdist_group("xdist_check")
def test_xdist_groups_reach_the_scheduler(request):
    """`make test` runs on pytest-xdist workers with `--dist loadgroup`, which keeps the tests of one
    group (tests/conftest.py) on one worker only if the group reaches the test's id; otherwise the
    smoke author's session fixtures are built twice and two SLURM controllers start."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not on a pytest-xdist worker with --dist loadgroup")
    assert request.node.nodeid.endswith("@xdist_check"), (
        "pytest-xdist ignored xdist_group with this pytest; keep pytest within pyproject.toml's test extra"
    )
