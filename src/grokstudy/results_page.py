"""A preset's results page, docs/results/<name>.md, and its status lines on the README, both
rendered from the preset's report, so that the front page and the pages say what the sealed
evidence says (a test regenerates both from the committed evidence and compares)."""

import os
import textwrap
from pathlib import Path

from grokstudy import claims_table
from grokstudy.claims.criteria import NOT_TESTED

PAGES = Path("docs") / "results"
WIDTH = 100

CLAIMS_LEGEND = (
    "Criteria version {versions}. Each claim is tested per seed with criteria fixed before the runs "
    "were read ([docs/claims.md](../claims.md)): *seeds passing* is k of n seeds, *pooled* the mean "
    "over seeds with its 95 % t interval. Each seed's measurement is in "
    "`results/{name}/report/claims.csv`; what the numbers say, and what they do not, is written by "
    "hand in the pages the [README](../../README.md#results) links."
)
MONITORS_LEGEND = (
    "Read off checkpoints and training facts only, with detectors tuned on the development seeds and "
    "frozen before any held-out run existed ([docs/monitors.md](../monitors.md)). Lead in decades, "
    "log10(T90 / alarm step), median over the held-out runs with a hierarchical bootstrap 95 % "
    'interval; "minus" columns: the paired median difference to each null; rows marked null are the '
    "nulls themselves."
)


def status_lines(results: Path) -> str:
    """The README's lines for a preset: one per claim it tests, with the claim's statement, k of n
    seeds and the verdict (a dash, since statements hold colons; the page's table also lists the
    claims the preset does not test)."""
    return "\n".join(
        f"- **{row['claim']}** {row['statement']} — {row['seeds_passing']} seeds, {row['status']}"
        for row in claims_table.claim_rows(results)
        if row["status"] != NOT_TESTED
    )


def _criteria_versions(results: Path) -> str:
    return ", ".join(sorted({row["criteria_version"] for row in claims_table.claim_rows(results)}))


def _paragraph(text: str) -> str:
    # Hyphens and long words stay whole: a break inside "held-out" or a path would show in Markdown.
    return textwrap.fill(text, WIDTH, break_on_hyphens=False, break_long_words=False)


def page(preset: dict, configfile: str, results: Path) -> str:
    """The page of `results/<preset>`: notice, name and description, claims table, and the monitors
    table when the preset scores frozen detectors."""
    name = preset["name"]
    command = f"grokstudy results-page --configfile {configfile}"
    sections = [
        f"<!-- Generated from results/{name}/report by `{command}`: do not edit by hand. -->",
        f"# Results of the `{name}` preset",
        _paragraph(f"`{configfile}`: {preset['description']}"),
        _paragraph(f"This page is generated: after a run or a restore of the preset, `{command}` writes it again."),
        "## Claims",
        _paragraph(CLAIMS_LEGEND.format(versions=_criteria_versions(results), name=name)),
        claims_table.markdown(results),
    ]
    if (preset.get("monitors") or {}).get("detectors"):
        sections += ["## Monitors", _paragraph(MONITORS_LEGEND), claims_table.monitors_markdown(results)]
    return "\n\n".join(sections) + "\n"


def write(root: Path, configfile: Path, preset: dict, results: Path) -> Path:
    """Write the page under `root`; the notice names the preset file relative to the root, so the
    page does not depend on how the command was called."""
    relative = Path(os.path.relpath(Path(configfile).resolve(), Path(root).resolve())).as_posix()
    path = Path(root) / PAGES / f"{preset['name']}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page(preset, relative, results))
    return path
