"""Figures of the recurrent-depth arm: test-time recurrence sweeps, and the logit lens per loop."""

import matplotlib.pyplot as plt
import pandas as pd

from grokstudy.figures.styles import NETWORK_LABELS, NULL_STYLES, name_sites_on_x

SPLIT_LABELS = {"train_inferred": "train two-hop", "test_inferred_id": "ID test", "test_inferred_ood": "OOD test"}
SPLIT_COLORS = {"train_inferred": "tab:blue", "test_inferred_id": "tab:green", "test_inferred_ood": "tab:red"}


def recurrence_sweep_figure(tables: dict[str, pd.DataFrame]):
    """The last checkpoint run with r loops: accuracy and mean answer margin (with its CI) per split."""
    sweep = tables["recurrence_sweep"]
    final = sweep[sweep["step"] == sweep["step"].max()].sort_values("recurrence")
    fig, (accuracy_ax, margin_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for split, rows in final.groupby("split", sort=False):
        style = {"color": SPLIT_COLORS.get(split), "label": SPLIT_LABELS.get(split, split), "marker": "."}
        accuracy_ax.plot(rows["recurrence"], rows["accuracy"], **style)
        margin_ax.plot(rows["recurrence"], rows["margin"], **style)
        margin_ax.fill_between(
            rows["recurrence"], rows["margin_ci_low"], rows["margin_ci_high"], color=style["color"], alpha=0.2
        )
    trained = int(final["trained_recurrence"].iloc[0])
    for ax in (accuracy_ax, margin_ax):
        ax.axvline(trained, color="black", linestyle=":", label=f"training recurrence ({trained})")
        ax.set_xlabel("loops at test time (r)")
        ax.set_xticks(final["recurrence"].unique())
    accuracy_ax.set(ylabel="accuracy", ylim=(-0.02, 1.02), title=f"accuracy, step {int(final['step'].max())}")
    margin_ax.set(ylabel="answer margin (logit)", title="target minus best other entity")
    margin_ax.axhline(0, color="grey", linewidth=0.8)
    accuracy_ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return fig, final


def _shade_iterations(ax, rows: pd.DataFrame) -> None:
    """Alternate bands over the residual states of each loop, labelled at the top."""
    for iteration, depths in rows.groupby("iteration")["layer"]:
        if iteration == 0:
            continue
        low, high = depths.min() - 0.5, depths.max() + 0.5
        if iteration % 2:
            ax.axvspan(low, high, color="grey", alpha=0.12, linewidth=0)
        ax.text((low + high) / 2, 1.0, f"loop{iteration}", ha="center", va="bottom", fontsize="small")


def _iteration_panel(ax, data: pd.DataFrame, site: str, split: str) -> None:
    final_step = data.loc[data["network"] == "trained", "step"].max()
    rows = data[(data["site"] == site) & (data["split"] == split)]
    trained = rows[(rows["network"] == "trained") & (rows["step"] == final_step)].sort_values("layer")
    ax.plot(trained["layer"], trained["mrr"], marker="o", color="tab:blue", label=NETWORK_LABELS["trained"])
    ax.fill_between(trained["layer"], trained["ci_low"], trained["ci_high"], color="tab:blue", alpha=0.2)
    for network, (marker, color) in NULL_STYLES.items():
        null = rows[rows["network"] == network].groupby("layer")["ci_high"].max()
        if not null.empty:
            ax.plot(
                null.index, null.to_numpy(), marker=marker, color=color, linestyle="--", label=NETWORK_LABELS[network]
            )
    _shade_iterations(ax, trained)
    name_sites_on_x(ax, trained, trained["layer"])
    ax.set(ylim=(0, 1.08), ylabel="MRR", title=f"{site}, {SPLIT_LABELS.get(split, split)}")


def iteration_lens(data: pd.DataFrame, sites=("bridge at r1", "answer at r2")):
    """The final checkpoint's lens per residual site on ID and OOD queries, loops shaded, against the upper
    CI bounds of the nulls (dashed)."""
    splits = ("test_inferred_id", "test_inferred_ood")
    fig, axes = plt.subplots(len(splits), len(sites), figsize=(5.2 * len(sites), 3.4 * len(splits)), squeeze=False)
    for row, split in enumerate(splits):
        for col, site in enumerate(sites):
            _iteration_panel(axes[row][col], data, site, split)
    axes[0][0].legend(loc="lower right", fontsize="x-small")
    fig.tight_layout()
    return fig
