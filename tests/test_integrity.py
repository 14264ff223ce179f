"""Integrity from data to remote: every artifact a step reads is checked against the hash its writer
recorded, restore checks what it fetched before the working tree changes, seal refuses an incomplete
tree, and each failure names the command that repairs it (docs/recovery.md).

The first tests use the tiny dataset and run of conftest, copied under <tmp>/results/smoke/ next to a
<tmp>/config/smoke.yaml, so that messages name the preset's commands as a user would see them.
"""

import hashlib
import io
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from study_repo import SMOKE, SMOKE_RESULTS, clone, dvc, grokstudy, planned_jobs, run, snakemake

from grokstudy import claims, provenance, results
from grokstudy.data import store
from grokstudy.errors import CorruptArtifactError
from grokstudy.figures.analysis import draw as draw_analysis
from grokstudy.figures.draw import draw
from grokstudy.analyses.local import analyse
from grokstudy.analyses.runner import write_table
from grokstudy.training.checkpoints import CheckpointStore
from grokstudy.training.loop import train_run
from tests.conftest import TINY_MODEL, TINY_RUN

PRESET = "results/smoke"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def flip(path: Path, offset: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.chmod(0o644)
    path.write_bytes(bytes(data))


def silent_flip(path: Path) -> int:
    """Flip one bit of a Parquet file where it still reads, to different values (as a disk error can);
    returns the number of rows that changed."""
    data = path.read_bytes()
    good = pd.read_parquet(io.BytesIO(data))
    for offset in range(len(data) // 4, len(data), 7):
        damaged = bytearray(data)
        damaged[offset] ^= 0x10
        try:
            frame = pd.read_parquet(io.BytesIO(bytes(damaged)))
        except Exception:
            continue
        if list(frame.columns) == list(good.columns) and len(frame) == len(good) and not frame.equals(good):
            flip(path, offset, 0x10)
            return int((frame != good).any(axis=1).sum())
    raise AssertionError(f"no silent bit flip found in {path}")


def rename_column(path: Path, column: str = "prompt") -> None:
    """Flip one bit of a column's name in the Parquet schema: the file reads, the column is gone."""
    flip(path, path.read_bytes().index(column.encode()))


@pytest.fixture
def preset_root(tmp_path) -> Path:
    """A directory laid out like the repository: config/smoke.yaml names the preset 'smoke'."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "smoke.yaml").write_text("name: smoke\n")
    return tmp_path


def copy_dataset(composition_dir: Path, root: Path) -> Path:
    return Path(shutil.copytree(composition_dir, root / PRESET / "data" / "composition"))


def train(data_dir: Path, root: Path, run: str = "r") -> dict:
    return train_run(
        TINY_RUN,
        TINY_MODEL,
        data_dir,
        root / PRESET / "runs" / run,
        root / PRESET / "checkpoints" / run,
        device="cpu",
        progress=False,
    )


def assert_names_the_damage(message: str, path: Path, expected: str, actual: str) -> None:
    assert str(path) in message and f"sha256 is {actual}" in message and f"records {expected}" in message


@pytest.mark.parametrize(
    "name, damage",
    [
        ("train.parquet", silent_flip),
        ("train.parquet", rename_column),  # was a KeyError traceback from the encoder
        ("eval/test_inferred_id.parquet", silent_flip),
        ("tokenizer/tokenizer.json", lambda path: flip(path, path.stat().st_size // 2)),
    ],
    ids=["train-silent", "train-column-name", "eval-silent", "tokenizer"],
)
def test_a_damaged_dataset_file_stops_training_before_it_is_used(composition_dir, preset_root, name, damage):
    data = copy_dataset(composition_dir, preset_root)
    expected = store.read_manifest(data)["files"][name]
    damage(data / name)
    with pytest.raises(CorruptArtifactError) as caught:
        train(data, preset_root)
    message = str(caught.value)
    assert_names_the_damage(message, data / name, expected, sha256(data / name))
    regenerate = "`snakemake --configfile config/smoke.yaml --forcerun results/smoke/data/composition/manifest.json`"
    assert regenerate in message
    assert "`grokstudy restore --configfile config/smoke.yaml --only data`" in message
    assert not (preset_root / PRESET / "checkpoints" / "r").exists()


def test_a_repaired_split_trains_afresh_not_from_checkpoints_of_the_damaged_one(
    composition_dir, trained_run, preset_root
):
    data = copy_dataset(composition_dir, preset_root)
    good = (data / store.TRAIN_FILE).read_bytes()
    assert silent_flip(data / store.TRAIN_FILE) > 0  # rows changed, yet the file reads
    with pytest.raises(CorruptArtifactError):
        train(data, preset_root)
    (data / store.TRAIN_FILE).write_bytes(good)
    summary = train(data, preset_root)
    assert summary["resumed_from_step"] is None
    clean = json.loads((trained_run / "run.json").read_text())
    assert summary["fingerprint"] == clean["fingerprint"]  # computed from the files read: the clean run's
    pd.testing.assert_frame_equal(
        pd.read_parquet(preset_root / PRESET / "runs" / "r" / "metrics.parquet"),
        pd.read_parquet(trained_run / "metrics.parquet"),
    )


def test_each_dataset_file_is_hashed_once_per_job(composition_dir, tmp_path, monkeypatch):
    data = Path(shutil.copytree(composition_dir, tmp_path / "data"))
    hashed = Counter()
    real = provenance.file_sha256
    monkeypatch.setattr(provenance, "_VERIFIED", {})
    monkeypatch.setattr(provenance, "file_sha256", lambda path: hashed.update([Path(path)]) or real(path))
    store.verify(data)
    store.read_train(data)
    store.read_eval(data)
    store.read_eval(data)
    store.load_tokenizer(data)
    assert hashed == Counter({data / name: 1 for name in store.read_manifest(data)["files"]})


def copy_run(trained_run: Path, root: Path, run: str = "r") -> Path:
    out = root / PRESET / "runs" / run
    out.mkdir(parents=True)
    for name in (results.METRICS, results.SUMMARY):
        shutil.copy2(trained_run / name, out / name)
    return out / results.METRICS


def test_the_run_summary_records_the_hash_of_the_metrics_it_wrote(trained_run):
    summary = json.loads((trained_run / results.SUMMARY).read_text())
    assert summary[results.METRICS_HASH] == sha256(trained_run / results.METRICS)


def test_a_damaged_metrics_table_is_named_before_figures_or_claims_use_it(trained_run, preset_root):
    metrics = copy_run(trained_run, preset_root)
    expected = sha256(metrics)
    assert silent_flip(metrics) > 0
    readers = {
        "read_metrics": lambda: results.read_metrics([metrics]),
        "figure": lambda: draw("accuracy_curves", [metrics], [], "log", 50, preset_root / "figure"),
        "claims": lambda: claims.evaluate_files({}, [metrics], [], [], []),
    }
    for reader, read in readers.items():
        with pytest.raises(CorruptArtifactError) as caught:
            read()
        message = str(caught.value)
        assert_names_the_damage(message, metrics, expected, sha256(metrics))
        regenerate = "`snakemake --configfile config/smoke.yaml --forcerun results/smoke/runs/r/metrics.parquet`"
        assert regenerate in message, reader
        assert "`grokstudy restore --configfile config/smoke.yaml --only metrics`" in message, reader
    assert not list(preset_root.glob("figure*"))


def test_a_damaged_probe_table_is_named_before_a_figure_or_claim_uses_it(preset_root):
    table = preset_root / PRESET / "probes" / "r" / "causal_tracing.parquet"
    frame = pd.DataFrame({"layer": [i % 4 for i in range(400)], "effect": [i / 400 for i in range(400)]})
    write_table(frame, table, {"probes": {"max_queries": 10}})
    recorded = json.loads(results.sidecar(table).read_text())
    assert recorded[results.TABLE_HASH] == sha256(table) and recorded["probes"] == {"max_queries": 10}
    assert silent_flip(table) > 0
    inputs = {"causal_tracing": table, "null_causal_tracing": table}
    figure = lambda: draw_analysis("grokstudy.figures.lens:causal_tracing_figure", inputs, 50, preset_root / "f")  # noqa: E731
    for read in (lambda: results.read_tables([table]), figure):
        with pytest.raises(CorruptArtifactError) as caught:
            read()
        assert_names_the_damage(str(caught.value), table, recorded[results.TABLE_HASH], sha256(table))
        assert "--forcerun results/smoke/probes/r/causal_tracing.parquet`" in str(caught.value)


def test_the_split_behind_a_claim_is_checked_against_its_manifest(composition_dir, preset_root):
    data = copy_dataset(composition_dir, preset_root)
    split = data / "eval" / "test_inferred_ood.parquet"
    read = store.read_eval(data)["test_inferred_ood"]
    assert read.equals(pd.read_parquet(composition_dir / "eval" / "test_inferred_ood.parquet"))
    silent_flip(split)
    with pytest.raises(CorruptArtifactError, match=re.escape("test_inferred_ood.parquet is corrupt")):
        store.read_eval(data)


def copy_checkpoints(trained_run: Path, root: Path, run: str = "r") -> CheckpointStore:
    return CheckpointStore(shutil.copytree(trained_run / "checkpoints", root / PRESET / "checkpoints" / run))


def test_a_damaged_newest_checkpoint_names_the_directory_to_delete(composition_dir, trained_run, preset_root):
    checkpoints = copy_checkpoints(trained_run, preset_root)
    newest = checkpoints.path(checkpoints.complete_steps()[-1])
    weights = newest / "model.safetensors"
    flip(weights, weights.stat().st_size // 2)
    with pytest.raises(CorruptArtifactError) as caught:
        train(composition_dir, preset_root)
    message = str(caught.value)
    assert f"{weights} is corrupt: its sha256 is {sha256(weights)}" in message
    assert f"`rm -r results/smoke/checkpoints/r/{newest.name}`" in message
    assert "`snakemake --configfile config/smoke.yaml`" in message and "restarts from step 0" in message

    shutil.rmtree(newest)  # what the message says
    assert train(composition_dir, preset_root)["resumed_from_step"] is None


def test_a_damaged_checkpoint_is_named_before_any_is_probed(composition_dir, trained_run, preset_root):
    checkpoints = copy_checkpoints(trained_run, preset_root)
    weights = checkpoints.path(0) / "model.safetensors"
    flip(weights, weights.stat().st_size // 2)
    run_dir = copy_run(trained_run, preset_root).parent
    with pytest.raises(CorruptArtifactError) as caught:
        analyse("checkpoint_accuracy", "r", "composition", composition_dir, {}, checkpoints.root, run_dir=run_dir)
    message = str(caught.value)
    assert f"{weights} is corrupt" in message and "Nothing was analysed" in message
    assert "`grokstudy restore --configfile config/smoke.yaml --only checkpoints`" in message
    assert "`rm -r results/smoke/checkpoints/r`" in message


# --- restore and seal, on the smoke preset (the author's computed clone of conftest) ---------------


def copy_repo(repo: Path, dest: Path) -> Path:
    """A copy of a clone: working tree, DVC cache and Snakemake's records, times kept."""
    return Path(shutil.copytree(repo, dest, symlinks=True))


@pytest.fixture(scope="module")
def author(sealed) -> dict:
    """The author's computed and sealed clone (conftest `sealed`); tests copy or clone it."""
    return {"repo": sealed["author"], "remote": sealed["remote"]}


def tree_state(repo: Path) -> dict[str, bytes]:
    """Every file under results/ and in Snakemake's records, with its content."""
    paths = [*(repo / "results").rglob("*"), *(repo / ".snakemake").rglob("*")]
    return {str(p.relative_to(repo)): p.read_bytes() for p in sorted(paths) if p.is_file()}


@pytest.mark.workflow
def test_restore_names_a_corrupt_remote_object_and_changes_nothing(author, tmp_path):
    remote = copy_repo(author["remote"], tmp_path / "remote")
    figure = SMOKE_RESULTS / "figures" / "phi_sweep.png"
    good = (author["repo"] / figure).read_bytes()
    md5 = hashlib.md5(good).hexdigest()
    flip(remote / "files" / "md5" / md5[:2] / md5[2:], 100)
    repo = clone(author["repo"], tmp_path / "clone", remote_url=remote)
    before = tree_state(repo)

    result = grokstudy(repo, "restore", "--configfile", SMOKE, check=False)
    assert result.returncode == 2, result.stderr
    assert f"remote 'public' ({remote}) holds corrupt copies" in result.stderr
    assert str(figure) in result.stderr and "seal again" in result.stderr
    assert tree_state(repo) == before and not (repo / ".snakemake" / "metadata").exists()
    cache = Path(dvc(repo, "cache", "dir").stdout.strip())
    assert not (cache / "files" / "md5" / md5[:2] / md5[2:]).exists()

    # The repair the message names: delete the remote objects it lists, seal again from a good copy.
    named = re.findall(rf"{re.escape(str(remote))}/files/md5/\S+", result.stderr)
    assert f"{remote}/files/md5/{md5[:2]}/{md5[2:]}" in named and any(n.endswith(".dir") for n in named)
    for obj in named:
        Path(obj).unlink()
    sealer = copy_repo(author["repo"], tmp_path / "good")
    dvc(sealer, "remote", "modify", "--local", "public", "url", str(remote))
    grokstudy(sealer, "seal", "--configfile", SMOKE)
    grokstudy(repo, "restore", "--configfile", SMOKE)
    assert (repo / figure).read_bytes() == good
    assert planned_jobs(repo) == {}


@pytest.mark.workflow
def test_seal_refuses_missing_or_unrecorded_outputs(author, tmp_path):
    repo = copy_repo(author["repo"], tmp_path / "author")
    missing = f"{SMOKE_RESULTS}/probes/comp_phi7.2_wd0.5/checkpoint_accuracy.parquet"
    unrecorded = f"{SMOKE_RESULTS}/probes/cmp_phi7.2_wd0.1/checkpoint_accuracy.parquet"
    snakemake(repo, "--configfile", SMOKE, "--cleanup-metadata", unrecorded)
    assert planned_jobs(repo) == {}  # a dry run alone sees nothing wrong with an unrecorded output

    result = grokstudy(repo, "seal", "--configfile", SMOKE, check=False)
    assert result.returncode == 2, result.stderr
    assert f"{unrecorded}  (checkpoint_accuracy: no record in Snakemake's metadata)" in result.stderr
    assert f"`snakemake --configfile {SMOKE} --forcerun {unrecorded}`" in result.stderr
    assert "Nothing was sealed" in result.stderr

    (repo / missing).unlink()  # a missing output: the dry run plans it, and seal names the pending job
    result = grokstudy(repo, "seal", "--configfile", SMOKE, check=False)
    assert result.returncode == 2, result.stderr
    assert "is not up to date" in result.stderr and "checkpoint_accuracy x1" in result.stderr
    assert "Nothing was sealed" in result.stderr
    assert run(repo, "git", "status", "--porcelain", str(SMOKE_RESULTS)).stdout == ""

    # The commands it names recompute both; then the seal goes through.
    snakemake(repo, "--configfile", SMOKE, "--cores", "2", "--forcerun", unrecorded)
    assert (repo / missing).exists()
    dvc(repo, "remote", "modify", "--local", "public", "url", str(tmp_path / "remote"))
    grokstudy(repo, "seal", "--configfile", SMOKE)


def hold_snakemake_lock(repo: Path) -> None:
    """What a Snakemake run killed with SIGKILL leaves: its lock files."""
    locks = repo / ".snakemake" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    (locks / "0.output.lock").write_text(f"{SMOKE_RESULTS}/report/index.html\n")


@pytest.mark.workflow
def test_an_interrupted_restore_is_finished_by_restoring_again(author, tmp_path):
    repo = clone(author["repo"], tmp_path / "clone", remote_url=author["remote"])
    # Killed while marking: part of the cache fetched, one class checked out, Snakemake's lock left behind.
    dvc(repo, "fetch", f"{SMOKE_RESULTS}/data.dvc", f"{SMOKE_RESULTS}/figures.dvc")
    dvc(repo, "checkout", f"{SMOKE_RESULTS}/figures.dvc")
    hold_snakemake_lock(repo)
    before = tree_state(repo)

    result = grokstudy(repo, "restore", "--configfile", SMOKE, check=False)
    assert result.returncode == 2, result.stderr
    assert f"`snakemake --unlock --configfile {SMOKE}`" in result.stderr and "Nothing was changed" in result.stderr
    assert tree_state(repo) == before

    snakemake(repo, "--unlock", "--configfile", SMOKE)
    for attempt in range(2):  # and once more: restoring is idempotent
        grokstudy(repo, "restore", "--configfile", SMOKE)
        assert planned_jobs(repo) == {}, f"attempt {attempt}"
        for directory in ("figures", "runs", "probes", "data"):
            assert tree_of(repo, directory) == tree_of(author["repo"], directory), (attempt, directory)


def tree_of(repo: Path, directory: str) -> dict[str, bytes]:
    root = repo / SMOKE_RESULTS / directory
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.workflow
def test_an_interrupted_seal_is_finished_by_sealing_again(author, tmp_path):
    repo = copy_repo(author["repo"], tmp_path / "author")
    hold_snakemake_lock(repo)
    result = grokstudy(repo, "seal", "--configfile", SMOKE, check=False)
    assert result.returncode == 2 and f"`snakemake --unlock --configfile {SMOKE}`" in result.stderr

    snakemake(repo, "--unlock", "--configfile", SMOKE)
    blocked = tmp_path / "a-file"
    blocked.write_text("")  # a remote below a file cannot be created, even by root
    dvc(repo, "remote", "modify", "--local", "public", "url", str(blocked / "remote"))
    result = grokstudy(repo, "seal", "--configfile", SMOKE, check=False)
    assert result.returncode == 2 and "run seal again once the remote is reachable" in result.stderr

    remote = tmp_path / "remote"
    dvc(repo, "remote", "modify", "--local", "public", "url", str(remote))
    grokstudy(repo, "seal", "--configfile", SMOKE)
    pointers = sorted(p.name for p in (repo / SMOKE_RESULTS).glob("*.dvc"))
    assert run(repo, "git", "status", "--porcelain", str(SMOKE_RESULTS)).stdout == ""  # the sealed pointers
    assert len(pointers) == 7 and any(remote.rglob("*.dir"))
