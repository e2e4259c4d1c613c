"""Every metric behave reports or monitors, declared once with its facts: display label, range, direction,
the label kinds whose scores include it, and whether it is a mean of one number per row.

Tasks record their headline and metric list from here; callbacks, checkpoint selection, Optuna's
direction and the report's ranks, bold, arrows and verdicts ask here (or read the run's record, which was
written from here). Nothing else decides a metric's direction from its name or its label.

A new metric is one `Metric(...)` line below (and the code that computes it). The next value of an event
(`next_value`: one class among many) is scored by ranking the full set of classes
(`behave.tasks.ranking_metrics`): accuracy, recall@k, MRR@k, NDCG@k and log loss, each a mean over rows.
"""

from __future__ import annotations

from dataclasses import dataclass

BINARY, MULTICLASS, REGRESSION, LABEL_FREE = "binary", "multiclass", "regression", "label_free"
# A categorical next value over many classes, scored by the true class's rank among all of them.
NEXT_VALUE = "next_value"
LABEL_KINDS = (BINARY, MULTICLASS, REGRESSION, LABEL_FREE, NEXT_VALUE)
MAX, MIN = "max", "min"
UNBOUNDED = float("inf")
# The name every model's own training objective is logged under (`val/loss`); pretraining scores by it.
LOSS = "loss"


class UnknownMetric(ValueError):
    """A metric (or monitor) name the registry does not declare."""


@dataclass(frozen=True)
class Metric:
    """name: the key in metric dicts and monitors (`val/<name>`); label: how prose shows it; range: where
    its values lie (intervals over seeds are kept inside it); direction: MAX or MIN; label_kinds: the
    label kinds whose test scores include it; mean_over_rows: the metric is the mean of one number per row
    (accuracy, log loss, Brier, MAE), so it splits into per-row terms that pair across models."""

    name: str
    label: str
    range: tuple[float, float]
    direction: str
    label_kinds: frozenset[str]
    mean_over_rows: bool

    def __post_init__(self) -> None:
        if self.direction not in (MAX, MIN):
            raise ValueError(
                f"metric {self.name}: direction must be {MAX!r} or {MIN!r}, got {self.direction!r}"
            )
        unknown = set(self.label_kinds) - set(LABEL_KINDS)
        if unknown:
            raise ValueError(
                f"metric {self.name}: unknown label kinds {sorted(unknown)}; known: {LABEL_KINDS}"
            )

    @property
    def lower_is_better(self) -> bool:
        return self.direction == MIN

    @property
    def sign(self) -> float:
        """+1 for MIN, -1 for MAX: sorting `sign * value` ascending puts the best first."""
        return 1.0 if self.lower_is_better else -1.0

    @property
    def arrow(self) -> str:
        return "↓" if self.lower_is_better else "↑"


def _kinds(*kinds: str) -> frozenset[str]:
    return frozenset(kinds)


