"""Byte-reproducible figure files: no timestamps or tool versions in the metadata."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

PNG_METADATA = {"Software": None}
PDF_METADATA = {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}


def style() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)
    plt.rcParams["svg.hashsalt"] = "grokstudy"


def save(fig, data: pd.DataFrame, prefix: Path, dpi: int) -> list[Path]:
    """Write prefix.png, prefix.pdf and prefix.csv (the data behind the figure)."""
    # Run names contain dots, so append suffixes instead of Path.with_suffix.
    png, pdf, csv = (Path(f"{prefix}.{ext}") for ext in ("png", "pdf", "csv"))
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=dpi, metadata=PNG_METADATA, bbox_inches="tight")
    fig.savefig(pdf, metadata=PDF_METADATA, bbox_inches="tight")
    data.to_csv(csv, index=False, float_format="%.6g")
    plt.close(fig)
    return [png, pdf, csv]
