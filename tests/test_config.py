from pathlib import Path

import pytest
import yaml

from grokstudy import config
from grokstudy.errors import ConfigError

# Presets and the recorded exploration configs: all must stay runnable.
PRESETS = sorted((Path(__file__).resolve().parents[1] / "config").rglob("*.yaml"))


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_every_preset_is_valid(path):
    resolved = config.load(path)
    assert resolved["runs"] and all("steps" in run for run in resolved["runs"].values())


def _smoke():
    return yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "smoke.yaml").read_text())


BAD = [
    (lambda c: c["datasets"]["composition"].update(phi=40.0), "datasets.composition.phi", "allowed range"),
    (lambda c: c["datasets"]["composition"].update(out_degree=25), "datasets.composition.out_degree", "1..20"),
    (lambda c: c["datasets"]["composition"].update(ood_fraction=0.0001), "datasets.composition.ood_fraction", ">="),
    (lambda c: c["datasets"]["composition"].update(ood_fraction=1.5), "datasets.composition.ood_fraction", "< 1"),
    (lambda c: c["run_defaults"].update(lr=-0.1), "lr", "> 0"),
    (lambda c: c["runs"]["cmp_phi7.2_wd0.1"].update(batch_size=0), "runs.cmp_phi7.2_wd0.1.batch_size", ">= 1"),
    (lambda c: c.update(device="tpu"), "device", "'cuda'"),
    (lambda c: c["models"]["tiny"].update(heads=3), "models.tiny.heads", "divide"),
    (lambda c: c["runs"]["cmp_phi7.2_wd0.1"].update(dataset="missing"), "runs.cmp_phi7.2_wd0.1.dataset", "not defined"),
    (lambda c: c["figures"]["phi_sweep"].update(runs=["nope"]), "figures.phi_sweep.runs", "not a run"),
    (lambda c: c["probes"].update(null_seeds=[1]), "probes.null_seeds", "at least 2"),
    (lambda c: c["datasets"]["comparison"].update(task="sorting"), "datasets.comparison.task", "composition"),
    (lambda c: c["runs"]["cmp_phi7.2_wd0.1"].update(stepz=5), "runs.cmp_phi7.2_wd0.1", "stepz"),
]


@pytest.mark.parametrize("mutate,key,allowed", BAD, ids=[b[1] for b in BAD])
def test_bad_values_are_rejected_naming_key_and_range(mutate, key, allowed):
    raw = _smoke()
    mutate(raw)
    with pytest.raises(ConfigError) as caught:
        config.resolve(raw)
    assert key in str(caught.value) and allowed in str(caught.value)
