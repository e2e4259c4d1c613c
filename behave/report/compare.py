"""What the report concludes for one dataset and task: per-model summaries over seeds, their ranks and the
reference model (the paired comparisons are `report.paired`). Which metric leads comes from the runs'
recorded task (`report.headline`); which way is better, its label and range from the metric registry
(`behave.tasks.metric_registry`), never from a rule of the report's own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from behave.report.headline import validation_metric
from behave.report.records import RunRecord
from behave.report.stats import seed_mean_ci
from behave.run.predictions import Predictions
from behave.tasks import metric_registry as registry
from behave.tasks.metric_registry import Metric, metric_range

DISPLAY_NAMES = {"gru": "GRU", "lstm": "LSTM", "xgboost": "XGBoost", "transformer": "Transformer"}
DISPLAY_NAMES |= {"lightgbm": "LightGBM", "cnn": "CNN", "mlp": "MLP", "svm": "linear SVM"}
DISPLAY_NAMES |= {"svm_rbf": "RBF SVM", "dot": "dot product", "dot_bias": "dot product + biases"}
DISPLAY_NAMES |= {"bias_only": "biases only", "global_mean": "global mean", "rating_xgboost": "XGBoost"}
DISPLAY_NAMES |= {"gru_transfer_tuned": "GRU, rating embeddings tuned"}
DISPLAY_NAMES |= {"gru_transfer_frozen": "GRU, rating embeddings frozen"}
DISPLAY_NAMES |= {"logreg": "logistic regression", "random_forest": "random forest", "bag": "bag of events"}
DISPLAY_NAMES |= {"coles_gru": "GRU pretrained (CoLES)", "embeddings_xgboost": "XGBoost on CoLES vectors"}
DISPLAY_NAMES |= {"embeddings_aggregates_xgboost": "XGBoost on aggregates + CoLES vectors"}
DISPLAY_NAMES |= {"embeddings_lightgbm": "LightGBM on CoLES vectors"}
DISPLAY_NAMES |= {"embeddings_aggregates_lightgbm": "LightGBM on aggregates + CoLES vectors"}


def display_name(model: str) -> str:
    return DISPLAY_NAMES.get(model, model)


@dataclass(frozen=True)
class MetricSummary:
    """Mean, sample std and 95% t-interval over n seeds (std, lo, hi NaN when n < 2)."""

    mean: float
    std: float
    lo: float
    hi: float
    n: int


@dataclass(frozen=True)
class ModelSummary:
    """One model on one dataset: metric summaries over its ok runs, mean costs, which seeds ran."""

    model: str
    family: str
    seeds_ok: list[int]
    seeds_failed: list[int]
    metrics: dict[str, MetricSummary]
    fit_seconds: float
    predict_seconds: float
    n_parameters: float


def metric_label(metric: str) -> str:
    """How prose names a metric: the registry's label (its name for a metric the registry lacks)."""
    return registry.metric(metric).label if registry.is_registered(metric) else metric


def metric_names(records: list[RunRecord]) -> list[str]:
    """Test metrics present in any ok run, in the registry's order, then the ones it lacks alphabetically."""
    present = {name for record in records if record.ok for name in record.test_metrics}
    known = [name for name in registry.METRICS if name in present]
    return known + sorted(present - set(known))


def model_names(records: list[RunRecord]) -> list[str]:
    return sorted({record.model for record in records})


def summarize_model(records: list[RunRecord], model: str) -> ModelSummary:
    """Summaries over the ok runs of `model`; each run counts once (a seed run twice counts twice)."""
    runs = [record for record in records if record.model == model]
    ok_runs = [record for record in runs if record.ok]
    metrics = {}
    for name in metric_names(ok_runs):
        values = np.array([r.test_metrics[name] for r in ok_runs if name in r.test_metrics])
        mean, std, lo, hi = seed_mean_ci(values)
        # A t-interval knows nothing of the metric's range (AUROC [0.992, 1.004], ECE [-0.025, ...]).
        low, high = metric_range(name)
        metrics[name] = MetricSummary(mean, std, max(lo, low), min(hi, high), n=len(values))
    return ModelSummary(
        model=model,
        family=runs[0].family,
        seeds_ok=sorted(r.seed for r in ok_runs if r.seed is not None),
        seeds_failed=sorted(r.seed for r in runs if not r.ok and r.seed is not None),
        metrics=metrics,
        fit_seconds=_nanmean([r.number("fit_seconds") for r in ok_runs]),
        predict_seconds=_nanmean([r.number("predict_seconds") for r in ok_runs]),
        n_parameters=_nanmean([r.number("n_parameters") for r in ok_runs]),
    )


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else np.nan


