"""The report's section for tasks with evaluation groups (prefix lengths): the headline metric by group,
per model with a band over seeds, and paired verdicts per group on the same test rows."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from behave.report import compare, multiplicity, paired, plots
from behave.report.document import Block, Bullets, Figure, Heading, Paragraph, Table
from behave.report.multiplicity import Correction
from behave.report.records import RunRecord
from behave.report.resolution import Decision
from behave.run.predictions import Predictions
from behave.tasks.metric_registry import Metric


def group_order(records: list[RunRecord], metric: str | None = None) -> list[str]:
    """Group names in the task's order (by their first number: prefix lengths, history lengths "6-10");
    with `metric`, only groups where some run has a value for it."""
    names = {
        name
        for r in records
        if r.ok
        for name, values in r.metrics_by_group.items()
        if metric is None or values.get(metric) is not None
    }

    return sorted(names, key=group_key)


def group_key(name: str) -> tuple[int, float, str]:
    """Groups named by a number or a range of numbers ("6-10", "51+") sort by their first number; the
    others follow alphabetically."""
    found = re.match(r"\s*(-?\d+(?:\.\d+)?)", name)
    return (0, float(found.group(1)), name) if found else (1, 0.0, name)


def group_values(records: list[RunRecord], metric: str) -> pd.DataFrame:
    """One row per (ok run, group): model, seed, group, value, n_rows, n_sequences."""
    rows = []
    for r in records:
        if not r.ok:
            continue
        for group, values in r.metrics_by_group.items():
            if values.get(metric) is not None:
                rows.append((r.model, r.seed, group, float(values[metric]), values.get("n_rows"),
                             values.get("n_sequences")))  # fmt: skip
    return pd.DataFrame(rows, columns=["model", "seed", "group", "value", "n_rows", "n_sequences"])


def per_group_comparisons(
    predictions: dict[tuple[str, int], Predictions],
    pairs: list[tuple[str, str]],
    groups: list[str],
    n_boot: int,
    seed: int,
    headline: Metric,
    kind: str | None = None,
) -> dict[str, list[paired.Comparison]]:
    """group -> the paired comparisons of every pair on that group's test rows only."""
    out: dict[str, list[paired.Comparison]] = {}
    for group in groups:
        subset = {key: preds.in_group(group) for key, preds in predictions.items()}
        out[group] = [paired.compare_models(subset, a, b, n_boot, seed, headline, kind) for a, b in pairs]
    return out


def group_blocks(
    records: list[RunRecord],
    predictions: dict[tuple[str, int], Predictions],
    headline: Metric,
    pairs: list[tuple[str, str]],
    n_boot: int,
    seed: int,
    fig_dir: Path,
    prefix: str,
    correction: Correction = Correction.holm,
    kind: str | None = None,
    rope: float | None = None,
) -> list[Block]:
    """Figure and table of the headline metric by group, with per-group paired verdicts."""
    metric = headline.name
    groups = group_order(records, metric)
    undefined = [g for g in group_order(records) if g not in groups]
    values = group_values(records, metric)
    if not groups or values.empty:
        return []
    label = next((r.task.get("group_label") for r in records if r.task.get("group_label")), "group")
    path = plots.plot_metric_by_group(
        values, groups, metric, label, fig_dir / f"{prefix}_{metric}_by_group.png"
    )
    comparisons = per_group_comparisons(predictions, pairs, groups, n_boot, seed, headline, kind)
    # One family of tests: every pair at every group.
    flat = multiplicity.adjust([c for g in groups for c in comparisons[g]], correction)
    flat = paired.with_rope(flat, rope)  # each judged against the difference that matters
    comparisons = {g: flat[i * len(pairs) : (i + 1) * len(pairs)] for i, g in enumerate(groups)}
    n_tests = sum(c.p_adjusted is not None for c in flat)
    models = compare.model_names([r for r in records if r.ok])
    header = [label, "test sequences", *[f"{m} {metric}" for m in models]]
    header += [f"{a} − {b}" for a, b in pairs]
    rows = []
    for group in groups:
        here = values[values["group"] == group]
        sequences = here["n_sequences"].max()
        cells = [_mean_cell(here[here["model"] == m]["value"]) for m in models]
        verdicts = [paired.verdict_cell(c) for c in comparisons[group]]
        rows.append([group, "—" if pd.isna(sequences) else f"{int(sequences):,}", *cells, *verdicts])
    significant = summary_lines(comparisons)
    if undefined:
        significant.append(
            f"No {metric} at {label} {', '.join(undefined)}: their test rows hold fewer than two classes "
            "(too few test sequences are that long)."
        )
    return [
        Heading(f"{metric} by {label}", 3),
        Paragraph(
            f"Test {metric} of each model at each {label}: mean over seeds, the band spans the seeds' "
            f"lowest and highest value. Differences are paired on the same test rows of each group, with "
            f"95% CIs from {n_boot} bootstrap draws of those rows, a sequence's rows drawn together "
            "(bold: significant: the CI excludes 0"
            + (
                f" and the p-value stays below 0.05 after {multiplicity.LABELS[Correction(correction)]} "
                f"correction over all {n_tests} comparisons of this table"
                if n_tests
                else ""
            )
            + "). The number of test sequences behind each group is in the table."
        ),
        Figure(path, f"Test {metric} by {label}, mean over seeds with the range over seeds."),
        Table(header, rows),
        *([Bullets(significant)] if significant else []),
    ]


def _mean_cell(values: pd.Series) -> str:
    if values.empty:
        return "—"
    text = f"{values.mean():.3f}"
    return text if len(values) < 2 else f"{text} ({values.min():.3f}–{values.max():.3f})"


def summary_lines(comparisons: dict[str, list[paired.Comparison]]) -> list[str]:
    """One line per pair: at which groups its difference is significant, in which direction."""
    lines = []
    pairs = {(c.model, c.reference) for cs in comparisons.values() for c in cs}
    for a, b in sorted(pairs):
        wins = [
            g
            for g, cs in comparisons.items()
            for c in cs
            if (c.model, c.reference) == (a, b) and _sign(c) > 0
        ]
        losses = [
            g
            for g, cs in comparisons.items()
            for c in cs
            if (c.model, c.reference) == (a, b) and _sign(c) < 0
        ]
        name_a, name_b = compare.display_name(a), compare.display_name(b)
        too_few = [
            g
            for g, cs in comparisons.items()
            for c in cs
            if (c.model, c.reference) == (a, b) and c.decision is Decision.too_few
        ]
        parts = []
        if wins:
            parts.append(f"{name_a} better at {', '.join(wins)}")
        if losses:
            parts.append(f"{name_b} better at {', '.join(losses)}")
        if too_few:  # the verdict rule's own word (resolution.decide), as the table's cells say
            parts.append(f"too few test sequences for a verdict at {', '.join(too_few)}")
        compared = sum((c.model, c.reference) == (a, b) for cs in comparisons.values() for c in cs)
        if len(wins) + len(losses) + len(too_few) < compared:
            parts.append(
                "no significant difference elsewhere" if parts else "no significant difference at any group"
            )
        lines.append(f"{name_a} vs {name_b}: " + "; ".join(parts) + ".")
    return lines


def _sign(comparison: paired.Comparison) -> int:
    if not comparison.significant:
        return 0
    return 1 if comparison.result.lo > 0 else -1
