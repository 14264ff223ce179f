"""Logit-lens MRR: layer x checkpoint for the trained network, next to its nulls with uncertainty."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

NETWORK_LABELS = {"trained": "trained (final)", "step0": "step 0 (null)", "random_init": "random init (null)"}


def lens_table(lens: pd.DataFrame, nulls: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([lens, nulls], ignore_index=True)


def logit_lens(data: pd.DataFrame, split: str = "train_inferred"):
    """Top row: MRR heatmaps (layer x step). Bottom row: MRR per layer at the final step, with nulls."""
    sites = list(dict.fromkeys(data["position"]))
    fig, axes = plt.subplots(2, len(sites), figsize=(6.2 * len(sites), 8.4), squeeze=False)
    final_step = data.loc[data["network"] == "trained", "step"].max()
    for col, position in enumerate(sites):
        site = data[data["position"] == position]
        target = site["target"].iloc[0]
        trained = site[site["network"].isin(["trained", "step0"]) & (site["split"] == split)]
        grid = trained.pivot_table(index="layer", columns="step", values="mrr").sort_index(ascending=False)
        sns.heatmap(grid, ax=axes[0][col], vmin=0, vmax=1, cmap="viridis", cbar_kws={"label": "MRR"})
        axes[0][col].set(title=f"{target} at {position} ({split}), trained", xlabel="checkpoint step", ylabel="layer")

        ax = axes[1][col]
        final = site[(site["network"] == "trained") & (site["step"] == final_step)]
        for name, frame in final.groupby("split", sort=False):
            ax.errorbar(frame["layer"], frame["mrr"], yerr=[frame["mrr"] - frame["ci_low"], frame["ci_high"] - frame["mrr"]],
                        marker="o", capsize=3, label=f"trained @ {final_step}: {name}")
        for network, marker in (("step0", "s"), ("random_init", "x")):
            null = site[(site["network"] == network) & (site["split"] == split)]
            if null.empty:
                continue
            spread = null.groupby("layer").agg(mrr=("mrr", "mean"), low=("ci_low", "min"), high=("ci_high", "max"))
            ax.errorbar(spread.index, spread["mrr"], yerr=[spread["mrr"] - spread["low"], spread["high"] - spread["mrr"]],
                        marker=marker, linestyle="--", capsize=3, color="grey" if network == "random_init" else "black",
                        label=f"{NETWORK_LABELS[network]}: {split}")
        ax.axhline(site["chance"].iloc[0], color="red", linestyle=":", label="chance (analytic)")
        ax.set(xlabel="layer (0 = embeddings)", ylabel="MRR", ylim=(0, 1.02), xticks=np.arange(site["layer"].max() + 1),
               title=f"{target} at {position}: final checkpoint vs nulls ({round(100 * site['confidence'].iloc[0])}% bootstrap CI)")
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