UNIT = (0.0, 1.0)
NON_NEGATIVE = (0.0, UNBOUNDED)
CLASSES = _kinds(BINARY, MULTICLASS, NEXT_VALUE)
RANKED = _kinds(NEXT_VALUE)
# Declaration order is the report's column order (metrics the registry lacks follow alphabetically).
METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("auroc", "AUROC", UNIT, MAX, _kinds(BINARY), mean_over_rows=False),
        Metric("macro_auroc", "macro AUROC", UNIT, MAX, _kinds(MULTICLASS), mean_over_rows=False),
        Metric("auprc", "AUPRC", UNIT, MAX, _kinds(BINARY), mean_over_rows=False),
        Metric("accuracy", "accuracy", UNIT, MAX, CLASSES, mean_over_rows=True),
        Metric("f1", "F1", UNIT, MAX, _kinds(BINARY), mean_over_rows=False),
        Metric("macro_f1", "macro F1", UNIT, MAX, _kinds(MULTICLASS), mean_over_rows=False),
        # Ranked over every class (no sampled negatives: Krichene & Rendle 2020); one term per row.
        Metric("recall@5", "recall@5", UNIT, MAX, RANKED, mean_over_rows=True),
        Metric("recall@10", "recall@10", UNIT, MAX, RANKED, mean_over_rows=True),
        Metric("recall@20", "recall@20", UNIT, MAX, RANKED, mean_over_rows=True),
        Metric("mrr@10", "MRR@10", UNIT, MAX, RANKED, mean_over_rows=True),
        Metric("ndcg@10", "NDCG@10", UNIT, MAX, RANKED, mean_over_rows=True),
        Metric("log_loss", "log loss", NON_NEGATIVE, MIN, CLASSES, mean_over_rows=True),
        Metric("brier", "Brier score", UNIT, MIN, _kinds(BINARY), mean_over_rows=True),
        Metric("ece", "ECE", UNIT, MIN, _kinds(BINARY), mean_over_rows=False),
        # Monitored as `val/loss` by every model; a test score only where there is no label to score. A mean
        # of per-row terms (a contrastive loss's terms also depend on the other rows of their batch).
        Metric(LOSS, "loss", NON_NEGATIVE, MIN, _kinds(LABEL_FREE), mean_over_rows=True),
        Metric("mae", "MAE", NON_NEGATIVE, MIN, _kinds(REGRESSION), mean_over_rows=True),
        # The square root of a mean: its per-row squared errors pair, the RMSE itself is not their mean.
        Metric("rmse", "RMSE", NON_NEGATIVE, MIN, _kinds(REGRESSION), mean_over_rows=False),
        # The share of slices whose nearest neighbour in their batch comes from the same sequence: a row's
        # term depends on the batch it was drawn with.
        Metric("slice_retrieval", "slice retrieval", UNIT, MAX, _kinds(LABEL_FREE), mean_over_rows=False),
    )
}

# The metric that selects models, per label kind.
HEADLINES = {
    BINARY: "auroc",
    MULTICLASS: "macro_auroc",
    REGRESSION: "rmse",
    LABEL_FREE: LOSS,
    NEXT_VALUE: "accuracy",
}


def metric(name: str) -> Metric:
    """The registered metric `name`, or UnknownMetric naming the registered ones."""
    found = METRICS.get(name)
    if found is None:
        raise UnknownMetric(
            f"metric {name!r} is not declared in behave/tasks/metric_registry.py; known: {', '.join(METRICS)}"
        )
    return found


def is_registered(name: str) -> bool:
    return name in METRICS


def headline_for(label_kind: str) -> Metric:
    """The metric that selects models for a label kind (binary, multiclass, regression, label_free)."""
    kind = str(getattr(label_kind, "value", label_kind))
    if kind not in HEADLINES:
        raise UnknownMetric(
            f"label kind {kind!r} has no headline metric; known kinds: {', '.join(HEADLINES)}"
        )
    return metric(HEADLINES[kind])


def metrics_for(label_kind: str) -> tuple[str, ...]:
    """The metrics a task of this label kind scores its test rows by, in the report's order."""
    kind = str(getattr(label_kind, "value", label_kind))
    return tuple(name for name, entry in METRICS.items() if kind in entry.label_kinds)


def monitor_metric(monitor: str) -> Metric:
    """The metric a monitor (`val/auroc`, `val/loss`, or a bare name) watches."""
    return metric(monitor.split("/", 1)[-1])


def metric_range(name: str) -> tuple[float, float]:
    """Where a registered metric's values lie; unbounded for a name the registry lacks."""
    return metric(name).range if is_registered(name) else (-UNBOUNDED, UNBOUNDED)


def monitor_mode(monitor: str) -> str:
    """'min' or 'max': how checkpoint callbacks, early stopping and schedulers follow `monitor`."""
    return monitor_metric(monitor).direction


def search_direction(monitor: str) -> str:
    """Optuna's `minimize` or `maximize` for a search that returns `monitor`."""
    return f"{monitor_mode(monitor)}imize"
