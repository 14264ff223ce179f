import json
import copy
import re
from pathlib import Path

import pytest
import yaml

from grokstudy import config
from grokstudy.config import yaml_file
from grokstudy.config.keys_doc import KEYS_DOC_PATH, keys_text
from grokstudy.config.schema_file import SCHEMA_PATH, schema_text
from grokstudy.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
# Presets and the recorded exploration configs: all must stay runnable.
PRESETS = sorted((REPO / "config").rglob("*.yaml"))
SMOKE = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
A_RUN = "cmp_phi7.2_wd0.1"
A_MODEL = "tiny"


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_every_preset_is_valid(path):
    resolved = config.load(path)
    assert resolved["runs"] and all(isinstance(run["steps"], int) for run in resolved["runs"].values())


def _without_seed_keys(raw: dict) -> dict:
    for section in ("datasets", "runs", "run_defaults"):
        for entry in raw[section].values() if section != "run_defaults" else [raw[section]]:
            entry.pop("seed", None)
    return raw


def test_seeds_replicate_every_dataset_and_run_and_every_run_list():
    raw = _without_seed_keys(copy.deepcopy(SMOKE))
    raw["seeds"] = [0, 7]
    preset = config.resolve(raw)
    assert sorted(preset["runs"]) == sorted(f"{run}.s{seed}" for run in SMOKE["runs"] for seed in (0, 7))
    run = preset["runs"]["comp_phi3.6_wd0.1.s7"]
    assert run["seed"] == 7 and run["dataset"] == "composition_phi3.6.s7"
    assert preset["datasets"]["composition_phi3.6.s7"]["seed"] == 7
    assert preset["probes"]["runs"][:2] == ["comp_phi7.2_wd0.5.s0", "comp_phi7.2_wd0.5.s7"]
    assert preset["figures"]["phi_sweep"]["runs"] == [
        "comp_phi7.2_wd0.1.s0",
        "comp_phi7.2_wd0.1.s7",
        "comp_phi3.6_wd0.1.s0",
        "comp_phi3.6_wd0.1.s7",
    ]
    assert preset["replicate_of"]["cmp_phi7.2_wd0.1.s7"] == {"base": "cmp_phi7.2_wd0.1", "seed": 7}
    assert preset["claims"]["grokking_run"] == "comp_phi7.2_wd0.5"  # claims keep base names
    # Without seeds each run is its own replicate, under its own name.
    assert config.resolve(copy.deepcopy(SMOKE))["replicate_of"][A_RUN] == {"base": A_RUN, "seed": None}
    missing = _without_seed_keys(copy.deepcopy(SMOKE))
    with pytest.raises(ConfigError, match=re.escape("config key 'datasets.composition.seed': missing")):
        config.resolve(missing)


def test_run_defaults_fill_every_run_and_a_run_overrides_them():
    runs = config.load(REPO / "config" / "smoke.yaml")["runs"]
    assert runs["comp_phi7.2_wd0.5"]["weight_decay"] == 0.5 and runs["comp_phi7.2_wd0.1"]["weight_decay"] == 0.1
    assert all(run["steps"] == 200 and run["compile"] is False for run in runs.values())


def test_embedding_keys_default_to_gpt2_and_a_run_or_model_may_change_them():
    resolved = config.load(REPO / "config" / "smoke.yaml")
    assert all(m["tie_embeddings"] is True and m["init_std"] == 0.02 for m in resolved["models"].values())
    assert all(run["embedding_weight_decay"] is True for run in resolved["runs"].values())
    raw = copy.deepcopy(SMOKE)
    raw["models"]["tiny"].update(tie_embeddings=False, init_std=0.01)
    raw["runs"][A_RUN]["embedding_weight_decay"] = False
    changed = config.resolve(raw)
    assert changed["models"]["tiny"]["tie_embeddings"] is False and changed["models"]["tiny"]["init_std"] == 0.01
    assert changed["runs"][A_RUN]["embedding_weight_decay"] is False


