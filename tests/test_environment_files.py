"""The conda environment used by the rules must ask for what pyproject.toml asks for."""

import re
import tomllib
from pathlib import Path

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
