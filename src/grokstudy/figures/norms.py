"""Weight norms across training, one panel per module, with the random-init networks as a band."""

import matplotlib.pyplot as plt
import pandas as pd


def weight_norms_figure(tables: dict[str, pd.DataFrame]):
    trained, nulls = tables["weight_norms"], tables["null_weight_norms"]
    modules = list(dict.fromkeys(trained["module"]))
    columns = min(4, len(modules))
    rows = -(-len(modules) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.9 * rows), squeeze=False)
    for ax, module in zip(axes.flat, modules, strict=False):
        curve = trained[(trained["module"] == module) & (trained["step"] > 0)].sort_values("step")
        ax.plot(curve["step"], curve["norm"], marker=".", color="tab:blue", label="trained")
        band = nulls.loc[nulls["module"] == module, "norm"]
        if not band.empty:
            ax.axhspan(band.min(), band.max(), color="grey", alpha=0.3, label="random init (null)")
        ax.set_xscale("log")
        ax.set_title(module)
        ax.set_xlabel("step")
        ax.set_ylabel("L2 norm")
    for ax in list(axes.flat)[len(modules) :]:
        ax.set_visible(False)
    axes.flat[0].legend(loc="best", fontsize="small")
    fig.tight_layout()
    data = pd.concat([trained, nulls], ignore_index=True)
    return fig, data
