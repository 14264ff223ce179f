"""Accuracy against training step: per split (paper Fig. 1), across phi (Fig. 2a), across weight decay."""

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

SPLIT_ORDER = ["train_inferred", "test_inferred_id", "test_inferred_ood", "atomic_id", "atomic_ood"]
SPLIT_LABELS = {
    "train_inferred": "train (inferred)",
    "test_inferred_id": "test ID (inferred)",
    "test_inferred_ood": "test OOD (inferred)",
    "atomic_id": "atomic ID",
    "atomic_ood": "atomic OOD",
}


def label_runs(metrics: pd.DataFrame, labels: list[dict]) -> pd.DataFrame:
    """Each run's rows in the labels' order, with its task, phi and weight decay; step 0 dropped (log axis)."""
    out = pd.concat([metrics[metrics["run"] == label["run"]].assign(**label) for label in labels], ignore_index=True)
    return out[(out["step"] > 0) & out["split"].isin(SPLIT_ORDER)].reset_index(drop=True)


def accuracy_curves(data: pd.DataFrame, step_axis: str = "log"):
    """One panel per run, one line per split."""
    runs = list(dict.fromkeys(data["run"]))
    fig, axes = plt.subplots(1, len(runs), figsize=(5.2 * len(runs), 3.8), squeeze=False, sharey=True)
    for ax, run in zip(axes[0], runs):
        frame = data[data["run"] == run].assign(split=lambda f: f["split"].map(SPLIT_LABELS))
        sns.lineplot(frame, x="step", y="accuracy", hue="split", hue_order=[SPLIT_LABELS[s] for s in SPLIT_ORDER],
                     marker="o", markersize=3, ax=ax, legend=ax is axes[0][-1])
        first = frame.iloc[0]
        ax.set(xscale=step_axis, ylim=(-0.02, 1.02), title=f"{first['task']}: {run}\n(phi={first['phi']}, wd={first['weight_decay']})")
    if axes[0][-1].get_legend():
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), title="split")
    fig.tight_layout()
    return fig


def _contrast(data: pd.DataFrame, hue: str, hue_label: str, title: str, step_axis: str):
    frame = data[data["split"].isin(["train_inferred", "test_inferred_id"])].copy()
    frame[hue_label] = frame[hue].astype(str)
    frame["split"] = frame["split"].map(SPLIT_LABELS)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    sns.lineplot(frame, x="step", y="accuracy", hue=hue_label, style="split",
                 style_order=[SPLIT_LABELS["test_inferred_id"], SPLIT_LABELS["train_inferred"]],
                 marker="o", markersize=3, ax=ax)
    ax.set(xscale=step_axis, ylim=(-0.02, 1.02), title=title)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig


def phi_sweep(data: pd.DataFrame, step_axis: str = "log"):
    return _contrast(data, "phi", "phi", "Composition: ID generalization vs. inferred/atomic ratio phi", step_axis)


def weight_decay(data: pd.DataFrame, step_axis: str = "log"):
    return _contrast(data, "weight_decay", "weight decay", "Composition: ID generalization vs. weight decay", step_axis)
