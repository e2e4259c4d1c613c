"""Paired comparisons of two models on the headline: on the same test rows (paired bootstrap over seeds) or,
when each seed has its own split, over the runs (corrected resampled t-test); and the verdict sentence.
What is compared, and which way is better, is the headline's metric as the registry declares it.

The bootstrap draws whole sequences (a prediction file carries each row's sequence id): the rows of one
sequence (its prefixes, its events) are not independent. A metric that is a mean of per-row terms (the
registry's `mean_over_rows`) is compared on those terms wherever `row_terms` can compute them."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from behave.report.compare import display_name
from behave.report.headline import is_regression
from behave.report.mean_comparison import paired_mean_comparison
from behave.report.records import RunRecord, check_same_rows
from behave.report.resolution import Decision, decide, resolution
from behave.report.stats import (
    PairedAucDiff,
    auc,
    corrected_resampled_t,
    paired_auc_comparison,
    paired_error_comparison,
    weighted_error,
)
from behave.run.predictions import Predictions
from behave.tasks import metric_registry as registry
from behave.tasks import ranking_metrics
from behave.tasks.metric_registry import Metric


@dataclass(frozen=True)
class Comparison:
    """metric(model) - metric(reference) over the seeds both have; `result` is None when `problem` says
    why. `metric` is the display name; with `lower_is_better` (RMSE, MAE) a negative difference wins."""

    model: str
    reference: str
    seeds: list[int]
    result: PairedAucDiff | None
    problem: str | None = None
    metric: str = "AUROC"
    lower_is_better: bool = False
    # Set by `multiplicity.adjust`: the p-value adjusted over the report's comparisons, the method's name
    # and how many comparisons it covered. None: judged on the CI alone.
    p_adjusted: float | None = None
    correction: str | None = None
    n_tests: int = 1
    # What the comparison's unit is: "seeds" on shared test rows (bootstrap), or "splits" (one run each).
    over: str = "seeds"
    # The difference that matters, in the compared metric's units (`with_rope`); None: judged at 0 alone.
    rope: float | None = None

    @property
    def excludes_zero(self) -> bool:
        """The 95% CI excludes 0 and, where p-values were adjusted, the adjusted p is below 0.05."""
        if self.result is None or not (self.result.lo > 0 or self.result.hi < 0):
            return False
        return self.p_adjusted is None or self.p_adjusted < 0.05

    @property
    def decision(self) -> Decision:
        """The verdict `resolution.decide` gives this comparison's interval."""
        if self.result is None:
            return Decision.not_compared
        return decide(self.result.lo, self.result.hi, self.excludes_zero, self.rope)

    @property
    def significant(self) -> bool:
        """The comparison names a winner: its CI excludes 0 (after any adjustment) and, where the rope is
        known, the interval is narrow enough to say the difference matters or clears the rope altogether."""
        return self.decision is Decision.winner

    @property
    def resolution(self) -> float:
        """The smallest difference this comparison detects with 80% power; NaN without one."""
        return float("nan") if self.result is None else resolution(self.result.lo, self.result.hi)


def with_rope(comparisons: list[Comparison], rope: float | None) -> list[Comparison]:
    """The comparisons judged against the difference that matters, `rope` (in their metric's units)."""
    return [replace(c, rope=rope) for c in comparisons]


# What `report.stats` can bootstrap on shared test rows (threshold metrics such as accuracy are too coarse
# for paired verdicts).
PAIRED_METRICS = ("auroc", "macro_auroc", "rmse", "mae")


# Label kinds scored by ranking: every metric is a mean of per-row terms, each paired on its own.
RANKED_KINDS = (registry.NEXT_VALUE,)


def comparison_metric(headline: Metric, kind: str | None = None) -> Metric:
    """What a paired comparison scores: the headline where the report can pair it (for a ranked label
    `kind`, every per-row mean), else the first pairable metric of the same label kinds (AUROC for a
    classifier, RMSE for a regressor), else the headline."""
    if headline.name in PAIRED_METRICS or (kind in RANKED_KINDS and headline.mean_over_rows):
        return headline
    pairable = [registry.metric(name) for name in PAIRED_METRICS]
    return next((m for m in pairable if m.label_kinds & headline.label_kinds), headline)


def paired_metrics(headline: Metric, kind: str | None) -> list[Metric]:
    """Every metric a section pairs: the compared headline first, then for a ranked label kind each other
    metric of that kind that is a mean over rows, in the registry's order."""
    first = comparison_metric(headline, kind)
    if kind not in RANKED_KINDS:
        return [first]
    others = [registry.metric(n) for n in registry.metrics_for(kind) if n != first.name]
    return [first, *(m for m in others if m.mean_over_rows)]


