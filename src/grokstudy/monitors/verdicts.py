"""The monitors table: for each monitor and detector, its cost, hits, false alarms (in all and per
non-grokking configuration), median lead and lead over each null on the held-out runs, and the
verdict the protocol's rule gives.

"Monitor X predicts generalization" needs, on held-out runs: a paired lead over each of the
schedule-only, training-loss, training-accuracy and total-weight-norm nulls whose interval lies
above 0; false alarms on non-grokking runs at most `max_false_alarm`; hits at least `min_hits`.
"""

from __future__ import annotations

import math

import pandas as pd

from dataclasses import dataclass

from grokstudy.monitors import leads
from grokstudy.monitors.protocol import key_name, key_of

NULLS_TO_BEAT = (leads.SCHEDULE, *leads.NULL_SERIES)
# Per non-grokking configuration (`false_alarms:comp_phi7.2_wd0`): a slow generalizer (weight decay 0)
# and a run that cannot generalize (shuffled labels) read differently, though the rule counts both.
FALSE_ALARMS_OF, NON_GROKKING_OF = "false_alarms:", "non_grokking:"


@dataclass(frozen=True)
class JudgingSettings:
    max_false_alarm: float  # false alarms on non-grokking held-out runs a claimed monitor may raise
    min_hits: float  # share of held-out runs it must announce before T90
    resamples: int
    confidence: float

    @classmethod
    def of(cls, settings: dict) -> JudgingSettings:
        return cls(**{key: settings[key] for key in cls.__dataclass_fields__})


def _null_rows(table: pd.DataFrame, null: str, detector: str) -> pd.DataFrame:
    if null == leads.SCHEDULE:
        return table[table["monitor"] == leads.SCHEDULE]
    monitor, site = leads.NULL_SERIES[null]
    return table[(table["monitor"] == monitor) & (table["site"] == site) & (table["detector"] == detector)]