def test_the_committed_json_schema_is_the_one_the_model_generates():
    assert (REPO / SCHEMA_PATH).read_text() == schema_text(), "run: python -m grokstudy.config.schema_file"


def test_config_readme_documents_every_key_as_the_model_defines_it():
    page = keys_text()
    assert (REPO / KEYS_DOC_PATH).read_text() == page, "run: python -m grokstudy.config.keys_doc"
    schema = json.loads(schema_text())
    for definition in [schema, *schema["$defs"].values()]:
        for key, prop in definition.get("properties", {}).items():
            assert prop.get("description"), f"preset key {key} has no meaning to document"
            assert f"| `{key}` |" in page, key


def _set(path, value):
    def mutate(raw):
        node = raw
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


BAD = [
    # (edit, key named in the message, words of the allowed range)
    (_set(("datasets", "composition", "phi"), 40.0), "datasets.composition.phi", "allowed range"),
    (_set(("datasets", "composition", "out_degree"), 25), "datasets.composition.out_degree", "1..20"),
    (_set(("datasets", "composition", "ood_fraction"), 0.0001), "datasets.composition.ood_fraction", ">="),
    (_set(("datasets", "composition", "ood_fraction"), 1.5), "datasets.composition.ood_fraction", "< 1"),
    (_set(("run_defaults", "lr"), -0.1), "run_defaults.lr", "> 0"),
    (_set(("runs", A_RUN, "batch_size"), 0), f"runs.{A_RUN}.batch_size", ">= 1"),
    (_set(("device",), "tpu"), "device", "'cuda'"),
    (_set(("models", "tiny", "heads"), 3), "models.tiny.heads", "divide"),
    (_set(("runs", A_RUN, "dataset"), "missing"), f"runs.{A_RUN}.dataset", "not defined"),
    (_set(("figures", "phi_sweep", "runs"), ["nope"]), "figures.phi_sweep.runs", "not a run"),
    (_set(("probes", "null_seeds"), [1]), "probes.null_seeds", "at least 2"),
    (_set(("probes", "null_seeds"), [1, 1]), "probes.null_seeds", "distinct"),
    (_set(("datasets", "comparison", "task"), "sorting"), "datasets.comparison.task", "'composition'"),
    (
        _set(("datasets", "composition", "inferred_labels"), "random"),
        "datasets.composition.inferred_labels",
        "'shuffled'",
    ),
    (_set(("models", A_MODEL, "recurrence"), 2), f"models.{A_MODEL}.recurrence", "not used by arch gpt2"),
    (_set(("models", A_MODEL, "arch"), "looped_gpt2"), f"models.{A_MODEL}.layers", "not used by arch looped_gpt2"),
    (
        lambda raw: raw["models"][A_MODEL].update(arch="looped_gpt2", layers=None, layers_per_loop=1),
        f"models.{A_MODEL}.recurrence",
        "required by arch looped_gpt2",
    ),
    (_set(("models", A_MODEL, "arch"), "loopy"), f"models.{A_MODEL}.arch", "'looped_gpt2'"),
    (_set(("runs", A_RUN, "stepz"), 5), f"runs.{A_RUN}.stepz", "allowed keys here"),
    # names that would leave their directory, or hide a newline
    (_set(("runs", ".."), {"dataset": "composition"}), "runs", "the name '..'"),
    (_set(("runs", "."), {"dataset": "composition"}), "runs", "the name '.'"),
    (_set(("datasets", ".."), SMOKE["datasets"]["comparison"]), "datasets", "the name '..'"),
    (_set(("name",), ".."), "name", "matching"),
    (_set(("name",), "a/b"), "name", "matching"),
    (_set(("name",), "smoke\n"), "name", "matching"),
    (_set(("runs", "x\n"), {"dataset": "composition"}), "runs", "the name 'x\\n'"),
    # floats where integers are meant pass no more
    (_set(("run_defaults", "steps"), 200.0), "run_defaults.steps", "an integer >= 1"),
    (_set(("runs", A_RUN, "batch_size"), 256.0), f"runs.{A_RUN}.batch_size", "an integer >= 1"),
    (_set(("run_defaults", "compile"), "yes"), "run_defaults.compile", "true or false"),
    (_set(("models", "tiny", "init_std"), 0.0), "models.tiny.init_std", "> 0"),
    (_set(("models", "tiny", "init_std"), 2.0), "models.tiny.init_std", "<= 1"),
    (_set(("models", "tiny", "tie_embeddings"), "no"), "models.tiny.tie_embeddings", "true or false"),
    (_set(("run_defaults", "embedding_weight_decay"), 0), "run_defaults.embedding_weight_decay", "true or false"),
    (_set(("runs",), ["a"]), "runs", "a mapping"),
    (_set(("runs", A_RUN), None), f"runs.{A_RUN}", "a mapping"),
    (_set(("figures", "logit_lens"), {"run": "comp_phi7.2_wd0.5"}), "figures.logit_lens", "every run in probes.runs"),
    (_set(("probes", "runs"), ["comp_phi7.2_wd0.5", "comp_phi7.2_wd0.5"]), "probes.runs", "each run once"),
    # claims and contrasts that their runs cannot support
    (_set(("claims", "comparison_run"), "comp_phi7.2_wd0.1"), "claims.comparison_run", "allowed: a comparison run"),
    (
        _set(("claims", "grokking_run"), "cmp_phi7.2_wd0.1"),
        "claims.grokking_run",
        "composition run trained on all facts",
    ),
    (_set(("claims", "control_run"), "comp_phi7.2_wd0.1"), "claims.control_run", "training_facts: atomic"),
    (_set(("claims", "step_control_run"), "comp_phi7.2_wd0.1"), "claims.step_control_run", "training_facts: atomic"),
    (
        lambda raw: (
            raw["claims"].update(step_control_run="comp_phi7.2_wd0.5_atomic"),
            raw["runs"]["comp_phi7.2_wd0.5_atomic"].update(steps=150),
        ),
        "claims.step_control_run",
        "differs from 'comp_phi7.2_wd0.5' in steps",
    ),
    (
        lambda raw: (
            raw["claims"].update(step_control_run="comp_phi7.2_wd0.5_atomic"),
            raw["claims"].pop("control_run"),
        ),
        "claims.step_control_run",
        "given without claims.control_run",
    ),
    (_set(("probes", "runs"), ["comp_phi7.2_wd0.5"]), "probes.runs", "its control"),
    (
        _set(("figures", "phi_sweep", "runs"), ["comp_phi7.2_wd0.1", "comp_phi7.2_wd0.5"]),
        "figures.phi_sweep.runs",
        "at least two values of phi",
    ),
    (
        _set(("figures", "weight_decay", "runs"), ["comp_phi7.2_wd0.1", "comp_phi3.6_wd0.1"]),
        "figures.weight_decay.runs",
        "at least two values of weight decay",
    ),
    (
        _set(("figures", "phi_sweep", "runs"), ["comp_phi7.2_wd0.1", "cmp_phi7.2_wd0.1"]),
        "figures.phi_sweep.runs",
        "allowed: composition runs",
    ),
    (_set(("claims", "ood_ceiling"), 0.1), "claims.ood_ceiling", "relation-frequency baseline"),
    (_set(("claims", "id_at_fit_ceiling"), 1.5), "claims.id_at_fit_ceiling", "<= 1"),
    # seeds: a list of distinct seeds, or a seed per dataset and run, never both
    (_set(("seeds",), [0, 0]), "seeds", "distinct"),
    (_set(("seeds",), []), "seeds", "at least 1"),
    (_set(("seeds",), [0, 1]), "datasets.composition.seed", "one or the other"),
]


