"""Selection by inner cross-validation, the same procedure for every recipe that can take it.

1. Cut train+val into inner folds (`folds.py`); fit the recipe on each with `Budget()`: its full count of
   epochs or rounds, no early stopping, its monitor on the fold's validation part after each (the curve).
2. Choose the count on the MEAN curve over folds (best in the monitor's direction, the metric registry's);
   the cross-validated value is the mean curve there (what a hyperparameter search optimises).
3. Refit on train+val with `refit_count` and no validation part; the runner then scores test once.
A recipe without a count (`BudgetUnit.none`) is fitted per fold as it is, the task scores each fold's
validation rows, and it is refitted on train+val as it is.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np

from behave.data.errors import DataError
from behave.data.split import PARTS
from behave.tasks import metric_registry
from behave.tasks.dataset import TaskDataset
from behave.training.recipe import (
    Budget,
    BudgetUnit,
    Fitted,
    Recipe,
    RunContext,
    SelectionCurve,
    SelfScoringRecipe,
)
from behave.training.selection.folds import fold_view, inner_folds

log = logging.getLogger("behave.train")


@dataclass(frozen=True)
class CrossValidated:
    """What the inner folds chose. `count`: epochs / rounds at the best mean (None: nothing to choose);
    `refit_count`: what the refit on train+val fits; `value`: the mean over folds of `metric` at `count`."""

    unit: BudgetUnit
    folds: int
    metric: str
    value: float
    per_fold: list[float]
    count: int | None
    refit_count: int | None
    seconds: float
    # What chose the count: the monitor, or what the family's holdout watches (val/selection, val/loss).
    chosen_by: str = ""

    def record(self) -> dict:
        return {
            "kind": "inner_cv",
            "folds": self.folds,
            "unit": self.unit.value,
            "metric": self.metric,
            "chosen_by": self.chosen_by,
            "cv_mean": self.value,
            "per_fold": self.per_fold,
            "chosen_count": self.count,
            "refit_count": self.refit_count,
            "seconds": round(self.seconds, 3),
        }


def refit_count(unit: BudgetUnit, chosen: int, fold_train_rows: float, refit_train_rows: int) -> int:
    """The one rule for scaling the chosen count to the larger refit set: the optimisation grows in
    proportion to the training rows. An epoch already does (its steps grow with the rows), so epochs stay
    as chosen; a boosting round does not (one tree whatever the rows), so rounds grow by the ratio
    refit rows / mean fold-training rows (k / (k - 1) for k random folds)."""
    if unit == BudgetUnit.rounds:
        return max(1, int(round(chosen * refit_train_rows / max(fold_train_rows, 1.0))))
    return chosen


def can_cross_validate(recipe: Recipe) -> bool:
    """Whether the recipe declares what a `Budget` counts for it (label-free pretraining never does)."""
    return getattr(recipe, "budget_unit", None) is not None and not isinstance(recipe, SelfScoringRecipe)


def budget_unit(recipe: Recipe) -> BudgetUnit:
    """What the recipe counts, or a clear refusal for one that cannot be cross-validated inside a run."""
    if not can_cross_validate(recipe):
        raise DataError(
            f"model={recipe.name} cannot be selected by inner cross-validation (it fits no folds with a "
            "given budget): use selection=holdout"
        )
    return BudgetUnit(recipe.budget_unit)


def cross_validate(recipe: Recipe, data: TaskDataset, context: RunContext, folds: int) -> CrossValidated:
    """Fit every inner fold, choose the count on the mean curve and say what the refit fits."""
    started = time.perf_counter()
    unit = budget_unit(recipe)
    # Folds write nothing into the run: no TensorBoard, no checkpoints (a budget fit keeps none).
    fold_context = replace(context, board=None, budget=Budget() if unit != BudgetUnit.none else None)
    curves, train_rows = [], []
    for number, fold in enumerate(inner_folds(data, folds, context.seed), start=1):
        view = fold_view(data, fold)
        train_rows.append(len(view.rows.in_part("train")))
        log.info("inner fold %d/%d: %d training rows", number, folds, train_rows[-1])
        curves.append(_fold_curve(recipe, view, recipe.fit(view, fold_context), unit))
    values, metric = _stacked(curves)
    mean = np.nanmean(values, axis=0)
    best, chosen_by = chosen_index(curves, values.shape[1], mean, metric)
    count = None if unit == BudgetUnit.none else best + 1
    refit_rows = int(np.isin(data.rows.part, [PARTS.index("train"), PARTS.index("val")]).sum())
    refit = None if count is None else refit_count(unit, count, float(np.mean(train_rows)), refit_rows)
    chosen = CrossValidated(
        unit, folds, metric, float(mean[best]), [float(v) for v in values[:, best]], count, refit,
        time.perf_counter() - started, chosen_by,
    )  # fmt: skip
    log.info("inner cross-validation: %s %.4f (mean of %d folds) at %s %s; refit with %s",
             metric, chosen.value, folds, count, unit.value, refit)  # fmt: skip
    return chosen


def _fold_curve(recipe: Recipe, view: TaskDataset, fitted: Fitted, unit: BudgetUnit) -> SelectionCurve:
    """The fold's curve; for a recipe with nothing to count, one point: the task's headline on the fold's
    validation rows, scored as the runner scores a run's."""
    if unit == BudgetUnit.none:
        val = view.inputs("val")
        scores = view.task.score(val.labels, recipe.predict(fitted.model, val, view.spec))
        return SelectionCurve(f"val/{view.headline}", np.asarray([scores[view.headline]], dtype=np.float64))
    if fitted.curve is None:
        raise DataError(f"model={recipe.name} reported no validation curve for an inner fold")
    return fitted.curve


def chosen_index(
    curves: list[SelectionCurve], length: int, monitor_mean: np.ndarray, metric: str
) -> tuple[int, str]:
    """The count (0-based) where the mean of what the family's holdout watches is best: its `chooser`
    curves when every fold has one (the neural checkpoint's monitor with loss tie-break, a booster's
    early-stopping loss), else the monitor itself."""
    if all(curve.chooser_values is not None for curve in curves):
        chooser = np.stack([np.asarray(c.chooser_values[:length], dtype=np.float64) for c in curves])
        if not np.isnan(chooser).all():
            better = np.nanargmax if curves[0].chooser_mode == "max" else np.nanargmin
            return int(better(np.nanmean(chooser, axis=0))), str(curves[0].chooser)
    better = np.nanargmax if metric_registry.monitor_mode(metric) == "max" else np.nanargmin
    return int(better(monitor_mean)), metric


def _stacked(curves: list[SelectionCurve]) -> tuple[np.ndarray, str]:
    """(folds, counts) curve values, cut to the shortest; a fold where the metric is undefined throughout
    (AUROC of a validation fold holding one class) is left out of the mean, with a warning."""
    metric = curves[0].metric
    length = min(len(curve.values) for curve in curves)
    values = np.stack([np.asarray(curve.values[:length], dtype=np.float64) for curve in curves])
    if np.isnan(values).all():
        raise DataError(f"selection: {metric} is undefined on every inner fold; use fewer selection.folds")
    if np.isnan(values).all(axis=1).any():
        log.warning("an inner fold's %s is undefined throughout: the mean is over the other folds", metric)
    return values, metric


def refit_view(data: TaskDataset) -> TaskDataset:
    """train+val as one training part (no validation part), the test part as it is."""
    part = data.rows.part.copy()
    part[part == PARTS.index("val")] = PARTS.index("train")
    return data.view(np.arange(len(data.rows)), part)
