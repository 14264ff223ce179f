"""How the trained network and its nulls are labelled and drawn in every per-layer figure, and how
its axes name the residual states (grokstudy.sites)."""

import pandas as pd

from grokstudy import sites

NETWORK_LABELS = {
    "trained": "trained (final)",
    "step0": "step 0 (null)",
    "random_init": "random init (null)",
    "relation_prior": "relation-frequency prior (null)",
}
NULL_STYLES = {"step0": ("s", "black"), "random_init": ("x", "grey"), "relation_prior": ("^", "tab:brown")}

SITE_AXIS = "residual site (resid.0 = embeddings)"


def site_labels(rows: pd.DataFrame, depths) -> list[str]:
    """The name of the residual state at each of `depths` in the model of these per-layer rows: by loop
    and block when their `iteration` column says the model loops, else resid.{d}."""
    loops = rows.groupby("layer")["iteration"].first() if "iteration" in rows else pd.Series(dtype=int)
    per_loop = sites.layers_per_loop_of(loops.items())
    return [sites.label(int(depth), per_loop) for depth in depths]


def name_sites_on_x(ax, rows: pd.DataFrame, depths) -> None:
    """Ticks at `depths` on the x axis, each named by its residual site."""
    ax.set_xticks(list(depths), site_labels(rows, depths), rotation=45, ha="right", fontsize="small")
    ax.set_xlabel(SITE_AXIS)
