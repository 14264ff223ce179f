"""Per-layer probes (logit lens, causal tracing): residual site x checkpoint heatmaps, and the final
checkpoint per residual site next to its nulls with uncertainty. Axes name each residual state by
its site (resid.{d}, or loop{i}.block{j} in a model that loops); a probe site, the `site` column
here, is a target at a prompt position."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from grokstudy.figures.styles import NETWORK_LABELS, NULL_STYLES, SITE_AXIS, name_sites_on_x, site_labels


def lens_table(lens: pd.DataFrame, nulls: pd.DataFrame) -> pd.DataFrame:
    """The run's lens and its null set's, one site per (target, position)."""
    data = pd.concat([lens, nulls], ignore_index=True)
    return data.assign(site=data["target"] + " at " + data["position"])


def _layer_heatmap(ax, site: pd.DataFrame, split: str, value: str, value_label: str, value_range, title: str):
    """The trained run's `value` on `split`, residual site x checkpoint step, the deepest first."""
    trained = site[site["network"].isin(["trained", "step0"]) & (site["split"] == split)]
    grid = trained.pivot_table(index="layer", columns="step", values=value).sort_index(ascending=False)
    sns.heatmap(
        grid,
        ax=ax,
        vmin=value_range[0],
        vmax=value_range[1],
        cmap="viridis",
        cbar_kws={"label": value_label},
        yticklabels=site_labels(site, grid.index),
    )
    ax.set(title=f"{title} ({split}), trained", xlabel="checkpoint step", ylabel=SITE_AXIS)


def _plot_final_checkpoint(ax, site: pd.DataFrame, value: str, final_step):
    """One line per split: the trained run at its last step, with its confidence interval."""
    final = site[(site["network"] == "trained") & (site["step"] == final_step)]
    for name, frame in final.groupby("split", sort=False):
        ax.errorbar(
            frame["layer"],
            frame[value],
            yerr=[frame[value] - frame["ci_low"], frame["ci_high"] - frame[value]],
            marker="o",
            capsize=3,
            label=f"trained @ {final_step}: {name}",
        )


def _plot_nulls(ax, site: pd.DataFrame, value: str, null_split: str):
    """Per null network, the mean over its seeds and the widest interval any of them reached."""
    for network, (marker, colour) in NULL_STYLES.items():
        null = site[(site["network"] == network) & (site["split"] == null_split)]
        if null.empty:
            continue
        spread = null.groupby("layer").agg(mid=(value, "mean"), low=("ci_low", "min"), high=("ci_high", "max"))
        ax.errorbar(
            spread.index,
            spread["mid"],
            yerr=[spread["mid"] - spread["low"], spread["high"] - spread["mid"]],
            marker=marker,
            linestyle="--",
            capsize=3,
            color=colour,
            label=f"{NETWORK_LABELS[network]}: {null_split}",
        )


def _final_vs_nulls(
    ax,
    site: pd.DataFrame,
    final_step,
    value: str,
    value_label: str,
    null_split: str,
    value_range,
    chance: str | None,
    legend_loc: str,
    title: str,
):
    """The bottom row: the final checkpoint per layer next to the nulls, and chance where it is known."""
    _plot_final_checkpoint(ax, site, value, final_step)
    _plot_nulls(ax, site, value, null_split)
    if chance:
        ax.axhline(site[chance].iloc[0], color="red", linestyle=":", label="chance (analytic)")
    name_sites_on_x(ax, site, np.arange(site["layer"].max() + 1))
    ax.set(
        ylabel=value_label,
        ylim=(value_range[0], value_range[1] + 0.02),
        title=f"{title}: final checkpoint vs nulls ({round(100 * site['confidence'].iloc[0])}% bootstrap CI)",
    )
    ax.legend(fontsize=7, loc=legend_loc)


def layer_figure(
    data: pd.DataFrame,
    value: str,
    value_label: str,
    heatmap_splits: tuple[str, ...],
    null_split: str,
    site_title,
    value_range: tuple[float, float],
    chance: str | None = None,
    legend_loc: str = "upper left",
):
    """One column per site (the `site` column). A heatmap row (layer x step) per split in
    `heatmap_splits`, then the final checkpoint per layer for every split, with the nulls on `null_split`."""
    sites = list(dict.fromkeys(data["site"]))
    rows = len(heatmap_splits) + 1
    fig, axes = plt.subplots(rows, len(sites), figsize=(6.2 * len(sites), 4.2 * rows), squeeze=False)
    final_step = data.loc[data["network"] == "trained", "step"].max()
    for col, position in enumerate(sites):
        site = data[data["site"] == position]
        title = site_title(position, site)
        for row, split in enumerate(heatmap_splits):
            _layer_heatmap(axes[row][col], site, split, value, value_label, value_range, title)
        _final_vs_nulls(
            axes[-1][col], site, final_step, value, value_label, null_split, value_range, chance, legend_loc, title
        )
    fig.tight_layout()
    return fig


def logit_lens(data: pd.DataFrame, split: str = "train_inferred"):
    """MRR of the site's target decoded from each layer."""
    return layer_figure(data, "mrr", "MRR", (split,), split, lambda site, rows: site, (0.0, 1.0), chance="chance")


R2_CHECK = "r2 (= the total effect by construction: a check)"


def causal_tracing(data: pd.DataFrame):
    """Fraction of queries whose answer is no longer the top-1 token when one state comes from the run
    in which that position's token was replaced (the paper's causal strength)."""
    data = data.assign(site=data["position"].map(lambda p: R2_CHECK if p == "r2" else p))
    return layer_figure(
        data,
        "strength",
        "causal strength (answer no longer top-1)",
        ("train_inferred", "test_inferred_id"),
        "train_inferred",
        lambda site, rows: f"patching the state at {site}",
        (0.0, 1.0),
        legend_loc="best",
    )


def logit_lens_figure(tables: dict[str, pd.DataFrame]):
    """A run's lens next to its nulls: (figure, the data behind it). A model that loops gets the lens
    per loop on ID and OOD queries instead (grokstudy.figures.recurrent)."""
    data = lens_table(tables["logit_lens"], tables["null_logit_lens"])
    if "iteration" in data.columns and data["iteration"].max() > 1:
        from grokstudy.figures.recurrent import iteration_lens

        return iteration_lens(data), data
    return logit_lens(data), data


def causal_tracing_figure(tables: dict[str, pd.DataFrame]):
    """The released code's variant of the tracing (the v3 rows are a sensitivity table, not drawn)."""
    data = pd.concat([tables["causal_tracing"], tables["null_causal_tracing"]], ignore_index=True)
    data = data[data["variant"] == "released"].reset_index(drop=True)
    return causal_tracing(data), data
