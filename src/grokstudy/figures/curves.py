"""Accuracy curves: per split (paper Fig. 1), across phi (Fig. 2a), across weight decay, and
against epochs across world sizes. Every seed is its own line in its run's colour; the baselines
of docs/study.md (relation frequency, majority label, uniform chance) are reference lines."""

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter
import pandas as pd
import seaborn as sns

from grokstudy.data.baselines import accuracy as baseline_accuracy

SPLIT_ORDER = ["train_inferred", "test_inferred_id", "test_inferred_ood", "atomic_id", "atomic_ood"]
SPLIT_LABELS = {
    "train_inferred": "train (inferred)",
    "test_inferred_id": "test ID (inferred)",
    "test_inferred_ood": "test OOD (inferred)",
    "atomic_id": "atomic ID",
    "atomic_ood": "atomic OOD",
}
REFERENCE_SPLITS = ("test_inferred_id", "test_inferred_ood")
BASELINE_LABELS = {"relation_frequency": "relation frequency", "majority_label": "majority label"}


def label_runs(metrics: pd.DataFrame, labels: list[dict]) -> pd.DataFrame:
    """Each run's rows in the labels' order, with its labels (base run, seed, task, phi, ...); step 0
    dropped (log axis)."""
    out = pd.concat([metrics[metrics["run"] == label["run"]].assign(**label) for label in labels], ignore_index=True)
    return out[(out["step"] > 0) & out["split"].isin(SPLIT_ORDER)].reset_index(drop=True)


def reference_lines(baselines: dict[str, dict], labels: list[dict]) -> pd.DataFrame:
    """Per base run and evaluation split, the mean over its seeds' datasets of each baseline's accuracy."""
    rows = []
    for label in labels:
        entry = baselines.get(label["dataset"])
        if entry is None:
            continue
        rows.append({"base": label["base"], "split": "uniform", "name": "uniform chance", "accuracy": entry["uniform"]})
        for split in REFERENCE_SPLITS:
            split_entry = entry["splits"][split]
            rows.append(
                {
                    "base": label["base"],
                    "split": split,
                    "name": BASELINE_LABELS[split_entry["name"]],
                    "accuracy": baseline_accuracy(split_entry),
                }
            )
    columns = ["base", "split", "name", "accuracy"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.groupby(["base", "split", "name"], sort=False, as_index=False)["accuracy"].mean()


def _draw_references(ax, references: pd.DataFrame, palette: dict) -> None:
    for row in references.itertuples():
        if row.split == "uniform":
            ax.axhline(row.accuracy, color="grey", linestyle=":", linewidth=1, label=row.name)
        else:
            ax.axhline(
                row.accuracy,
                color=palette.get(SPLIT_LABELS[row.split], "grey"),
                linestyle="--",
                linewidth=1,
                label=f"{row.name}: {SPLIT_LABELS[row.split]}",
            )


def _seeds(frame: pd.DataFrame) -> str:
    seeds = sorted(s for s in frame["seed"].unique() if s >= 0)
    return f", seeds {', '.join(map(str, seeds))}" if seeds else ""


def accuracy_curves(data: pd.DataFrame, references: pd.DataFrame, step_axis: str = "log"):
    """One panel per run, one line per split and seed, with the run's baselines."""
    bases = list(dict.fromkeys(data["base"]))
    hue_order = [SPLIT_LABELS[s] for s in SPLIT_ORDER]
    palette = dict(zip(hue_order, sns.color_palette(n_colors=len(hue_order)), strict=True))
    fig, axes = plt.subplots(1, len(bases), figsize=(5.6 * len(bases), 4.0), squeeze=False, sharey=True)
    for ax, base in zip(axes[0], bases, strict=True):
        frame = data[data["base"] == base].assign(split=lambda f: f["split"].map(SPLIT_LABELS))
        sns.lineplot(
            frame,
            x="step",
            y="accuracy",
            hue="split",
            hue_order=hue_order,
            palette=palette,
            units="seed",
            estimator=None,
            marker="o",
            markersize=2,
            linewidth=1,
            ax=ax,
            legend=False,
        )
        _draw_references(ax, references[references["base"] == base], palette)
        first = frame.iloc[0]
        ax.set(
            xscale=step_axis,
            ylim=(-0.02, 1.02),
            title=f"{first['task']}: {base}\n(phi={first['phi']}, wd={first['weight_decay']}{_seeds(frame)})",
        )
    handles = [plt.Line2D([], [], color=palette[s], marker="o", markersize=3, label=s) for s in hue_order]
    for ax in axes[0]:  # every panel's baselines, each label once
        known = {h.get_label() for h in handles}
        handles += [h for h in ax.get_legend_handles_labels()[0] if h.get_label() not in known]
    axes[0][-1].legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=7, title="split / baseline"
    )
    fig.tight_layout()
    return fig


def _contrast(
    data: pd.DataFrame, references: pd.DataFrame, hue: str, hue_label: str, title: str, step_axis: str, x: str = "step"
):
    frame = data[data["split"].isin(["train_inferred", "test_inferred_id"])].copy()
    frame[hue_label] = frame[hue].astype(str)
    frame["split"] = frame["split"].map(SPLIT_LABELS)
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    sns.lineplot(
        frame,
        x=x,
        y="accuracy",
        hue=hue_label,
        style="split",
        units="seed",
        estimator=None,
        style_order=[SPLIT_LABELS["test_inferred_id"], SPLIT_LABELS["train_inferred"]],
        marker="o",
        markersize=2,
        linewidth=1,
        ax=ax,
    )
    id_lines = references[references["split"].isin(["test_inferred_id", "uniform"])]
    for (split, name), group in id_lines.groupby(["split", "name"], sort=False):
        ax.axhline(
            group["accuracy"].mean(),
            color="grey",
            linestyle=":" if split == "uniform" else "--",
            linewidth=1,
            label=name if split == "uniform" else f"{name}: {SPLIT_LABELS[split]}",
        )
    ax.set(xscale=step_axis, ylim=(-0.02, 1.02), title=title + _seeds(frame), xlabel=x)
    # Over less than a decade a log axis labels its minor ticks too, and the labels overlap.
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=7)
    fig.tight_layout()
    return fig


def phi_sweep(data, references, step_axis: str = "log"):
    return _contrast(
        data, references, "phi", "phi", "Composition: ID generalization vs. inferred/atomic ratio phi", step_axis
    )


def weight_decay(data, references, step_axis: str = "log"):
    return _contrast(
        data, references, "weight_decay", "weight decay", "Composition: ID generalization vs. weight decay", step_axis
    )


def data_size(data, references, step_axis: str = "log"):
    return _contrast(
        data,
        references,
        "entities",
        "|E|",
        "Composition: ID generalization per epoch vs. world size",
        step_axis,
        x="epoch",
    )
