"""A self-contained HTML page: every figure with its caption, the claims table, and run provenance."""

import html
import json
import os
from pathlib import Path

import pandas as pd


def read_captions(paths: list[Path]) -> dict[str, str]:
    """Figure captions by kind, one text file each (workflow/report/<kind>.rst, shared with Snakemake's report)."""
    return {Path(p).stem: " ".join(Path(p).read_text().split()) for p in paths}


def _caption(stem: str, captions: dict[str, str]) -> str:
    for key, text in captions.items():
        if stem.startswith(key):
            return text
    return stem


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, escape=True, border=0, classes="tbl")


def _monitors_section(view: pd.DataFrame | None) -> str:
    """The monitors table (grokstudy.monitors.verdicts.monitors_view) with what it means."""
    if view is None:
        return ""
    return f"""<h2>Monitors: test-free alarms against the nulls (docs/monitors.md)</h2>
<p>Each monitor is read off checkpoints and training facts only; its detector was tuned on the
development seeds and frozen before the held-out runs were scored. Lead: log10(T90 / alarm step) on
held-out runs, median with a hierarchical bootstrap interval; "minus" columns: the paired median
difference to each null. False alarms: alarms on the runs that never generalized.</p>
{_table(view)}
"""


def build(
    name: str,
    description: str,
    figures: list[Path],
    captions: dict[str, str],
    claims: pd.DataFrame,
    run_summaries: list[Path],
    out: Path,
    monitors: pd.DataFrame | None = None,
) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = []
    for path in run_summaries:
        summary = json.loads(Path(path).read_text())
        runs.append(
            {
                "run": Path(path).parent.name,
                "steps": summary["run_params"]["steps"],
                "device": summary["device"],
                "seconds (last invocation)": summary["seconds_this_invocation"],
                "seed": summary["seed"],
                **{f"final {k}": v for k, v in summary["final"].items() if k != "train_batches"},
            }
        )
    sections = []
    for figure in figures:
        rel = os.path.relpath(figure, out.parent)
        stem = Path(figure).stem
        sections.append(
            f'<figure><img src="{html.escape(rel)}" alt="{html.escape(stem)}"><figcaption><b>{html.escape(stem)}.</b> '
            f'{html.escape(_caption(stem, captions))} Data: <a href="{html.escape(rel[:-4])}.csv">CSV</a>, '
            f'<a href="{html.escape(rel[:-4])}.pdf">PDF</a>.</figcaption></figure>'
        )
    passed = int((claims["status"] == "reproduced").sum())
    tested = ", ".join(claims["claim"].astype(str)) if len(claims) else "none"
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>grokstudy report: {html.escape(name)}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}} img{{max-width:100%}}
figure{{margin:2em 0}} .tbl{{border-collapse:collapse;font-size:90%}} \
.tbl td,.tbl th{{border:1px solid #ccc;padding:4px}}</style>
</head><body>
<h1>Grokked transformers as implicit reasoners: preset <code>{html.escape(name)}</code></h1>
<p>{html.escape(description)}</p>
<h2>Claims ({html.escape(tested)}; docs/claims.md): {passed} of {len(claims)} reproduced</h2>
<p>A claim is reproduced only when every seed passes; "not reproduced" means the paper's own test
failed, "not tested as stated" that our measurement could not follow the paper's, "inconclusive"
that the runs ended before the test could decide. The criteria (version
{html.escape(str(claims["criteria_version"].iloc[0]) if "criteria_version" in claims else "?")}) were
fixed from the paper's statements; their history is in docs/claims.md. Baselines: relation
frequency (composition), majority label (comparison), uniform chance.</p>
{_table(claims)}
{_monitors_section(monitors)}<h2>Runs</h2>
{_table(pd.DataFrame(runs))}
<h2>Figures</h2>
{"".join(sections)}
</body></html>
"""
    out.write_text(page)