@pytest.mark.parametrize("mutate,key,allowed", BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_values_are_rejected_naming_key_and_range(mutate, key, allowed):
    raw = copy.deepcopy(SMOKE)
    mutate(raw)
    with pytest.raises(ConfigError) as caught:
        config.resolve(raw)
    message = str(caught.value)
    assert f"config key '{key}'" in message and allowed in message, message
    assert "\n" not in message and len(message) < 400


def _alias_bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nname: *a{levels - 1}\n"


SMOKE_TEXT = (REPO / "config" / "smoke.yaml").read_text()
BAD_FILES = [
    ("duplicate_key.yaml", "name: x\nname: y\n", "config key 'name': given twice"),
    (
        "duplicate_run.yaml",
        SMOKE_TEXT.replace("runs:\n", f"runs:\n  {A_RUN}: {{dataset: comparison}}\n"),
        f"'runs.{A_RUN}': given twice",
    ),
    ("alias_bomb.yaml", _alias_bomb(), "YAML aliases"),
    ("syntax.yaml", "name: [smoke\n", "not valid YAML at line"),
    ("nul.yaml", "name: sm\x00oke\n", "NUL byte"),
    ("empty.yaml", "{}\n", "is empty"),
    ("blank.yaml", "", "is empty"),
    ("list.yaml", "- name: smoke\n", "not a mapping"),
    ("big.yaml", "# " + "x" * (yaml_file.MAX_BYTES + 10) + "\n", "bytes; allowed: at most"),
]


@pytest.mark.parametrize("name,text,words", BAD_FILES, ids=[f[0] for f in BAD_FILES])
def test_bad_preset_files_get_one_line_errors(tmp_path, name, text, words):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert words in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


def test_a_directory_or_a_missing_file_is_named(tmp_path):
    for path, words in ((tmp_path, "not a regular file"), (tmp_path / "missing.yaml", "does not exist")):
        with pytest.raises(ConfigError, match=words):
            config.load(path)


def test_merge_keys_may_override_what_they_merge(tmp_path):
    path = tmp_path / "merged.yaml"
    path.write_text(
        SMOKE_TEXT.replace(
            "  composition_phi3.6:\n    task: composition",
            "  composition_phi3.6:\n    <<: *world\n    task: composition",
        ).replace("  composition:\n    task: composition", "  composition: &world\n    task: composition")
    )
    assert config.load(path)["datasets"]["composition_phi3.6"]["phi"] == 3.6


@pytest.mark.parametrize(
    "argv,paths",
    [
        (["snakemake", "--configfile", "a.yaml", "-n"], ["a.yaml"]),
        (["snakemake", "-n", "--configfile=a.yaml"], ["a.yaml"]),
        (["snakemake", "all", "--configfiles", "a.yaml", "b.yaml", "--cores", "2"], ["a.yaml", "b.yaml"]),
        (["snakemake", "-n"], []),
    ],
)
def test_the_configfiles_of_a_snakemake_command_line(argv, paths):
    assert yaml_file.configfile_arguments(argv) == paths


RECURRENT = yaml.safe_load((REPO / "config" / "recurrent.yaml").read_text())


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda raw: raw["claims"]["recurrent"].update(looped_run="V4"), "'V4' does not loop"),
        (lambda raw: raw["probes"].update(runs=["V4", "L2R2"]), "'L1R4' is not probed"),
        (lambda raw: raw["claims"]["recurrent"].update(vanilla_runs=["V5"]), "'V5' is not a run"),
        (
            lambda raw: raw["claims"]["recurrent"].update(vanilla_runs=["V4", "L2R2"]),
            "'L2R2' runs 2 blocks x 2 loops; allowed: one loop of 4 blocks (equal FLOPs) or of 1 (equal parameters)",
        ),
    ],
)
def test_the_recurrent_claims_refuse_runs_that_cannot_support_them(mutate, message):
    raw = copy.deepcopy(RECURRENT)
    mutate(raw)
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.resolve(raw)


