"""The generated results pages and the README's status lines, on a small synthetic claims.csv; and
the README staying a front page."""

from pathlib import Path

import pandas as pd
import pytest

from grokstudy import claims_table, results_page

REPO = Path(__file__).resolve().parents[1]
PRESET = {"name": "toy", "description": "A toy preset: two claims, one of them untested."}


def _claims(results: Path) -> None:
    (results / "report").mkdir(parents=True)
    pd.DataFrame(
        [
            {
                "claim": "R3",
                "statement": "OOD generalizes only after ID: three stages",
                "seeds_passing": "2 of 3",
                "pooled": "steps 1.5 [1.0, 2.0]",
                "status": "mixed",
                "criteria_version": "R1",
            },
            {
                "claim": "C4",
                "statement": "world size barely matters | per epoch",
                "seeds_passing": "-",
                "pooled": "-",
                "status": "not tested",
                "criteria_version": "R1",
            },
        ]
    ).to_csv(results / "report" / "claims.csv", index=False)


def test_status_lines_give_each_tested_claims_statement_seeds_and_verdict(tmp_path):
    _claims(tmp_path)
    line = "- **R3** OOD generalizes only after ID: three stages — 2 of 3 seeds, mixed"
    assert results_page.status_lines(tmp_path) == line


def test_the_page_holds_notice_description_and_the_full_claims_table(tmp_path, monkeypatch):
    results = tmp_path / "results" / "toy"
    _claims(results)
    written = results_page.write(tmp_path, tmp_path / "config" / "toy.yaml", PRESET, results)
    assert written == tmp_path / "docs" / "results" / "toy.md"
    page = written.read_text()
    assert page.startswith(
        "<!-- Generated from results/toy/report by `grokstudy results-page --configfile config/toy.yaml`"
    )
    assert "# Results of the `toy` preset" in page and "`config/toy.yaml`: A toy preset" in page
    assert "Criteria version R1." in page and claims_table.markdown(results) + "\n" in page
    assert "| C4 | - | - | not tested |" in page and "## Monitors" not in page
    assert page == results_page.page(PRESET, "config/toy.yaml", results)

    monkeypatch.setattr(claims_table, "monitors_markdown", lambda results: "| monitor |\n|---|")
    scored = results_page.page({**PRESET, "monitors": {"detectors": "d.json"}}, "config/toy.yaml", results)
    legend = results_page._paragraph(results_page.MONITORS_LEGEND)
    assert scored.endswith(f"## Monitors\n\n{legend}\n\n| monitor |\n|---|\n")
    unscored = results_page.page({**PRESET, "monitors": {"detectors": None}}, "config/toy.yaml", results)
    assert "## Monitors" not in unscored


def test_a_preset_without_a_report_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="run or restore the preset first"):
        results_page.status_lines(tmp_path)


def test_the_readme_is_a_front_page_of_at_most_200_lines():
    assert len((REPO / "README.md").read_text().splitlines()) <= 200
