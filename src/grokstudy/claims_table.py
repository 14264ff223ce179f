"""The README's results table, rendered from a preset's claims.csv, so that what the README quotes
is what the report says (a test compares them on the committed evidence)."""

import csv
from pathlib import Path

CLAIMS_CSV = Path("report") / "claims.csv"
HEADER = ("claim", "seeds passing", "pooled", "status")
FIELDS = ("claim", "seeds_passing", "pooled", "status")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(results: Path) -> str:
    """The claims table of `results/<preset>` as Markdown, one row per claim, in the report's order."""
    path = Path(results) / CLAIMS_CSV
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run or restore the preset first")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(_cell(row[field]) for field in FIELDS) + " |" for row in rows]
    return "\n".join(lines)