def best_model_per_metric(summaries: list[ModelSummary], digits: int = 3) -> dict[str, str]:
    """metric -> the model whose mean is best (in the registry's direction), only where it is best alone at
    the shown precision: nothing is marked best where every model scores the same (F1 0.000 all round), nor
    where two tie, nor for a metric whose direction the registry does not declare."""
    best: dict[str, str] = {}
    for name in {name for summary in summaries for name in summary.metrics}:
        if not registry.is_registered(name):
            continue
        sign = registry.metric(name).sign
        scored = [(sign * s.metrics[name].mean, s.model) for s in summaries if name in s.metrics]
        scored = sorted((round(score, digits), model) for score, model in scored if np.isfinite(score))
        if len(scored) >= 2 and scored[0][0] < scored[1][0]:
            best[name] = scored[0][1]
    return best


AUTO = "auto"


def resolve_reference(records: list[RunRecord], reference: str) -> tuple[str | None, str]:
    """The model the others are compared with, and why: a named model, or with `auto` the tabular model
    with the best mean VALIDATION score (chosen on validation, so picking it does not peek at the test), in
    the direction the registry gives the recorded monitor. Without validation scores only a lone tabular
    model is chosen; with several, none (name one with --reference)."""
    if reference != AUTO:
        present = reference in model_names(records)
        return (reference, "as asked") if present else (None, f"{reference} did not run")
    by_model: dict[str, list[float]] = {}
    families = {r.model: r.family for r in records}
    for record in records:
        best = record.raw.get("best_val") or {}
        if record.ok and best.get("value") is not None:
            by_model.setdefault(record.model, []).append(float(best["value"]))
    if not by_model:  # records without validation scores
        tabular = sorted(m for m, f in families.items() if f == "tabular")
        if len(tabular) == 1:
            return tabular[0], "no run recorded a validation score; the only tabular model"
        why = f"no run recorded a validation score and {len(tabular)} tabular models ran"
        return None, why + ": name one with --reference"
    tabular = {m: v for m, v in by_model.items() if families.get(m) == "tabular"} or by_model
    scored = next(r for r in records if r.ok and (r.raw.get("best_val") or {}).get("value") is not None)
    sign = validation_metric(scored).sign
    chosen = min(tabular, key=lambda m: sign * float(np.mean(tabular[m])))
    kind = "tabular model" if families.get(chosen) == "tabular" else "model"
    return chosen, f"the {kind} with the best mean validation score"


def rank_summaries(summaries: list[ModelSummary], headline: Metric) -> list[ModelSummary]:
    """Best first by the headline metric's mean (in its registered direction); models without it last, in
    name order."""

    def key(summary: ModelSummary) -> tuple[int, float, str]:
        value = summary.metrics.get(headline.name)
        finite = value is not None and np.isfinite(value.mean)
        return (0 if finite else 1, headline.sign * value.mean if finite else 0.0, summary.model)

    return sorted(summaries, key=key)


def comparison_pairs(models: list[str], reference: str | None) -> list[tuple[str, str]]:
    """(model, reference) pairs: every other model against the reference, and GRU against LSTM."""
    pairs = [(model, reference) for model in models if model != reference] if reference in models else []
    if "gru" in models and "lstm" in models and reference not in {"gru", "lstm"}:
        pairs.append(("gru", "lstm"))
    return pairs


def predictions_by_model_seed(
    records: list[RunRecord], loaded: dict[Path, Predictions | None]
) -> dict[tuple[str, int], Predictions]:
    """(model, seed) -> predictions of ok runs; with repeated runs of one seed, the first one wins."""
    by_key: dict[tuple[str, int], Predictions] = {}
    for record in records:
        predictions = loaded.get(record.run_dir)
        if record.ok and record.seed is not None and predictions is not None:
            by_key.setdefault((record.model, record.seed), predictions)
    return by_key
