"""Reading the workflow's result tables back: each run's metrics live in runs/<run>/metrics.parquet."""

from pathlib import Path

import pandas as pd


def run_name(metrics_path: Path) -> str:
    """The run a metrics table belongs to: the name of its directory."""
    return Path(metrics_path).parent.name


def read_metrics(paths: list[Path]) -> pd.DataFrame:
    """The metrics of several runs in one table, with a `run` column."""
    return pd.concat([pd.read_parquet(p).assign(run=run_name(p)) for p in paths], ignore_index=True)


def read_tables(paths: list[Path]) -> pd.DataFrame:
    """Probe tables of several runs in one table (empty when there are none)."""
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()
