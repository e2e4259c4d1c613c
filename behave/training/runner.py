"""One runner for every recipe: what used to be repeated in each of them.

Like scikit-learn's `cross_validate`, it times `fit` and scoring for any recipe: fit (timed), save, score
the validation rows with the task's own metric function (the value the run reports for selection), predict
the test rows (timed). The recipe only fits, saves and predicts; the task scores; `behave/train.py` writes
the record. A label-free recipe (pretraining) has nothing for the task to score and scores itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from behave.data.errors import DataError
from behave.tasks.dataset import TaskDataset
from behave.training.recipe import Budget, Recipe, RunContext, SelfScoringRecipe
from behave.training.selection.inner_cv import CrossValidated, cross_validate, refit_view
from behave.training.selection.policies import Holdout, Selection


@dataclass
class FitOutcome:
    """What the runner measured. `test_probs` rows follow `data.inputs('test')`."""

    test_probs: np.ndarray
    best_val: float | None
    # What `best_val` measures: the task's headline on the validation rows (`val/<headline>`), or a
    # label-free recipe's own loss (its monitor).
    best_val_metric: str
    n_parameters: int
    fit_seconds: float
    predict_seconds: float
    embedding_dim: int | None = None
    extra: dict = field(default_factory=dict)
    # A label-free recipe (pretraining) scores itself on the test part; None: the task scores test_probs.
    test_metrics: dict | None = None


def refuse_unsupported(recipe: Recipe, task) -> None:
    """Refuse a model for a kind of task it cannot fit, before any data is prepared."""
    supported = getattr(recipe, "supported_tasks", None)
    if supported is None:
        raise DataError(f"model={recipe.name}: its recipe declares no supported_tasks, e.g. {{'regression'}}")
    if task.kind not in supported:
        raise DataError(
            f"model={recipe.name} fits {' or '.join(sorted(supported))} tasks; task={task.name} is a "
            f"{task.kind} task. Choose a model for it, or another task."
        )


def run_recipe(
    recipe: Recipe, data: TaskDataset, context: RunContext, selection: Selection | None = None
) -> FitOutcome:
    """Fit, save, score validation with the task, predict the test rows; every family the same way.
    With inner cross-validation (`selection`), first choose the count on inner folds of train+val, then
    fit train+val with it (behave/training/selection/inner_cv.py); the test rows are only ever predicted
    here, once, by the final fit."""
    selection = selection or Holdout()
    folds = selection.inner_folds_for(data, recipe)
    chosen = None
    if folds is not None:
        chosen = cross_validate(recipe, data, context, folds)
        data = refit_view(data)
        context = replace(context, budget=Budget(chosen.refit_count) if chosen.count is not None else None)
    outcome = _fit_and_predict(recipe, data, context, chosen)
    record = chosen.record() if chosen is not None else {"kind": "holdout"}
    outcome.extra["selection"] = {"requested": selection.requested, **record}
    return outcome


def _fit_and_predict(
    recipe: Recipe, data: TaskDataset, context: RunContext, chosen: CrossValidated | None
) -> FitOutcome:
    started = time.perf_counter()
    fitted = recipe.fit(data, context)
    fit_seconds = time.perf_counter() - started - fitted.setup_seconds
    if chosen is not None:  # choosing the count is part of the fit's cost (the record also keeps it apart)
        fit_seconds += chosen.seconds
    recipe.save(fitted, data, context)
    outcome = FitOutcome(
        test_probs=np.zeros((0, 0)),
        best_val=None,
        best_val_metric=context.monitor,
        n_parameters=fitted.n_parameters,
        fit_seconds=fit_seconds,
        predict_seconds=0.0,
        embedding_dim=fitted.embedding_dim,
        extra=dict(fitted.extra),
    )
    if isinstance(recipe, SelfScoringRecipe):
        outcome.best_val = fitted.best_val
        started = time.perf_counter()
        outcome.test_metrics = recipe.score(fitted, data, "test", context)
        outcome.predict_seconds = time.perf_counter() - started
        return outcome
    view = fitted.view if fitted.view is not None else data
    if chosen is not None:  # the refit has no validation part: the inner folds' mean is the run's value
        outcome.best_val, outcome.best_val_metric = chosen.value, chosen.metric
    else:
        val = view.inputs("val")
        scores = data.task.score(val.labels, recipe.predict(fitted.model, val, data.spec))
        outcome.best_val = float(scores[data.headline])
        outcome.best_val_metric = f"val/{data.headline}"
    started = time.perf_counter()
    test_probs = recipe.predict(fitted.model, view.inputs("test"), data.spec)
    outcome.predict_seconds = time.perf_counter() - started
    outcome.test_probs = np.asarray(test_probs, dtype=np.float64)
    return outcome
