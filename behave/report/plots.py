"""The report's figures, each written to a PNG file and closed (Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen before pyplot is imported)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from behave.run.embedding_table import vectors_of  # noqa: E402
from behave.run.predictions import Predictions  # noqa: E402

SPECIAL_TOKENS = frozenset({"<pad>", "<unk>"})
# Token kinds beyond this many share one colour: a legend of 40 entries helps nobody. 15 + "other" fit the
# 20 distinguishable colours of matplotlib's tab20.
MAX_COLOURED_GROUPS = 15


def _one_vs_rest(predictions: Predictions) -> tuple[np.ndarray, np.ndarray]:
    """(is_positive, score) for curves: binary as is; multiclass flattened one-vs-rest (micro average)."""
    if predictions.probs.shape[1] == 2:
        return predictions.labels == 1, predictions.probs[:, 1]
    n_classes = predictions.probs.shape[1]
    is_positive = predictions.labels[:, None] == np.arange(n_classes)[None, :]
    return is_positive.ravel(), predictions.probs.ravel()


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_roc_pr(by_model: dict[str, Predictions], title: str, path: Path) -> Path:
    """ROC and precision-recall curves, one line per model (one seed's predictions each)."""
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(10, 4.2))
    for model, predictions in by_model.items():
        is_positive, score = _one_vs_rest(predictions)
        fpr, tpr, _ = roc_curve(is_positive, score)
        precision, recall, _ = precision_recall_curve(is_positive, score)
        roc_ax.plot(fpr, tpr, label=model)
        pr_ax.plot(recall, precision, label=model)
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    pr_ax.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    for ax in (roc_ax, pr_ax):
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def reliability_bins(is_positive: np.ndarray, confidence: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Equal-width confidence bins -> mean confidence, observed frequency and count of non-empty bins."""
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    mean_confidence = np.bincount(bins, weights=confidence, minlength=n_bins)
    observed = np.bincount(bins, weights=is_positive.astype(float), minlength=n_bins)
    filled = counts > 0
    return pd.DataFrame(
        {
            "confidence": mean_confidence[filled] / counts[filled],
            "observed": observed[filled] / counts[filled],
            "count": counts[filled],
        }
    )


def plot_reliability(by_model: dict[str, list[Predictions]], path: Path) -> Path:
    """Reliability diagram pooled over seeds: binary on P(positive), multiclass on top-label confidence."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for model, runs in by_model.items():
        probs = np.concatenate([p.probs for p in runs])
        labels = np.concatenate([p.labels for p in runs])
        if probs.shape[1] == 2:
            is_positive, confidence = labels == 1, probs[:, 1]
        else:
            is_positive, confidence = probs.argmax(axis=1) == labels, probs.max(axis=1)
        table = reliability_bins(is_positive, confidence)
        ax.plot(table["confidence"], table["observed"], marker="o", markersize=3, label=model)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect calibration")
    binary = next(iter(by_model.values()))[0].probs.shape[1] == 2
    xlabel = "predicted P(positive)" if binary else "top-label confidence"
    ylabel = "observed positive rate" if binary else "observed accuracy"
    ax.set(xlabel=xlabel, ylabel=ylabel, title="Reliability (pooled over seeds)", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_metric_by_seed(
    values: pd.DataFrame, metric: str, oracle: float | None, path: Path, seed_for_jitter: int = 0
) -> Path:
    """Strip plot of one metric per seed per model; `values` has columns model, seed, value."""
    models = sorted(values["model"].unique())
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(models), 4))
    jitter = np.random.default_rng(seed_for_jitter)
    for position, model in enumerate(models):
        rows = values[values["model"] == model]
        x = position + jitter.uniform(-0.12, 0.12, size=len(rows))
        ax.scatter(x, rows["value"], s=28, alpha=0.8, zorder=3)
        ax.hlines(rows["value"].mean(), position - 0.25, position + 0.25, color="black", linewidth=1.5)
    if oracle is not None:
        label = f"oracle (Bayes-optimal) {oracle:.3f}"
        ax.axhline(oracle, color="crimson", linestyle="--", linewidth=1, label=label)
        ax.legend(loc="best", fontsize=8)
    ax.set_xticks(range(len(models)), models)
    ax.set(ylabel=metric, title=f"{metric} per seed (bar = mean)")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_metric_by_group(
    values: pd.DataFrame, groups: list[str], metric: str, group_label: str, path: Path
) -> Path:
    """One line per model (mean over seeds) with a band over seeds, against the groups in order; the number
    of test sequences per group as grey bars underneath. `values`: model, seed, group, value, n_sequences."""
    fig, ax = plt.subplots(figsize=(max(6.0, 0.28 * len(groups) + 3), 4.2))
    positions = {group: i for i, group in enumerate(groups)}
    sizes = values.groupby("group")["n_sequences"].max().reindex(groups)
    counts_ax = ax.twinx()
    counts_ax.bar(range(len(groups)), sizes.fillna(0).to_numpy(), color="lightgrey", alpha=0.5, width=0.8)
    counts_ax.set_ylabel("test sequences", color="grey")
    counts_ax.tick_params(axis="y", colors="grey")
    ax.set_zorder(counts_ax.get_zorder() + 1)
    ax.patch.set_visible(False)
    for model in sorted(values["model"].unique()):
        stats = values[values["model"] == model].groupby("group")["value"].agg(["mean", "min", "max"])
        stats = stats.reindex([g for g in groups if g in stats.index])
        x = [positions[g] for g in stats.index]
        (line,) = ax.plot(x, stats["mean"], marker="o", markersize=3, label=model)
        ax.fill_between(x, stats["min"], stats["max"], color=line.get_color(), alpha=0.2, linewidth=0)
    step = max(1, len(groups) // 20)
    ax.set_xticks(range(0, len(groups), step), groups[::step])
    ax.set(xlabel=group_label, ylabel=metric, title=f"Test {metric} by {group_label}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_cost(points: list[tuple], metric: str, path: Path) -> Path:
    """Two panels: metric vs fit seconds, metric vs parameters; points (model, family, summary, s, params)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), sharey=True)
    colours = {"neural": "tab:blue", "tabular": "tab:orange", "baseline": "tab:grey"}
    for ax, position, label in ((axes[0], 3, "fit seconds (mean)"), (axes[1], 4, "learned parameters")):
        for point in points:
            model, family, summary, x = point[0], point[1], point[2], point[position]
            if not (np.isfinite(x) and x > 0):
                continue
            low, high = summary.mean - summary.lo, summary.hi - summary.mean
            error = None if not np.isfinite(low) else [[max(low, 0)], [max(high, 0)]]
            ax.errorbar(x, summary.mean, yerr=error, fmt="o", color=colours.get(family, "grey"), capsize=2)
            ax.annotate(model, (x, summary.mean), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set(xlabel=label)
        ax.grid(alpha=0.3)
    axes[0].set(ylabel=metric, title=f"{metric} against training time")
    axes[1].set(title=f"{metric} against model size")
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=c, label=f) for f, c in colours.items()]
    axes[1].legend(handles=handles, loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_embedding_sizes(table: pd.DataFrame, metric: str, path: Path) -> Path:
    """Metric (with interval) and fit seconds against embedding size: fixed sizes as a line, rules and
    one-hot as labelled markers. `table`: setting, kind, size, mean, lo, hi, fit_seconds."""
    fig, (score_ax, time_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    fixed = table[table["kind"] == "fixed"].sort_values("size")
    markers = {"rule": ("D", "tab:red"), "onehot": ("s", "tab:green")}
    for ax, column in ((score_ax, "mean"), (time_ax, "fit_seconds")):
        if column == "mean":
            error = [(fixed["mean"] - fixed["lo"]).clip(lower=0), (fixed["hi"] - fixed["mean"]).clip(lower=0)]
            ax.errorbar(fixed["size"], fixed["mean"], yerr=error, marker="o", capsize=2, label="fixed size")
        else:
            ax.plot(fixed["size"], fixed["fit_seconds"], marker="o", label="fixed size")
        for _, row in table[table["kind"] != "fixed"].iterrows():
            marker, colour = markers[row["kind"]]
            ax.scatter(row["size"], row[column], marker=marker, color=colour, s=45, zorder=3)
            ax.annotate(
                row["setting"],
                (row["size"], row[column]),
                fontsize=8,
                xytext=(4, 4),
                textcoords="offset points",
            )
        ax.set_xscale("log", base=2)
        ax.set(xlabel="token vector size (log2)")
        ax.grid(alpha=0.3)
    score_ax.set(ylabel=metric, title=f"Test {metric} by embedding size")
    time_ax.set(ylabel="fit seconds (mean)", title="Fit time by embedding size")
    score_ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def embedding_groups(table: pd.DataFrame) -> pd.Series:
    """Colour group per token: its first field, split by the second where one first value holds most tokens.

    Without the split a clickstream map is one colour: nearly every token is a page view.
    """
    groups = table["field0"].astype(str)
    if "field1" in table:
        shares = groups.value_counts(normalize=True)
        second = table["field1"].fillna("").astype(str)
        split = groups.isin(shares.index[shares > 0.5]) & (second != "")
        groups = groups.where(~split, groups + "|" + second)
    common = groups.value_counts().index[:MAX_COLOURED_GROUPS]
    return groups.where(groups.isin(common), "other")


def plot_embedding_map(table: pd.DataFrame, title: str, path: Path, n_labels: int = 12) -> Path:
    """2-D PCA of token embeddings (columns token, field0, [field1,] train_freq, dim_*), coloured by kind."""
    table = table[~table["token"].isin(SPECIAL_TOKENS)].reset_index(drop=True)
    dims = vectors_of(table)
    coords = PCA(n_components=2).fit_transform(dims) if len(table) >= 2 else np.zeros((len(table), 2))
    groups = embedding_groups(table)
    fig, ax = plt.subplots(figsize=(9, 5.5))
    colours = plt.get_cmap("tab20").colors
    for index, group in enumerate(sorted(groups.unique())):
        mask = (groups == group).to_numpy()
        colour = "lightgrey" if group == "other" else colours[index % len(colours)]
        ax.scatter(coords[mask, 0], coords[mask, 1], s=14, alpha=0.8, color=colour, label=group)
    for row in table.nlargest(n_labels, "train_freq").index:
        ax.annotate(table.at[row, "token"], coords[row], fontsize=6, alpha=0.85)
    ax.set(xlabel="PC 1", ylabel="PC 2", title=title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, title="token kind", title_fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_item_map(
    items: pd.DataFrame, coords: np.ndarray, share: np.ndarray, title: str, path: Path, n_labels: int = 20
) -> Path:
    """Item embeddings on two principal components (coords (n, 2)), coloured by group, most-rated labelled."""
    groups = items["field0"].fillna("").astype(str).replace("", "unknown")
    common = groups.value_counts().index[:MAX_COLOURED_GROUPS]
    groups = groups.where(groups.isin(common), "other")
    fig, ax = plt.subplots(figsize=(10, 6.5))
    colours = plt.get_cmap("tab20").colors
    for index, group in enumerate(sorted(groups.unique())):
        mask = (groups == group).to_numpy()
        colour = "lightgrey" if group == "other" else colours[index % len(colours)]
        ax.scatter(coords[mask, 0], coords[mask, 1], s=10, alpha=0.7, color=colour, label=group)
    for row in items.nlargest(n_labels, "train_freq").index:
        ax.annotate(str(items.at[row, "token"]), coords[row], fontsize=6.5, alpha=0.9)
    ax.set(xlabel=f"PC 1 ({100 * share[0]:.1f}% of variance)", title=title)
    ax.set(ylabel=f"PC 2 ({100 * share[1]:.1f}%)" if len(share) > 1 else "")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, title="group", title_fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_attribution_strips(examples: list[dict], title: str, path: Path) -> Path:
    """One strip per example: its last events left to right, each box coloured by its attribution (red
    raises the score, blue lowers it), the token written under it."""
    fig, axes = plt.subplots(len(examples), 1, figsize=(13, 2.3 * len(examples)), squeeze=False)
    scale = max((abs(a) for e in examples for _, a in e["events"]), default=1.0) or 1.0
    colours = plt.get_cmap("RdBu_r")
    for ax, example in zip(axes[:, 0], examples):
        for x, (token, attribution) in enumerate(example["events"]):
            ax.add_patch(plt.Rectangle((x, 0), 0.92, 1, color=colours(0.5 + 0.5 * attribution / scale)))
            ax.text(x + 0.46, -0.1, token[:28], rotation=60, ha="right", va="top", fontsize=6)
        ax.set_xlim(-0.2, max(len(example["events"]), 1))
        ax.set_ylim(-0.1, 1.05)
        ax.axis("off")
        ax.set_title(
            f"{example['title']}: {example['sequence_id']}, label {example['label']}, "
            f"score {example['probability']:.2f} (its last {len(example['events'])} events, latest right)",
            fontsize=9,
            loc="left",
        )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