def row_terms(predictions: Predictions, metric: Metric) -> np.ndarray | None:
    """(n,) the metric's term per row where it is a mean of such terms the file can give (ranked files:
    every ranking metric; regression: the absolute error of MAE); None otherwise (AUROC, RMSE)."""
    if not metric.mean_over_rows:
        return None
    if predictions.ranked is not None:
        return ranking_metrics.row_terms(predictions.ranked.ranks).get(metric.name)
    if metric.name == "mae" and is_regression(metric):
        return np.abs(predictions.scores - predictions.labels)
    return None


def score_predictions(predictions: Predictions, metric: Metric) -> float:
    """The compared metric on all rows of one run's predictions (a mean of row terms, an error, or AUROC /
    macro AUROC)."""
    terms = row_terms(predictions, metric) if predictions.ranked is not None else None
    if terms is not None:
        finite = terms[np.isfinite(terms)]
        return float(finite.mean()) if len(finite) else float("nan")
    if is_regression(metric):
        ones = np.ones((len(predictions.labels), 1))
        return float(weighted_error(predictions.labels, predictions.scores, ones, metric.name)[0])
    return auc(predictions.labels, predictions.scores)


def compare_models(
    predictions: dict[tuple[str, int], Predictions],
    model: str,
    reference: str,
    n_boot: int,
    seed: int,
    headline: Metric,
    kind: str | None = None,
    compared: Metric | None = None,
) -> Comparison:
    """Paired bootstrap of metric(model) - metric(reference) on the seeds both models ran, resampling
    sequences, for `compared` (default: the headline's `comparison_metric` for the label `kind`): a mean of
    ranked row terms, AUROC (macro for multiclass) or an error (RMSE, MAE)."""
    metric = compared or comparison_metric(headline, kind)
    shown = {"metric": metric.label, "lower_is_better": metric.lower_is_better}
    seeds = sorted({s for m, s in predictions if m == model} & {s for m, s in predictions if m == reference})
    if not seeds:
        return Comparison(
            model, reference, [], None, "no seed has test predictions from both models", **shown
        )
    first = predictions[(reference, seeds[0])]
    try:
        for s in seeds:
            for m in (model, reference):
                check_same_rows(first, predictions[(m, s)], f"{m} seed {s} vs {reference} seed {seeds[0]}")
    except ValueError as error:
        return Comparison(model, reference, seeds, None, str(error), **shown)
    clusters = first.sequence_ids
    if len(first.labels) == 0 and (first.ranked is not None or is_regression(metric)):
        return Comparison(model, reference, seeds, None, "there are no test rows", **shown)
    if first.ranked is not None:
        if row_terms(first, metric) is None:
            problem = f"{metric.label} is not a mean of per-row terms a ranked prediction file gives"
            return Comparison(model, reference, seeds, None, problem, **shown)
        terms_a = np.stack([row_terms(predictions[(model, s)], metric) for s in seeds])
        terms_b = np.stack([row_terms(predictions[(reference, s)], metric) for s in seeds])
        result = paired_mean_comparison(terms_a, terms_b, n_boot=n_boot, seed=seed, clusters=clusters)
        return Comparison(model, reference, seeds, result, **shown)
    scores_a = np.stack([predictions[(model, s)].scores for s in seeds])
    scores_b = np.stack([predictions[(reference, s)].scores for s in seeds])
    if is_regression(metric):
        result = paired_error_comparison(
            first.labels, scores_a, scores_b, metric.name, n_boot=n_boot, seed=seed, clusters=clusters
        )
        return Comparison(model, reference, seeds, result, **shown)
    if len(np.unique(first.labels)) < 2:
        return Comparison(model, reference, seeds, None, "the test rows hold fewer than two classes", **shown)
    result = paired_auc_comparison(
        first.labels, scores_a, scores_b, n_boot=n_boot, seed=seed, clusters=clusters
    )
    return Comparison(model, reference, seeds, result, **shown)


