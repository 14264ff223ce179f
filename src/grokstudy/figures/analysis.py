"""Draw an analysis's figure: its registry row names the function; the tables are checked on read."""

import importlib
from pathlib import Path

from grokstudy.figures import save
from grokstudy.results import read_table


def draw(function: str, inputs: dict[str, Path], dpi: int, out_prefix: Path) -> list[Path]:
    """`function` is "module:name", called with {table name: table}; it returns (figure, data)."""
    module, name = function.split(":")
    tables = {table: read_table(path) for table, path in inputs.items()}
    save.style()
    fig, data = getattr(importlib.import_module(module), name)(tables)
    return save.save(fig, data, out_prefix, dpi)
