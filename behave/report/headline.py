"""Which metric leads a section, read from the runs' records plus the metric registry, and nothing else.

A record names its headline (`task.headline`, with `task.headline_direction` since the registry exists);
records from before tasks were recorded name only their label kind (`dataset.task`: binary or multiclass),
whose headline the registry gives. A run that succeeded without either, or with a headline the registry
does not declare, is an error naming its result.json: the report never guesses a metric.

Regression or classification is one fact here too: the headline's label kinds in the registry.
"""

from __future__ import annotations

from behave.report.records import RunRecord
from behave.run.record import RESULT_FILE
from behave.tasks import metric_registry as registry
from behave.tasks.metric_registry import Metric


class RecordError(ValueError):
    """A result.json that lacks what the report needs to read it."""


def _result_file(record: RunRecord) -> str:
    return str(record.run_dir / RESULT_FILE)


def record_headline(record: RunRecord) -> Metric | None:
    """The headline a record names or implies (None when it says nothing of it); an error for a headline
    the registry does not know or a recorded direction that contradicts it."""
    name = record.task.get("headline")
    if not name:
        kind = record.dataset.get("task")
        if kind not in (registry.BINARY, registry.MULTICLASS):
            return None
        return registry.headline_for(kind)
    if not registry.is_registered(str(name)):
        raise RecordError(
            f"{_result_file(record)}: task.headline {name!r} is not a metric declared in "
            f"behave/tasks/metric_registry.py (known: {', '.join(registry.METRICS)})"
        )
    found = registry.metric(str(name))
    recorded = record.task.get("headline_direction")
    if recorded is not None and recorded != found.direction:
        raise RecordError(
            f"{_result_file(record)}: task.headline_direction {recorded!r} contradicts the registry "
            f"({found.name} is {found.direction})"
        )
    return found


def section_headline(records: list[RunRecord]) -> Metric | None:
    """The metric that selects models among these runs (the first ok run's); None when no run succeeded.

    An ok run without a headline and without a label kind to derive it from is a RecordError naming its file.
    """
    for record in records:
        if not record.ok:
            continue
        found = record_headline(record)
        if found is None:
            raise RecordError(
                f"{_result_file(record)}: the run succeeded but records neither task.headline nor a label "
                "kind (dataset.task: binary or multiclass) to derive it from; the report cannot tell which "
                "metric ranks the models"
            )
        return found
    return None


def validation_metric(record: RunRecord) -> Metric:
    """The metric the run's recorded validation score (`best_val.metric`, e.g. `val/auroc`) measures."""
    monitor = str((record.raw.get("best_val") or {}).get("metric", ""))
    if not registry.is_registered(monitor.split("/", 1)[-1]):
        raise RecordError(
            f"{_result_file(record)}: best_val.metric {monitor!r} is not a metric declared in "
            "behave/tasks/metric_registry.py"
        )
    return registry.monitor_metric(monitor)


def is_regression(metric: Metric) -> bool:
    """Whether a metric scores predicted values (one per row) rather than class probabilities."""
    return registry.REGRESSION in metric.label_kinds


def column_metric(name: str) -> Metric | None:
    """The registry's entry for a test metric column, or None for a name it does not declare (shown
    without an arrow, never bold)."""
    return registry.metric(name) if registry.is_registered(name) else None


def section_kind(records: list[RunRecord]) -> str | None:
    """The label kind the runs' test rows were scored as: the one kind every metric the first ok run
    recorded (`task.metrics`) belongs to; None for records that list none, or list metrics of several
    kinds in common (accuracy alone: binary, multiclass or a next value)."""
    first = next((record for record in records if record.ok), None)
    names = [str(name) for name in (first.task.get("metrics") or [])] if first else []
    if not names or not all(registry.is_registered(name) for name in names):
        return None
    common = frozenset.intersection(*(registry.metric(name).label_kinds for name in names))
    return next(iter(common)) if len(common) == 1 else None