def test_r2_compares_runs_on_the_looped_run_s_dataset():
    raw = copy.deepcopy(RECURRENT)
    raw["datasets"]["other"] = {**raw["datasets"]["comp_ood0.2"], "ood_fraction": 0.1}
    raw["runs"]["V4"]["dataset"] = "other"
    with pytest.raises(ConfigError, match=r"claims\.recurrent\.vanilla_runs.*another dataset"):
        config.resolve(raw)


MONITORS = yaml.safe_load((REPO / "config" / "monitors.yaml").read_text())


def test_a_run_may_replicate_over_some_of_the_seeds_and_only_their_worlds_are_made():
    resolved = config.resolve(copy.deepcopy(MONITORS))
    assert sorted(r for r in resolved["runs"] if r.startswith("comp_phi7.2_wd0.s")) == [
        "comp_phi7.2_wd0.s2",
        "comp_phi7.2_wd0.s3",
    ]
    assert sorted(d for d in resolved["datasets"] if "shuffled" in d) == [
        "comp_phi7.2_shuffled.s2",
        "comp_phi7.2_shuffled.s3",
    ]
    assert len([r for r in resolved["runs"] if r.startswith("comp_phi7.2_wd0.5.s")]) == 8
    assert all("replicates" not in spec for spec in resolved["runs"].values())
    assert resolved["replicate_of"]["comp_phi7.2_wd0.s3"] == {"base": "comp_phi7.2_wd0", "seed": 3}


