"""A self-contained HTML page: every figure with its caption, the claims table, and run provenance."""

import html
import json
import os
from pathlib import Path

import pandas as pd

CAPTIONS = {
    "accuracy_curves": "Accuracy of every split against training step (log axis), as in the paper's Figure 1: "
    "composition (left) and comparison (right). Grokking shows as ID test accuracy rising long after training accuracy saturates.",
    "phi_sweep": "ID test accuracy (solid) and training two-hop accuracy (dashed) for each inferred/atomic ratio phi, "
    "as in the paper's Figure 2a: a higher phi generalizes sooner.",
    "weight_decay": "The same for two weight decays on the same data: a larger weight decay speeds up grokking.",
    "logit_lens": "Logit lens: mean reciprocal rank of the bridge entity (r1) and of the answer (r2) decoded from each layer's "
    "residual stream. Top: trained network across checkpoints. Bottom: final checkpoint against nulls (step-0 checkpoint, "
    "randomly initialized networks, analytic chance), with bootstrap confidence intervals.",
    "causal_tracing": "Causal tracing (composition): the drop in the probability of the correct answer when one hidden state "
    "(layer, position) of a two-hop query is replaced by its value on the same query with another head entity. "
    "Rows 1-2: trained network across checkpoints on training and ID test two-hop queries. Bottom: final checkpoint per layer "
    "against nulls (step-0 checkpoint, randomly initialized networks), with bootstrap confidence intervals.",
}


def _caption(stem: str) -> str:
    for key, text in CAPTIONS.items():
        if stem.startswith(key):
            return text
    return stem


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, escape=True, border=0, classes="tbl")


def build(name: str, description: str, figures: list[Path], claims: pd.DataFrame, run_summaries: list[Path], out: Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = []
    for path in run_summaries:
        summary = json.loads(Path(path).read_text())
        runs.append({
            "run": Path(path).parent.name, "steps": summary["run_params"]["steps"], "device": summary["device"],
            "seconds (last invocation)": summary["seconds_this_invocation"], "seed": summary["seed"],
            **{f"final {k}": v for k, v in summary["final"].items() if k != "train_batches"},
        })
    sections = []
    for figure in figures:
        rel = os.path.relpath(figure, out.parent)
        stem = Path(figure).stem
        sections.append(
            f'<figure><img src="{html.escape(rel)}" alt="{html.escape(stem)}"><figcaption><b>{html.escape(stem)}.</b> '
            f"{html.escape(_caption(stem))} Data: <a href=\"{html.escape(rel[:-4])}.csv\">CSV</a>, "
            f"<a href=\"{html.escape(rel[:-4])}.pdf\">PDF</a>.</figcaption></figure>"
        )
    passed = int((claims["status"] == "pass").sum())
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>grokstudy report: {html.escape(name)}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}} img{{max-width:100%}}
figure{{margin:2em 0}} .tbl{{border-collapse:collapse;font-size:90%}} .tbl td,.tbl th{{border:1px solid #ccc;padding:4px}}</style>
</head><body>
<h1>Grokked transformers as implicit reasoners: preset <code>{html.escape(name)}</code></h1>
<p>{html.escape(description)}</p>
<h2>Claims (the paper's C1-C7, docs/study.md section 4): {passed} of {len(claims)} pass</h2>
{_table(claims)}
<h2>Runs</h2>
{_table(pd.DataFrame(runs))}
<h2>Figures</h2>
{''.join(sections)}
</body></html>
"""
    out.write_text(page)
