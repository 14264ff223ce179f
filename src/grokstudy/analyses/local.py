"""Run an analysis by its registry name in this process, outside the workflow (tests, the GPU check)."""

from pathlib import Path

import pandas as pd

from grokstudy.analyses import registry, runner


def analyse(
    name: str,
    run: str,
    task: str,
    data_dir: Path,
    settings: dict,
    checkpoint_dir: Path | None = None,
    run_dir: Path | None = None,
    model_spec: dict | None = None,
    device: str = "cpu",
    threads: int = 1,
) -> dict[str, pd.DataFrame]:
    """The analysis's checkpoint tables when `checkpoint_dir` is given, else its null tables."""
    row = registry.BY_NAME[name]
    job = runner.make_job(run, task, data_dir, settings, device, threads, model_spec=model_spec or {}, run_dir=run_dir)
    if checkpoint_dir is not None:
        return runner.analyse_checkpoints(row.module, job, Path(checkpoint_dir), row.tables)
    return runner.analyse_nulls(row.module, job, row.null_tables)