@pytest.mark.parametrize(
    "mutate,key,message",
    [
        (
            lambda raw: raw["runs"]["comp_phi7.2_wd0"].update(replicates=[2, 9]),
            "runs.comp_phi7.2_wd0.replicates",
            "distinct seeds among",
        ),
        (
            lambda raw: raw["runs"]["comp_phi7.2_wd0"].update(replicates=[2, 2]),
            "runs.comp_phi7.2_wd0.replicates",
            "distinct seeds among",
        ),
        (lambda raw: raw["monitors"].update(dev_seeds=list(range(8))), "monitors.dev_seeds", "leaving held-out runs"),
        (lambda raw: raw["monitors"].update(dev_seeds=[8]), "monitors.dev_seeds", "some but not all"),
        (
            lambda raw: raw["monitors"].update(non_grokking_runs=["comp_phi7.2_wd0.5"]),
            "monitors.non_grokking_runs",
            "also in grokking_runs",
        ),
        (lambda raw: raw["monitors"].update(geometry_site="resid.5"), "monitors.geometry_site", "resid.0..resid.4"),
        (lambda raw: raw["monitors"].update(geometry_site="layer2"), "monitors.geometry_site", "resid"),
        (lambda raw: raw["monitors"].update(grokking_runs=["nope"]), "monitors.grokking_runs", "'nope' is not a run"),
        (lambda raw: raw["monitors"].pop("detectors_sha256"), "monitors.detectors_sha256", "together"),
        (
            lambda raw: raw["monitors"].update(detectors="missing.json", detectors_sha256="0" * 64),
            "monitors.detectors",
            "does not exist",
        ),
        (lambda raw: raw["runs"].update(nulls={}), "runs.nulls", "a reserved name"),
    ],
)
def test_the_monitors_section_refuses_what_its_protocol_cannot_use(mutate, key, message):
    raw = copy.deepcopy(MONITORS)
    mutate(raw)
    with pytest.raises(ConfigError) as error:
        config.resolve(raw)
    assert error.value.key == key and message in str(error.value)


def test_frozen_detectors_are_checked_by_hash_and_by_their_dev_seeds(tmp_path, monkeypatch):
    from grokstudy.monitors import frozen

    monkeypatch.chdir(tmp_path)
    digest = frozen.write_frozen({"version": 1, "development": {"seeds": [0, 1]}, "detectors": {}}, tmp_path / "d.json")
    raw = copy.deepcopy(MONITORS)
    raw["monitors"].update(detectors="d.json", detectors_sha256=digest)
    assert config.resolve(copy.deepcopy(raw))["monitors"]["detectors_sha256"] == digest
    wrong_hash = copy.deepcopy(raw)
    wrong_hash["monitors"]["detectors_sha256"] = "f" * 64
    with pytest.raises(ConfigError, match=r"monitors\.detectors.*the preset froze f{64}"):
        config.resolve(wrong_hash)
    other_seeds = copy.deepcopy(raw)
    other_seeds["monitors"]["dev_seeds"] = [0, 2]
    with pytest.raises(ConfigError, match=r"tuned on seeds \[0, 1\]"):
        config.resolve(other_seeds)
