"""A preset's results tables as Markdown, rendered from its claims.csv and monitors table, so that
what the results pages quote is what the report says (a test compares them on the committed evidence)."""

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


def claim_rows(results: Path) -> list[dict]:
    """The rows of `results/<preset>`'s claims.csv, one per claim, in the report's order."""
    with _existing(Path(results) / CLAIMS_CSV).open(newline="") as handle:
        return list(csv.DictReader(handle))


def markdown(results: Path) -> str:
    """The claims table of `results/<preset>` as Markdown, one row per claim, in the report's order."""
    return _rendered(HEADER, [[row[field] for field in FIELDS] for row in claim_rows(results)])


def monitors_markdown(results: Path) -> str:
    """The monitors table of `results/<preset>` as Markdown, as the report prints it."""
    from grokstudy.monitors.verdicts import monitors_view
    from grokstudy.results import read_table

    view = monitors_view(read_table(_existing(Path(results) / MONITORS_TABLE)))
    return _rendered(list(view.columns), view.itertuples(index=False))
