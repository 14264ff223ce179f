"""The README's results tables, rendered from a preset's claims.csv and monitors table, so that what
the README quotes is what the report says (a test compares them on the committed evidence)."""

import csv
from pathlib import Path

CLAIMS_CSV = Path("report") / "claims.csv"
MONITORS_TABLE = Path("probes") / "monitors" / "summary" / "monitors_table.parquet"
HEADER = ("claim", "seeds passing", "pooled", "status")
FIELDS = ("claim", "seeds_passing", "pooled", "status")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rendered(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(str(cell)) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run or restore the preset first")
    return path


def markdown(results: Path) -> str:
    """The claims table of `results/<preset>` as Markdown, one row per claim, in the report's order."""
    with _existing(Path(results) / CLAIMS_CSV).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return _rendered(HEADER, [[row[field] for field in FIELDS] for row in rows])


def monitors_markdown(results: Path) -> str:
    """The monitors table of `results/<preset>` as Markdown, as the report prints it."""
    from grokstudy.monitors.verdicts import monitors_view
    from grokstudy.results import read_table

    view = monitors_view(read_table(_existing(Path(results) / MONITORS_TABLE)))
    return _rendered(list(view.columns), view.itertuples(index=False))
