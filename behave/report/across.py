"""Verdicts across datasets: average ranks, a critical-difference diagram, Bayesian signed-rank tests.

One value per (dataset, model): the model's mean headline metric over its runs on that dataset. Models
are ranked within each dataset (1 = best); pairs are tested across datasets with Wilcoxon's signed-rank
test, Holm-adjusted (the critical-difference diagram joins models no test tells apart, as aeon and
scikit-posthocs draw it, instead of Nemenyi's all-pairs critical difference); and each model is set against
the reference with a Bayesian signed-rank test (baycomp): the probability that it is better, equivalent
within the region of practical equivalence (ROPE), or worse. With few datasets the frequentist tests cannot
reject anything (three datasets: the smallest two-sided Wilcoxon p is 0.25) and the report says so; the
Bayesian probabilities still say how the evidence leans.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from behave.report.document import Block, Figure, Heading, Paragraph, Table
from behave.report.headline import section_headline
from behave.report.records import RunRecord
from behave.tasks.metric_registry import Metric


@dataclass(frozen=True)
class AcrossDatasets:
    """scores (datasets x models) mean headline; ranks the same shape (1 = best); p (models x models)
    Holm-adjusted Wilcoxon p-values; bayes: model -> (P better, P equivalent, P worse) vs the reference."""

    metric: Metric
    scores: pd.DataFrame
    ranks: pd.DataFrame
    p_adjusted: pd.DataFrame
    reference: str | None
    bayes: dict[str, tuple[float, float, float]]
    rope: float
    dropped: list[str]


def dataset_scores(groups: dict[str, list[RunRecord]]) -> tuple[Metric, pd.DataFrame, list[str]] | None:
    """(headline, datasets x models mean headline, models left out) over the sections sharing the most
    common headline (sections without an ok run have none); only models that ran on all of them. None with
    fewer than 2 datasets or models."""
    headlines = {key: section_headline(records) for key, records in groups.items()}
    if len(groups) < 2:
        return None
    named = {key: found.name for key, found in headlines.items() if found is not None}
    if not named:
        return None
    common = pd.Series(named).mode().iloc[0]
    metric = next(found for found in headlines.values() if found is not None and found.name == common)
    rows = {}
    for key, records in groups.items():
        if named.get(key) != common:
            continue
        first = next((r for r in records if r.ok), records[0])
        name = f"{first.dataset_name} ({first.task.get('name', 'sequence')}, {first.protocol})"
        if name in rows:  # other data under the same name (another simulator seed): a row of its own
            name += f" [{(first.data_fingerprint or first.fingerprint or '')[:8]}]"
        values = {}
        for record in records:
            value = record.test_metrics.get(metric.name)
            if record.ok and value is not None and np.isfinite(value):
                values.setdefault(record.model, []).append(float(value))
        rows[name] = {model: float(np.mean(v)) for model, v in values.items()}
    table = pd.DataFrame(rows).T
    complete = table.dropna(axis=1)
    dropped = sorted(set(table.columns) - set(complete.columns))
    if len(complete) < 2 or complete.shape[1] < 2:
        return None
    return metric, complete[sorted(complete.columns)], dropped


def wilcoxon_holm(scores: pd.DataFrame) -> pd.DataFrame:
    """(models x models) Holm-adjusted two-sided Wilcoxon signed-rank p-values over the datasets."""
    from scipy.stats import wilcoxon
    from statsmodels.stats.multitest import multipletests

    models = list(scores.columns)
    pairs = [(a, b) for i, a in enumerate(models) for b in models[i + 1 :]]
    raw = []
    for a, b in pairs:
        differences = scores[a].to_numpy() - scores[b].to_numpy()
        if np.allclose(differences, 0):
            raw.append(1.0)
            continue
        with warnings.catch_warnings():  # scipy warns that few datasets make the exact test coarse
            warnings.simplefilter("ignore")
            raw.append(float(wilcoxon(differences, zero_method="zsplit").pvalue))
    adjusted = multipletests(raw, method="holm")[1] if raw else []
    matrix = pd.DataFrame(1.0, index=models, columns=models)
    for (a, b), p in zip(pairs, adjusted):
        matrix.loc[a, b] = matrix.loc[b, a] = float(p)
    return matrix


def bayesian_signed_rank(
    scores: pd.DataFrame, reference: str, rope: float, higher_is_better: bool
) -> dict[str, tuple[float, float, float]]:
    """model -> (P(model better), P(within ROPE), P(reference better)), Benavoli et al.'s signed-rank."""
    import baycomp

    out = {}
    sign = 1.0 if higher_is_better else -1.0
    for model in scores.columns:
        if model == reference:
            continue
        x, y = sign * scores[model].to_numpy(), sign * scores[reference].to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            better, equivalent, worse = baycomp.two_on_multiple(x, y, rope=rope)
        out[model] = (float(better), float(equivalent), float(worse))
    return out


