"""Per-layer probes (logit lens, causal tracing): layer x checkpoint heatmaps, and the final
checkpoint per layer next to its nulls with uncertainty."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

NETWORK_LABELS = {
    "trained": "trained (final)",
    "step0": "step 0 (null)",
    "random_init": "random init (null)",
    "relation_prior": "relation-frequency prior (null)",
}
NULL_STYLES = {"step0": ("s", "black"), "random_init": ("x", "grey"), "relation_prior": ("^", "tab:brown")}


def lens_table(lens: pd.DataFrame, nulls: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([lens, nulls], ignore_index=True)


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
    """One column per position. A heatmap row (layer x step) per split in `heatmap_splits`, then
    the final checkpoint per layer for every split, with the step-0 and random-init nulls on `null_split`."""
    sites = list(dict.fromkeys(data["position"]))
    rows = len(heatmap_splits) + 1
    fig, axes = plt.subplots(rows, len(sites), figsize=(6.2 * len(sites), 4.2 * rows), squeeze=False)
    final_step = data.loc[data["network"] == "trained", "step"].max()
    for col, position in enumerate(sites):
        site = data[data["position"] == position]
        for row, split in enumerate(heatmap_splits):
            trained = site[site["network"].isin(["trained", "step0"]) & (site["split"] == split)]
            grid = trained.pivot_table(index="layer", columns="step", values=value).sort_index(ascending=False)
            sns.heatmap(
                grid,
                ax=axes[row][col],
                vmin=value_range[0],
                vmax=value_range[1],
                cmap="viridis",
                cbar_kws={"label": value_label},
            )
            axes[row][col].set(
                title=f"{site_title(position, site)} ({split}), trained", xlabel="checkpoint step", ylabel="layer"
            )

        ax = axes[-1][col]
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
        if chance:
            ax.axhline(site[chance].iloc[0], color="red", linestyle=":", label="chance (analytic)")
        ax.set(
            xlabel="layer (0 = embeddings)",
            ylabel=value_label,
            ylim=(value_range[0], value_range[1] + 0.02),
            xticks=np.arange(site["layer"].max() + 1),
            title=f"{site_title(position, site)}: final checkpoint vs nulls "
            f"({round(100 * site['confidence'].iloc[0])}% bootstrap CI)",
        )
        ax.legend(fontsize=7, loc=legend_loc)
    fig.tight_layout()
    return fig


def logit_lens(data: pd.DataFrame, split: str = "train_inferred"):
    """MRR of the site's target decoded from each layer."""
    return layer_figure(
        data,
        "mrr",
        "MRR",
        (split,),
        split,
        lambda position, site: f"{site['target'].iloc[0]} at {position}",
        (0.0, 1.0),
        chance="chance",
    )


def causal_tracing(data: pd.DataFrame):
    """Drop in P(answer) when one state is replaced by its value under a corrupted head entity."""
    return layer_figure(
        data,
        "effect",
        "drop in P(answer)",
        ("train_inferred", "test_inferred_id"),
        "train_inferred",
        lambda position, site: f"noising the state at {position}",
        (0.0, 1.0),
        legend_loc="best",
    )


def logit_lens_figure(tables: dict[str, pd.DataFrame]):
    """A run's lens next to its nulls: (figure, the data behind it)."""
    data = lens_table(tables["logit_lens"], tables["null_logit_lens"])
    return logit_lens(data), data


def causal_tracing_figure(tables: dict[str, pd.DataFrame]):
    data = pd.concat([tables["causal_tracing"], tables["null_causal_tracing"]], ignore_index=True)
    return causal_tracing(data), data
