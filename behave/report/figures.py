"""Choose what each figure shows for one dataset (which seed, which run) and wrap the files as blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from behave.report import plots
from behave.report.compare import ModelSummary
from behave.report.document import Block, Figure, Heading, Paragraph
from behave.report.headline import is_regression
from behave.report.records import RunRecord, load_embeddings
from behave.run.predictions import Predictions
from behave.tasks import metric_registry
from behave.tasks.metric_registry import Metric


def lowest_seed_predictions(
    predictions: dict[tuple[str, int], Predictions],
) -> dict[str, tuple[int, Predictions]]:
    """model -> (its lowest seed with predictions, those predictions)."""
    chosen: dict[str, tuple[int, Predictions]] = {}
    for (model, seed), preds in sorted(predictions.items()):
        chosen.setdefault(model, (seed, preds))
    return chosen


def embedding_run(records: list[RunRecord]) -> tuple[RunRecord, pd.DataFrame] | None:
    """The GRU run with the lowest seed that wrote token embeddings, else any such neural run."""
    neural = [r for r in records if r.ok and r.family == "neural"]
    neural.sort(key=lambda r: (r.model != "gru", r.model, r.seed if r.seed is not None else 1 << 30))
    for record in neural:
        table = load_embeddings(record)
        if table is not None and len(table) > 0:
            return record, table
    return None


def dataset_figures(
    records: list[RunRecord],
    predictions: dict[tuple[str, int], Predictions],
    headline: Metric,
    oracle: float | None,
    fig_dir: Path,
    prefix: str,
) -> list[Block]:
    """Reliability, ROC/PR, metric-by-seed and embedding-map figures, each under its heading; for regression
    predictions only the metric by seed (the item map has its own section)."""
    blocks: list[Block] = []
    metric, regression = headline.name, is_regression(headline)
    # A ranked file keeps the top classes only: no reliability diagram or ROC curve over all classes.
    ranked = any(p.ranked is not None for p in predictions.values())
    if predictions and not regression and not ranked:
        runs_by_model: dict[str, list[Predictions]] = {}
        for (model, _), preds in sorted(predictions.items()):
            runs_by_model.setdefault(model, []).append(preds)
        path = plots.plot_reliability(runs_by_model, fig_dir / f"{prefix}_reliability.png")
        blocks.append(Figure(path, "Reliability diagram, test predictions pooled over seeds (10 bins)."))
        lowest = lowest_seed_predictions(predictions)
        curves = {f"{model} (seed {seed})": preds for model, (seed, preds) in lowest.items()}
        path = plots.plot_roc_pr(
            curves, "test split, lowest seed per model", fig_dir / f"{prefix}_roc_pr.png"
        )
        multiclass = next(iter(curves.values())).probs.shape[1] > 2
        averaging = " (micro-averaged one-vs-rest)" if multiclass else ""
        blocks += [Heading("Curves", 3), Figure(path, f"ROC and precision-recall curves{averaging}.")]
    values = pd.DataFrame(
        [(r.model, r.seed, r.test_metrics[metric]) for r in records if r.ok and metric in r.test_metrics],
        columns=["model", "seed", "value"],
    )
    if len(values):
        path = plots.plot_metric_by_seed(values, metric, oracle, fig_dir / f"{prefix}_{metric}_by_seed.png")
        label = metric_registry.metric(metric).label if metric_registry.is_registered(metric) else metric
        oracle_note = f" Dashed line: the simulator's Bayes-optimal {label}." if oracle is not None else ""
        blocks += [Heading("Seeds", 3), Figure(path, f"Test {metric} of every seed.{oracle_note}")]
    if regression:
        return blocks
    blocks.append(Heading("Learned token embeddings", 3))
    found = embedding_run(records)
    if found is None:
        return blocks + [Paragraph("No neural run wrote token embeddings.")]
    record, table = found
    title = f"{record.model} seed {record.seed}: token embeddings (PCA)"
    path = plots.plot_embedding_map(table, title, fig_dir / f"{prefix}_embeddings_{record.model}.png")
    caption = (
        f"First two principal components of the {record.model} (seed {record.seed}) token embeddings, "
        "coloured by the token's first field (split by its second where one value holds most tokens); "
        "the most frequent training tokens are labelled."
    )
    return blocks + [Figure(path, caption)]


def cost_blocks(summaries: list[ModelSummary], metric: str, fig_dir: Path, prefix: str) -> list[Block]:
    """Accuracy beside cost: the headline metric against fit seconds and against parameters, per model."""
    points = [
        (s.model, s.family, s.metrics[metric], s.fit_seconds, s.n_parameters)
        for s in summaries
        if metric in s.metrics and np.isfinite(s.metrics[metric].mean)
    ]
    if len(points) < 2:
        return []
    path = plots.plot_cost(points, metric, fig_dir / f"{prefix}_{metric}_by_cost.png")
    caption = (
        f"Test {metric} (mean, bars: 95% interval over seeds) against mean fit seconds and learned "
        "parameters (log scales); what each model's accuracy costs."
    )
    return [Heading("Accuracy and cost", 3), Figure(path, caption)]
