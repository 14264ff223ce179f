"""Figures of the monitors' evaluation: each group's course (accuracies above, one panel per series
below, with the random-init band, the non-grokking runs and the alarms), the lead forest against
the nulls, alarm time against T90, and lead against false alarms."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from grokstudy.monitors.events import ID_SPLIT, TRAIN_SPLIT
from grokstudy.monitors.leads import select, series_keys

PRIMARY_DETECTOR = "cusum"  # whose alarms the course figure marks
ROLE_STYLE = {
    "dev": {"color": "tab:blue", "lw": 1.0, "alpha": 0.8},
    "held_out": {"color": "tab:orange", "lw": 1.0, "alpha": 0.8},
    "non_grokking": {"color": "0.35", "lw": 1.0, "ls": "--", "alpha": 0.8},
}


def _accuracy_panel(ax, metrics: dict[str, pd.DataFrame], shown: dict[str, str]) -> None:
    for run, role in shown.items():
        frame = metrics[run]
        for split, ls in ((ID_SPLIT, "-"), (TRAIN_SPLIT, ":")):
            rows = frame[(frame["split"] == split) & (frame["step"] > 0)].sort_values("step")
            ax.plot(rows["step"], rows["accuracy"], **{**ROLE_STYLE[role], "ls": ls})
    ax.set_title("accuracy: ID test (solid), training two-hop (dotted)")
    ax.set_ylabel("accuracy")


def _monitor_panel(ax, key, frames, shown, band, alarms) -> None:
    for run, role in shown.items():
        rows = select(frames[run], key)
        rows = rows[rows["step"] > 0]
        ax.plot(rows["step"], rows["value"], **ROLE_STYLE[role])
        fired = alarms.get(run)
        if fired is not None and not math.isnan(fired):
            at = rows[rows["step"] == fired]["value"]
            ax.plot([fired], [at.iloc[0] if len(at) else rows["value"].median()], "v", color=ROLE_STYLE[role]["color"])
    noise = select(band, key)
    noise = noise[noise["step"] > 0].groupby("step")["value"].agg(["min", "max"])
    if not noise.empty:
        ax.fill_between(noise.index, noise["min"], noise["max"], color="grey", alpha=0.3, lw=0)
    ax.set_title(f"{key[0]} ({key[1]})", fontsize="small")


def course_figure(group: str, frames, metrics, band, lead_times, roles):
    """One monitor group: accuracies, then each of its series that tuning reads; seeds as lines (dev
    blue, held-out orange, non-grokking dashed grey), the random-init band grey, primary-detector
    alarms as ticks. `frames`: run -> every group's rows; `roles`: run -> (role, configuration)."""
    shown = {run: role for run, (role, _) in roles.items()}
    mine = {run: frame[frame["group"] == group] for run, frame in frames.items()}
    first = next(iter(mine.values()))
    keys = [key for key in series_keys(next(iter(frames.values()))) if not select(first, key).empty]
    columns = 4
    rows = 1 + max(1, -(-len(keys) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.0 * columns, 2.7 * rows), squeeze=False)
    _accuracy_panel(axes[0, 0], metrics, shown)
    for ax in axes[0, 1:]:
        ax.set_visible(False)
    primary = lead_times[lead_times["detector"] == PRIMARY_DETECTOR]
    for ax, key in zip(axes[1:].flat, keys, strict=False):
        alarms = primary[(primary["monitor"] == key[0]) & (primary["site"] == key[1])]
        _monitor_panel(ax, key, mine, shown, band, dict(zip(alarms["run"], alarms["t_alarm"], strict=True)))
    for ax in list(axes[1:].flat)[len(keys) :]:
        ax.set_visible(False)
    for ax in axes.flat:
        if ax.get_visible():
            ax.set_xscale("log")
            ax.set_xlabel("step")
    fig.suptitle(f"monitors of the {group} group, on training data; grey band: fresh networks; ticks: alarms")
    fig.tight_layout()
    data = pd.concat([mine[run].assign(role=role) for run, role in shown.items()] + [band.assign(role="band")])
    return fig, data


def _labels(table: pd.DataFrame) -> list[str]:
    return [f"{m} ({s}) {d}" for m, s, d in zip(table["monitor"], table["site"], table["detector"], strict=True)]