def _held_out(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[(rows["role"] == "held_out") & rows["t90"].notna()]


def _by_configuration(rows: pd.DataFrame, column: str = "lead") -> dict[str, list[float]]:
    return {c: g[column].astype(float).tolist() for c, g in rows.groupby("configuration", sort=True)}


def _paired(monitor: pd.DataFrame, null: pd.DataFrame) -> dict[str, list[float]]:
    merged = _held_out(monitor).merge(_held_out(null)[["run", "lead"]], on="run", suffixes=("", "_null"))
    return {c: (g["lead"] - g["lead_null"]).tolist() for c, g in merged.groupby("configuration", sort=True)}


def _false_alarms(quiet_runs: pd.DataFrame) -> int:
    return int((quiet_runs["outcome"] == "false_alarm").sum())


def _counts(rows: pd.DataFrame) -> dict:
    grokked = _held_out(rows)
    quiet_runs = rows[(rows["role"] == "non_grokking") & rows["t90"].isna()]
    band = rows[rows["role"] == "band"]
    counts = {
        "held_out": len(grokked),
        "hits": int((grokked["outcome"] == "hit").sum()),
        "late": int((grokked["outcome"] == "late").sum()),
        "misses": int((grokked["outcome"] == "miss").sum()),
        "non_grokking": len(quiet_runs),
        "false_alarms": _false_alarms(quiet_runs),
        "band_false_alarm": float((band["outcome"] == "false_alarm").mean()) if len(band) else math.nan,
    }
    for configuration, runs in quiet_runs.groupby("configuration", sort=True):
        counts[f"{NON_GROKKING_OF}{configuration}"] = len(runs)
        counts[f"{FALSE_ALARMS_OF}{configuration}"] = _false_alarms(runs)
    return counts


def monitor_row(table: pd.DataFrame, rows: pd.DataFrame, detector: str, settings: JudgingSettings) -> dict:
    """One monitor and detector on the held-out runs, against every null, with its verdict."""
    counts = _counts(rows)
    lead, low, high = leads.hierarchical_bootstrap_median(
        _by_configuration(_held_out(rows)), settings.resamples, settings.confidence
    )
    row = {**counts, "median_lead": lead, "median_lead_low": low, "median_lead_high": high}
    row["sign_test_p"] = leads.exact_sign_test(_held_out(rows)["lead"].astype(float).tolist())
    for null in NULLS_TO_BEAT:
        diff = leads.hierarchical_bootstrap_median(
            _paired(rows, _null_rows(table, null, detector)), settings.resamples, settings.confidence
        )
        row.update({f"minus_{null}": diff[0], f"minus_{null}_low": diff[1], f"minus_{null}_high": diff[2]})
    row["verdict"] = verdict(row, settings)
    return row


def verdict(row: dict, settings: JudgingSettings) -> str:
    """'predicts', 'does not predict: <why>' or 'inconclusive: <why>'."""
    if row["held_out"] == 0:
        return "inconclusive: no held-out run reached T90"
    if row["non_grokking"] == 0:
        return "inconclusive: no non-grokking run to count false alarms on"
    reasons = []
    if row["hits"] / row["held_out"] < settings.min_hits:
        reasons.append(f"hits {row['hits']}/{row['held_out']} < {settings.min_hits:.0%}")
    if row["false_alarms"] / row["non_grokking"] > settings.max_false_alarm:
        reasons.append(f"false alarms {row['false_alarms']}/{row['non_grokking']} > {settings.max_false_alarm:.0%}")
    for null in NULLS_TO_BEAT:
        low = row[f"minus_{null}_low"]
        if not low > 0:
            reasons.append(f"lead over {null} not above 0")
    return "predicts" if not reasons else "does not predict: " + "; ".join(reasons)


def monitors_table(
    table: pd.DataFrame, frozen: dict, costs: dict[str, float], settings: JudgingSettings
) -> pd.DataFrame:
    """Every tuned series and detector kind, the nulls' own series included (their verdict reads
    'null'), and a row for each series no detector setting could be tuned for."""
    rows = []
    null_names = {key_name(key) for key in leads.NULL_SERIES.values()}
    for name, kinds in frozen["detectors"].items():
        monitor, site = key_of(name)
        for kind, tuned in kinds.items():
            labels = {"monitor": monitor, "site": site, "detector": kind, "seconds_per_checkpoint": costs.get(name)}
            if tuned is None:
                rows.append({**labels, "verdict": "no detector: every setting raised too many band alarms on dev"})
                continue
            mine = table[(table["monitor"] == monitor) & (table["site"] == site) & (table["detector"] == kind)]
            row = {**labels, **monitor_row(table, mine, kind, settings)}
            if name in null_names:
                row["verdict"] = "null"
            rows.append(row)
    schedule = table[table["monitor"] == leads.SCHEDULE]
    if not schedule.empty:
        first = schedule.iloc[0]
        labels = {"monitor": leads.SCHEDULE, "site": first["site"], "detector": first["detector"]}
        row = monitor_row(table, schedule, "", settings)
        rows.append({**labels, "seconds_per_checkpoint": 0.0, **row, "verdict": "null"})
    return pd.DataFrame(rows)


def non_grokking_configurations(table: pd.DataFrame) -> list[str]:
    """The non-grokking configurations whose false alarms the table gives apart (none in a table
    written before they were split)."""
    return [column.removeprefix(FALSE_ALARMS_OF) for column in table.columns if column.startswith(FALSE_ALARMS_OF)]


def monitors_view(table: pd.DataFrame) -> pd.DataFrame:
    """The monitors table as the report prints it: one row per monitor and detector."""

    def interval(row, column: str) -> str:
        value, low, high = row[column], row[f"{column}_low"], row[f"{column}_high"]
        return "" if pd.isna(value) else f"{value:+.3f} [{low:+.3f}, {high:+.3f}]"

    def share(row, alarms: str, runs: str) -> str:
        return "" if pd.isna(row.get(runs)) else f"{int(row[alarms])}/{int(row[runs])}"

    configurations = non_grokking_configurations(table)
    rows = []
    for _, row in table.iterrows():
        counted = not pd.isna(row.get("held_out"))
        rows.append(
            {
                "monitor": f"{row['monitor']} ({row['site']})",
                "detector": row["detector"],
                "s per checkpoint": ""
                if pd.isna(row["seconds_per_checkpoint"])
                else f"{row['seconds_per_checkpoint']:.2f}",
                "hits": share(row, "hits", "held_out"),
                "false alarms": share(row, "false_alarms", "non_grokking"),
                **{
                    f"false alarms {c}": share(row, f"{FALSE_ALARMS_OF}{c}", f"{NON_GROKKING_OF}{c}")
                    for c in configurations
                },
                "median lead [CI]": interval(row, "median_lead") if counted else "",
                **{f"minus {null}": interval(row, f"minus_{null}") if counted else "" for null in NULLS_TO_BEAT},
                "verdict": row["verdict"],
            }
        )
    return pd.DataFrame(rows)
