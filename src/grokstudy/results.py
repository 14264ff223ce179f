"""Reading the workflow's result tables back, each checked against the hash its writer recorded.

Each run's metrics live in runs/<run>/metrics.parquet, their sha256 in the run summary run.json
beside them; each probe table's sha256 is in its sidecar (the table's path with .json).
"""

from pathlib import Path

import pandas as pd

from grokstudy import provenance
from grokstudy.recovery import way_out

METRICS = "metrics.parquet"
SUMMARY = "run.json"
METRICS_HASH = "metrics_sha256"  # the run summary's key for the sha256 of metrics.parquet
PREDICTIONS = "predictions.parquet"  # each test item at every evaluation: step, split, prompt, correct
PREDICTIONS_HASH = "predictions_sha256"
TABLE_HASH = "sha256"  # the sidecar's key for the sha256 of its table


def run_name(metrics_path: Path) -> str:
    """The run a metrics table belongs to: the name of its directory."""
    return Path(metrics_path).parent.name


def sidecar(table: Path) -> Path:
    """The JSON written beside a probe table: its settings, versions and sha256."""
    return Path(table).with_suffix(".json")


def _verify_recorded(path: Path, record: Path, key: str) -> str:
    """The sha256 of `path`, once it equals the one its writer recorded under `key` in `record`."""
    out = way_out(path)
    return provenance.verify_sha256(path, provenance.read_record(record, out).get(key), record, out)


def verify_metrics(path: Path) -> str:
    """The sha256 of a run's metrics table, once it equals the one its run summary records."""
    return _verify_recorded(Path(path), Path(path).with_name(SUMMARY), METRICS_HASH)


def verify_predictions(path: Path) -> str:
    """The sha256 of a run's predictions table, once it equals the one its run summary records."""
    return _verify_recorded(Path(path), Path(path).with_name(SUMMARY), PREDICTIONS_HASH)


def read_predictions(paths: list[Path]) -> pd.DataFrame:
    """The per-item predictions of several runs, with a `run` column, every file checked first."""
    for path in paths:
        verify_predictions(path)
    frames = [pd.read_parquet(p).assign(run=run_name(p)) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def verify_table(path: Path) -> str:
    """The sha256 of a probe table, once it equals the one its sidecar records."""
    return _verify_recorded(Path(path), sidecar(path), TABLE_HASH)


def read_run_metrics(path: Path) -> pd.DataFrame:
    """One run's metrics table, checked."""
    verify_metrics(path)
    return pd.read_parquet(path)


def read_metrics(paths: list[Path]) -> pd.DataFrame:
    """The metrics of several runs in one table, with a `run` column (every file checked before any is used)."""
    for path in paths:
        verify_metrics(path)
    return pd.concat([pd.read_parquet(p).assign(run=run_name(p)) for p in paths], ignore_index=True)


def read_table(path: Path) -> pd.DataFrame:
    """One probe table, checked."""
    verify_table(path)
    return pd.read_parquet(path)


def read_tables(paths: list[Path]) -> pd.DataFrame:
    """Probe tables of several runs in one table (empty when there are none), every file checked first."""
    for path in paths:
        verify_table(path)
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()