def lead_forest_figure(table: pd.DataFrame):
    """Median lead [interval] on held-out runs per monitor and detector, nulls in grey below, and a
    false-alarm column (non-grokking runs; the random-init band)."""
    scored = table[table["held_out"].notna() & (table["held_out"] > 0)]
    scored = pd.concat([scored[scored["verdict"] != "null"], scored[scored["verdict"] == "null"]])
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(scored) + 1.5))
    y = np.arange(len(scored))[::-1]
    colors = ["grey" if v == "null" else ("tab:green" if v == "predicts" else "tab:blue") for v in scored["verdict"]]
    ax.errorbar(
        scored["median_lead"],
        y,
        xerr=[scored["median_lead"] - scored["median_lead_low"], scored["median_lead_high"] - scored["median_lead"]],
        fmt="none",
        ecolor=colors,
    )
    ax.scatter(scored["median_lead"], y, c=colors, zorder=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, _labels(scored), fontsize="small")
    right = ax.secondary_yaxis("right")
    right.set_yticks(y, [_false_alarm_text(row) for row in scored.itertuples()], fontsize="small")
    ax.set_xlabel("median lead on held-out runs, log10(T90 / alarm step); > 0: before T90")
    ax.set_title("Lead against the nulls (grey); right: false alarms on non-grokking runs, band rate")
    fig.tight_layout()
    return fig, scored


def _false_alarm_text(row) -> str:
    band = "" if pd.isna(row.band_false_alarm) else f", band {row.band_false_alarm:.0%}"
    ng = "" if pd.isna(row.non_grokking) else f"{int(row.false_alarms)}/{int(row.non_grokking)}"
    return ng + band


def alarm_times_figure(lead_times: pd.DataFrame):
    """Alarm step against T90 on held-out runs (primary detector), log-log, with the identity line:
    points below it are alarms before generalization."""
    held = lead_times[
        (lead_times["role"] == "held_out")
        & lead_times["t90"].notna()
        & lead_times["t_alarm"].notna()
        & (lead_times["detector"].isin([PRIMARY_DETECTOR]) | (lead_times["monitor"] == "schedule"))
    ]
    fig, ax = plt.subplots(figsize=(9, 5.5))
    series = list(held.groupby(["monitor", "site"], sort=True))
    colors = plt.get_cmap("tab20").colors
    for i, ((monitor, site), rows) in enumerate(series):
        # Alarms and T90 fall on the same few steps: spread the series sideways, in log x, to see each.
        spread = 10 ** (0.03 * (i / max(len(series) - 1, 1) - 0.5))
        style = {"color": colors[i % len(colors)], "marker": "osD^vP"[i % 6]}
        ax.scatter(rows["t90"] * spread, rows["t_alarm"], s=22, label=f"{monitor} ({site})", **style)
    if not held.empty:
        low = float(min(held["t90"].min(), held["t_alarm"].min())) * 0.8
        high = float(max(held["t90"].max(), held["t_alarm"].max())) * 1.2
        ax.plot([low, high], [low, high], color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("T90 (ID accuracy >= 0.9 at two evaluations)")
    ax.set_ylabel("alarm step")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(
        f"Held-out runs, {PRIMARY_DETECTOR}: alarm against T90 (below the line: announced; series spread sideways)",
        fontsize="small",
    )
    fig.tight_layout()
    return fig, held


def false_alarm_figure(table: pd.DataFrame):
    """Median lead against the false-alarm rate on non-grokking runs (filled) and on the band (open)."""
    scored = table[table["held_out"].notna() & (table["held_out"] > 0)].copy()
    scored["false_alarm_rate"] = scored["false_alarms"] / scored["non_grokking"].where(scored["non_grokking"] > 0)
    fig, ax = plt.subplots(figsize=(7, 5.5))
    for row, label in zip(scored.itertuples(), _labels(scored), strict=True):
        color = "grey" if row.verdict == "null" else "tab:blue"
        ax.scatter(row.false_alarm_rate, row.median_lead, color=color)
        if not pd.isna(row.band_false_alarm):
            ax.scatter(row.band_false_alarm, row.median_lead, facecolors="none", edgecolors=color)
        ax.annotate(label, (row.false_alarm_rate, row.median_lead), fontsize="xx-small")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("false-alarm rate: non-grokking runs (filled), random-init band (open)")
    ax.set_ylabel("median lead on held-out runs")
    ax.set_title("Lead against false alarms")
    fig.tight_layout()
    return fig, scored