def summarize(groups: dict[str, list[RunRecord]], reference: str, rope: float) -> AcrossDatasets | None:
    found = dataset_scores(groups)
    if found is None:
        return None
    metric, scores, dropped = found
    higher = not metric.lower_is_better
    ranks = scores.rank(axis=1, ascending=not higher, method="average")
    chosen = reference if reference in scores.columns else None
    if chosen is None:  # the best-ranked tabular model, else the best-ranked model
        families = {r.model: r.family for records in groups.values() for r in records}
        order = ranks.mean().sort_values().index
        chosen = next((m for m in order if families.get(m) == "tabular"), order[0])
    return AcrossDatasets(
        metric=metric,
        scores=scores,
        ranks=ranks,
        p_adjusted=wilcoxon_holm(scores),
        reference=chosen,
        bayes=bayesian_signed_rank(scores, chosen, rope, higher),
        rope=rope,
        dropped=dropped,
    )


def plot_critical_difference(summary: AcrossDatasets, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scikit_posthocs

    fig, ax = plt.subplots(figsize=(7, 0.45 * len(summary.scores.columns) + 1.2))
    scikit_posthocs.critical_difference_diagram(summary.ranks.mean(), summary.p_adjusted, ax=ax)
    label = summary.metric.label
    ax.set_title(f"Average rank by {label} over {len(summary.scores)} datasets (1 = best)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def across_blocks(summary: AcrossDatasets, fig_dir: Path) -> list[Block]:
    label = summary.metric.label
    mean_rank = summary.ranks.mean().sort_values()
    header = ["model", "average rank", *summary.scores.index]
    rows = [
        [
            model,
            f"{mean_rank[model]:.2f}",
            *[f"{summary.scores.loc[d, model]:.3f}" for d in summary.scores.index],
        ]
        for model in mean_rank.index
    ]
    n = len(summary.scores)
    floor = 2.0 / 2**n  # the smallest two-sided exact Wilcoxon p-value with n datasets
    bayes_rows = [
        [model, f"{better:.2f}", f"{equivalent:.2f}", f"{worse:.2f}"]
        for model, (better, equivalent, worse) in sorted(summary.bayes.items(), key=lambda item: -item[1][0])
    ]
    blocks: list[Block] = [
        Heading("Across datasets", 2),
        Paragraph(
            f"Mean test {label} of each model on each dataset, ranked within each dataset (1 = best). "
            f"Pairs are tested across the {n} datasets by Wilcoxon's signed-rank test, Holm-adjusted; the "
            "diagram joins models that no test separates."
            + (
                f" With {n} datasets no Wilcoxon p-value can fall below {floor:.3f}, so no pair can be "
                "separated: the ranks describe these datasets, they do not generalise."
                if floor >= 0.05
                else ""
            )
            + (
                f" Left out (not run on every dataset): {', '.join(summary.dropped)}."
                if summary.dropped
                else ""
            )
        ),
        Table(header, rows),
        Figure(
            plot_critical_difference(summary, fig_dir / "across_datasets_critical_difference.png"),
            f"Average rank by {label} over {n} datasets; a bar joins models that Wilcoxon-Holm does not "
            "tell apart.",
        ),
        Heading(f"Against {summary.reference}: Bayesian signed-rank test", 3),
        Paragraph(
            f"Probability, over datasets like these, that each model's {label} is higher than "
            f"{summary.reference}'s by more than {summary.rope} (better), within ±{summary.rope} "
            f"(equivalent: the region of practical equivalence), or lower by more (worse); Benavoli et "
            "al.'s Bayesian signed-rank test (baycomp)."
        ),
        Table(["model", "P(better)", "P(equivalent)", "P(worse)"], bayes_rows),
    ]
    return blocks
