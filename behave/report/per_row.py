"""The report's blocks for metrics that are means over rows, where a sequence gives several rows (its
prefixes, its events): a paired verdict on every such metric of a ranked task (recall@k, MRR, NDCG, ...,
not only the headline), and the headline's mean per sequence beside the pooled one.

The pooled mean weighs a sequence by its number of rows, so long sequences dominate it; the mean per
sequence (each sequence's own mean, then their mean) weighs every sequence once. Both are shown because
they answer different questions: how often the model is right per event, and for a typical sequence."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from behave.report import compare, multiplicity, paired
from behave.report.document import Block, Heading, Paragraph, Table
from behave.report.multiplicity import Correction
from behave.report.resolution import rope_for, rule_sentence
from behave.run.predictions import Predictions
from behave.tasks.metric_registry import Metric


def mean_per_sequence(sequence_ids: np.ndarray, terms: np.ndarray) -> float:
    """The mean over sequences of each sequence's mean term (finite terms only; a sequence with none is
    left out)."""
    frame = pd.DataFrame({"sequence": sequence_ids, "term": terms})
    per_sequence = frame[np.isfinite(frame["term"])].groupby("sequence")["term"].mean()
    return float(per_sequence.mean()) if len(per_sequence) else float("nan")


def has_several_rows_per_sequence(predictions: dict[tuple[str, int], Predictions]) -> bool:
    return any(len(np.unique(p.sequence_ids)) < len(p.sequence_ids) for p in predictions.values())


def per_sequence_table(predictions: dict[tuple[str, int], Predictions], metric: Metric) -> Table | None:
    """model -> pooled and per-sequence mean of `metric` (means over seeds), or None where the metric
    has no per-row terms in these files."""
    rows = []
    for model in sorted({m for m, _ in predictions}):
        runs = [p for (m, _), p in sorted(predictions.items()) if m == model]
        terms = [paired.row_terms(p, metric) for p in runs]
        if any(t is None for t in terms):
            return None
        pooled = np.mean([np.nanmean(t) if np.isfinite(t).any() else np.nan for t in terms])
        by_sequence = np.mean([mean_per_sequence(p.sequence_ids, t) for p, t in zip(runs, terms)])
        sequences = len(np.unique(runs[0].sequence_ids))
        rows.append([model, f"{pooled:.3f}", f"{by_sequence:.3f}", f"{sequences:,}", str(len(runs))])
    header = ["model", f"{metric.label} pooled {metric.arrow}", f"{metric.label} per sequence {metric.arrow}"]
    return Table([*header, "test sequences", "seeds"], rows)


def metric_verdict_table(
    predictions: dict[tuple[str, int], Predictions],
    metrics: list[Metric],
    pairs: list[tuple[str, str]],
    n_boot: int,
    seed: int,
    correction: Correction,
    rope: float | None = None,
) -> tuple[Table, int]:
    """metric x pair: difference [95% CI], bold where significant after one correction over the table,
    each metric judged against `rope` (in the first metric's units) where it lies on the same scale; and the
    number of adjusted tests."""
    found = [
        paired.compare_models(predictions, a, b, n_boot, seed, metric, compared=metric)
        for metric in metrics
        for a, b in pairs
    ]
    flat = multiplicity.adjust(found, correction)
    flat = [
        replace(c, rope=rope_for(metric, metrics[0], rope))
        for metric, c in zip([m for m in metrics for _ in pairs], flat)
    ]
    rows = [
        [
            f"{metric.label} {metric.arrow}",
            *(paired.verdict_cell(c) for c in flat[i * len(pairs) : (i + 1) * len(pairs)]),
        ]
        for i, metric in enumerate(metrics)
    ]
    header = ["metric", *(f"{compare.display_name(a)} − {compare.display_name(b)}" for a, b in pairs)]
    return Table(header, rows), sum(c.p_adjusted is not None for c in flat)


def per_row_blocks(
    predictions: dict[tuple[str, int], Predictions],
    metrics: list[Metric],
    pairs: list[tuple[str, str]],
    n_boot: int,
    seed: int,
    correction: Correction = Correction.holm,
    rope: float | None = None,
) -> list[Block]:
    """Where several metrics pair (a ranked task), a verdict on each (the headline's repeated first); and
    the first metric's mean per sequence where sequences give several rows and it has per-row terms."""
    if not predictions or not metrics:
        return []
    blocks: list[Block] = []
    if len(metrics) > 1 and pairs:
        table, n_tests = metric_verdict_table(predictions, metrics, pairs, n_boot, seed, correction, rope)
        adjusted = (
            f", and the p-value stays below 0.05 after {multiplicity.LABELS[Correction(correction)]} "
            f"correction over the {n_tests} comparisons of this table"
            if n_tests
            else ""
        )
        blocks += [
            Heading("Paired comparisons on every ranking metric", 3),
            Paragraph(
                "Each metric is a mean over test rows, so each is compared on its per-row terms: difference "
                "(model − reference, mean over paired seeds; for a ↓ metric such as log loss a negative "
                f"difference is better) with a 95% CI from {n_boot} bootstrap draws of test sequences, all "
                f"rows of a drawn sequence together. Bold: significant (the CI excludes 0{adjusted})."
                + rule_sentence(rope)
                + (" Metrics on another scale (log loss) are judged at 0 alone." if rope is not None else "")
            ),
            table,
        ]
    if has_several_rows_per_sequence(predictions):
        table = per_sequence_table(predictions, metrics[0])
        if table is not None:
            blocks += [
                Heading(f"{metrics[0].label}: pooled and per sequence", 3),
                Paragraph(
                    f"Pooled: the mean over all test rows (the results table's {metrics[0].label}); a long "
                    "sequence counts once per row. Per sequence: each sequence's own mean, then the mean "
                    "over sequences, so every sequence counts once. Both are means over seeds."
                ),
                table,
            ]
    return blocks