def compare_runs(
    records: list[RunRecord], model: str, reference: str, headline: Metric, kind: str | None = None
) -> Comparison:
    """model vs reference over runs that each have their own split (protocol resplit or kfold): one
    difference per seed both ran (same seed, same split), tested by the corrected resampled t-test."""
    metric = comparison_metric(headline, kind)
    shown = metric.label
    by_seed: dict[tuple[str, int], RunRecord] = {}
    for record in records:
        if record.ok and record.seed is not None and metric_value(record, metric) is not None:
            by_seed.setdefault((record.model, record.seed), record)
    seeds = sorted({s for m, s in by_seed if m == model} & {s for m, s in by_seed if m == reference})
    if len(seeds) < 2:
        return Comparison(
            model, reference, seeds, None, "fewer than two splits have both models", shown,
            metric.lower_is_better,
        )  # fmt: skip
    differences = np.array(
        [
            metric_value(by_seed[(model, s)], metric) - metric_value(by_seed[(reference, s)], metric)
            for s in seeds
        ]
    )
    sizes = [by_seed[(reference, s)].dataset.get("split_sizes") or {} for s in seeds]
    share = float(np.mean([size.get("test", 0) / max(size.get("train", 1), 1) for size in sizes]))
    mean, lo, hi, p = corrected_resampled_t(differences, share)
    nan = np.full(len(seeds), np.nan)
    result = PairedAucDiff(differences, nan, nan, mean, lo, hi, p)
    return Comparison(
        model, reference, seeds, result, metric=shown, lower_is_better=metric.lower_is_better, over="splits"
    )


def metric_value(record: RunRecord, metric: Metric) -> float | None:
    """The compared metric of one run from its recorded test metrics (AUROC, macro AUROC, RMSE, MAE)."""
    value = record.test_metrics.get(metric.name)
    return float(value) if value is not None and np.isfinite(value) else None


def verdict(comparison: Comparison) -> str:
    """One plain sentence: who wins by how much, that the CI includes zero, or (`Decision.too_few`) the
    smallest difference this many test sequences or splits can tell."""
    a, b = display_name(comparison.model), display_name(comparison.reference)
    result = comparison.result
    if result is None:
        return f"{a} and {b} could not be compared: {comparison.problem}."
    unit = "split" if comparison.over == "splits" else "seed"
    over = f"over {len(comparison.seeds)} {unit}{'s' if len(comparison.seeds) != 1 else ''}"
    # Margins are stated as gains: AUROC up, or RMSE down, for the winner.
    gain = -1.0 if comparison.lower_is_better else 1.0
    low, high = sorted((gain * result.lo, gain * result.hi))
    adjusted = ""
    if comparison.p_adjusted is not None and comparison.n_tests > 1:
        adjusted = (
            f", {comparison.correction}-adjusted p {_p(comparison.p_adjusted)} "
            f"over {comparison.n_tests} comparisons"
        )
    elif comparison.p_adjusted is not None:
        adjusted = f", p {_p(comparison.p_adjusted)}"
    interval = f"difference {result.mean:.3f}, 95% CI {result.lo:.3f} to {result.hi:.3f}{adjusted}, {over}"
    if comparison.decision is Decision.too_few:
        return _too_few(comparison, a, b, interval)
    if comparison.significant and low > 0:
        ci = f"95% CI {low:.3f} to {high:.3f}"
        return f"{a} beats {b} by {gain * result.mean:.3f} {comparison.metric} ({ci}{adjusted}, {over})."
    if comparison.significant:
        ci = f"95% CI {-high:.3f} to {-low:.3f}"
        return f"{b} beats {a} by {-gain * result.mean:.3f} {comparison.metric} ({ci}{adjusted}, {over})."
    after = (
        f" after {comparison.correction} correction"
        if (low > 0 or high < 0) and comparison.n_tests > 1
        else ""
    )
    return f"No significant difference between {a} and {b}{after} ({interval})."


# What the comparison drew to get its interval, by its unit: more of them narrow it.
DRAWN = {"seeds": "test sequences", "splits": "splits"}


def _too_few(comparison: Comparison, a: str, b: str, interval: str) -> str:
    """The verdict of a comparison that cannot detect the difference that matters (`Decision.too_few`)."""
    drawn = DRAWN.get(comparison.over, "test sequences")
    return (
        f"Too few {drawn} for a verdict between {a} and {b}: differences smaller than "
        f"{comparison.resolution:.3f} {comparison.metric} are missed more often than one time in five at "
        f"this size, and the difference that matters (--rope) is {comparison.rope:g} ({interval})."
    )


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"= {value:.3f}"


def verdict_cell(comparison: Comparison) -> str:
    """A table cell of one comparison: the difference [95% CI], bold for a winner, with what it cannot tell
    where its interval is wider than the difference that matters; n/a without one."""
    result = comparison.result
    if result is None or not np.isfinite(result.mean):
        return "n/a"
    text = f"{result.mean:+.3f} [{result.lo:+.3f}, {result.hi:+.3f}]"
    if comparison.decision is Decision.too_few:
        return f"{text} too few to tell < {comparison.resolution:.3f}"
    return f"**{text}**" if comparison.significant else text
