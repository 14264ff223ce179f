"""Datasets on disk: Parquet splits, the tokenizer, baselines, and a manifest with counts and provenance."""

import importlib
import json
from pathlib import Path

import pandas as pd

from grokstudy import __version__, provenance
from grokstudy.recovery import way_out
from grokstudy.data import baselines
from grokstudy.data.dataset import Dataset
from grokstudy.data.specs import EVAL_SPLITS, generator_module
from grokstudy.errors import CorruptArtifactError

GENERATOR_VERSION = 1
TRAIN_FILE = "train.parquet"
EVAL_DIR = "eval"
TOKENIZER_DIR = "tokenizer"
BASELINES_FILE = "baselines.json"
MANIFEST = "manifest.json"


def generate(params: dict) -> Dataset:
    """Generate from a validated dataset config section, with its task's generator (imported by name,
    so that a dataset's code digest covers its own task's generator alone)."""
    generator = importlib.import_module(generator_module(params["task"]))
    fields = generator.SPEC.__dataclass_fields__
    return generator.generate(generator.SPEC(**{k: v for k, v in params.items() if k in fields}))


def write(dataset: Dataset, params: dict, out_dir: Path) -> None:
    # Imported here: readers of splits (claims, figures) need no transformers.
    from grokstudy.tokenizer import build_tokenizer

    out_dir = Path(out_dir)
    (out_dir / EVAL_DIR).mkdir(parents=True, exist_ok=True)
    dataset.train.to_parquet(out_dir / TRAIN_FILE, index=False)
    for split, frame in dataset.eval_splits.items():
        frame.to_parquet(out_dir / EVAL_DIR / f"{split}.parquet", index=False)
    build_tokenizer(dataset.vocabulary).save_pretrained(out_dir / TOKENIZER_DIR)
    provenance.write_json(
        out_dir / BASELINES_FILE, baselines.compute(dataset.task, dataset.train, dataset.eval_splits, params)
    )
    files = sorted(p for p in out_dir.rglob("*") if p.is_file() and p.name != MANIFEST)
    provenance.write_json(
        out_dir / MANIFEST,
        {
            "task": dataset.task,
            "generator_version": GENERATOR_VERSION,
            "grokstudy_version": __version__,
            "params": params,
            "seed": params["seed"],
            "phi_requested": params["phi"],
            "phi_achieved": dataset.phi_achieved,
            "phi_max": dataset.phi_max,
            "counts": dataset.counts,
            "eval_counts": {s: len(f) for s, f in dataset.eval_splits.items()},
            "vocabulary_size": len(dataset.vocabulary),
            "files": {str(p.relative_to(out_dir)): provenance.file_sha256(p) for p in files},
            "versions": provenance.versions(),
        },
    )


def _way_out(data_dir: Path) -> str:
    # The manifest is the prepare job's declared output that names the whole dataset.
    return way_out(Path(data_dir) / MANIFEST, regenerate=Path(data_dir) / MANIFEST)


def read_manifest(data_dir: Path) -> dict:
    manifest = provenance.read_record(Path(data_dir) / MANIFEST, _way_out(data_dir))
    if not isinstance(manifest.get("files"), dict):
        raise CorruptArtifactError(f"{Path(data_dir) / MANIFEST} records no file hashes; {_way_out(data_dir)}")
    return manifest


def verify(data_dir: Path, names=None) -> dict[str, str]:
    """Check dataset files (default: every file the manifest lists) against the manifest's sha256s.

    Returns the hashes of the files as they are on disk, which are then the recorded ones; raises
    CorruptArtifactError naming the first file that differs. Each file is hashed once per process.
    """
    data_dir = Path(data_dir)
    recorded = read_manifest(data_dir)["files"]
    names = sorted(recorded) if names is None else names
    return {
        name: provenance.verify_sha256(data_dir / name, recorded.get(name), data_dir / MANIFEST, _way_out(data_dir))
        for name in names
    }


def tokenizer_files(data_dir: Path) -> list[str]:
    return sorted(n for n in read_manifest(data_dir)["files"] if Path(n).parts[0] == TOKENIZER_DIR)


def load_tokenizer(data_dir: Path):
    """The dataset's tokenizer, once its files match the manifest."""
    from transformers import AutoTokenizer

    verify(data_dir, tokenizer_files(data_dir))
    return AutoTokenizer.from_pretrained(Path(data_dir) / TOKENIZER_DIR)


def read_train(data_dir: Path) -> pd.DataFrame:
    verify(data_dir, [TRAIN_FILE])
    return pd.read_parquet(Path(data_dir) / TRAIN_FILE)


def _eval_name(split: str) -> str:
    return f"{EVAL_DIR}/{split}.parquet"


def read_eval(data_dir: Path) -> dict[str, pd.DataFrame]:
    verify(data_dir, [_eval_name(s) for s in EVAL_SPLITS])
    return {s: pd.read_parquet(Path(data_dir) / _eval_name(s)) for s in EVAL_SPLITS}


def read_baselines(path: Path) -> dict:
    """A dataset's baselines (DATA_DIR/baselines.json), checked against its manifest."""
    path = Path(path)
    verify(path.parent, [path.name])
    return json.loads(path.read_text())
