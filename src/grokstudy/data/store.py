"""Datasets on disk: Parquet splits, the tokenizer, and a manifest with counts and provenance."""

import json
from pathlib import Path

import pandas as pd

from grokstudy import __version__, provenance
from grokstudy.data import comparison, composition
from grokstudy.data.dataset import EVAL_SPLITS, Dataset
from grokstudy.tokenizer import build_tokenizer

GENERATOR_VERSION = 1
TRAIN_FILE = "train.parquet"
EVAL_DIR = "eval"
TOKENIZER_DIR = "tokenizer"
MANIFEST = "manifest.json"

_SPEC_FIELDS = {
    "composition": (composition.CompositionSpec, composition.generate),
    "comparison": (comparison.ComparisonSpec, comparison.generate),
}


def generate(params: dict) -> Dataset:
    """Generate from a validated dataset config section."""
    spec_type, generator = _SPEC_FIELDS[params["task"]]
    fields = spec_type.__dataclass_fields__
    return generator(spec_type(**{k: v for k, v in params.items() if k in fields}))


def write(dataset: Dataset, params: dict, out_dir: Path) -> None:
    out_dir = Path(out_dir)
    (out_dir / EVAL_DIR).mkdir(parents=True, exist_ok=True)
    dataset.train.to_parquet(out_dir / TRAIN_FILE, index=False)
    for split, frame in dataset.eval_splits.items():
        frame.to_parquet(out_dir / EVAL_DIR / f"{split}.parquet", index=False)
    build_tokenizer(dataset.vocabulary).save_pretrained(out_dir / TOKENIZER_DIR)
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


def read_manifest(data_dir: Path) -> dict:
    return json.loads((Path(data_dir) / MANIFEST).read_text())


def read_train(data_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(Path(data_dir) / TRAIN_FILE)


def read_eval(data_dir: Path) -> dict[str, pd.DataFrame]:
    return {s: pd.read_parquet(Path(data_dir) / EVAL_DIR / f"{s}.parquet") for s in EVAL_SPLITS}
