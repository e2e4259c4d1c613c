"""LightGBM on the pipeline's tabular features of the task's rows: the boosted trees the closest peer uses.

As XGBoost: early stopping on the validation rows' log loss, the task's metric on them reported for
selection, per-round train/val loss under the neural tags, gain importances; the model is saved as
LightGBM's own text format, never pickled. Given a `Budget` (inner cross-validation), it boosts exactly that
many rounds without early stopping and reports the run's monitor per round on the validation part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from behave.data.inputs import RowInputs
from behave.data.spec import DatasetSpec
from behave.explain.summary import Explanation, feature_explanation
from behave.tasks.dataset import TaskDataset
from behave.training.recipe import BudgetUnit, Fitted, RunContext
from behave.training.tabular.class_limit import refuse_too_many_classes
from behave.training.tabular.curves import (
    ROUND_TAGS,
    log_importances,
    log_round_curves,
    monitor_curve,
    positional,
    round_line,
)

MODEL_FILE = "model.lgb.txt"


class LightGBMRecipe:
    supported_tasks = frozenset({"classification"})  # a classifier only (no regressor wired up)
    budget_unit = BudgetUnit.rounds

    def __init__(
        self,
        params: dict[str, Any],
        name: str = "lightgbm",
        family: str = "tabular",
        n_jobs: int = 2,
        early_stopping_rounds: int = 50,
    ):
        self.params = dict(params)
        self.name = name
        self.family = family
        self.n_jobs = n_jobs
        self.early_stopping_rounds = early_stopping_rounds

    def classifier(self, num_classes: int, seed: int) -> lgb.LGBMClassifier:
        refuse_too_many_classes(self.name, num_classes)
        objective = "binary" if num_classes == 2 else "multiclass"
        settings = {"objective": objective, **self.params, "n_jobs": self.n_jobs, "random_state": seed}
        return lgb.LGBMClassifier(**settings, verbosity=-1)

    def fit(self, data: TaskDataset, context: RunContext) -> Fitted:
        train, val = data.inputs("train"), data.inputs("val")
        x_train, x_val = positional(train.features), positional(val.features)
        model = self.classifier(data.num_classes, context.seed)
        budget = context.budget
        evals, names, callbacks = [(x_train, train.labels)], ["training"], [RoundLine()]
        if len(val):
            evals.append((x_val, val.labels))
            names.append("val")
        if budget is None:
            callbacks.insert(
                0, lgb.early_stopping(self.early_stopping_rounds, first_metric_only=False, verbose=False)
            )
        elif budget.count is not None:
            model.set_params(n_estimators=budget.count)
        # A budget fit's curve is the run's monitor: AUROC per round, which a binary booster then logs.
        extra_metric = "auc" if budget is not None and data.num_classes == 2 else None
        model.fit(
            x_train, train.labels, eval_set=evals, eval_names=names, callbacks=callbacks,
            eval_metric=extra_metric,
        )  # fmt: skip
        # "training" is LightGBM's name for the training set, which early stopping then leaves out.
        val_curves = model.evals_result_.get("val", {})
        log_round_curves({"train": model.evals_result_["training"], "val": val_curves}, context)
        booster = model.booster_
        best = int(model.best_iteration_ or booster.current_iteration())  # 1-based, as LightGBM counts
        n_trees = best * booster.num_trees() // max(booster.current_iteration(), 1)  # a tree per class
        nodes = booster.trees_to_dataframe()
        return Fitted(
            model=model,
            n_parameters=int((nodes["tree_index"] < n_trees).sum()),
            extra={"best_iteration": best - 1, "n_trees": n_trees},
            curve=monitor_curve(val_curves, context.monitor, stops_on=self.stopping_metric(val_curves))
            if budget and val_curves
            else None,
        )

    @staticmethod
    def stopping_metric(val_curves: dict[str, list[float]]) -> str | None:
        """The objective's own loss (binary_logloss, multi_logloss), the metric the holdout's early stopping
        watches; the AUROC a budget fit adds only reports."""
        return next((metric for metric in val_curves if ROUND_TAGS.get(metric) == "loss"), None)

    def save(self, fitted: Fitted, data: TaskDataset, context: RunContext) -> None:
        model = fitted.model
        model.booster_.save_model(str(context.run_dir / MODEL_FILE), num_iteration=model.best_iteration_)
        gains = model.booster_.feature_importance(importance_type="gain")
        names = data.feature_names
        log_importances(sorted(zip(names, map(float, gains)), key=lambda item: -item[1]), context, "gain")

    def predict(self, model: lgb.LGBMClassifier, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        return model.predict_proba(positional(inputs.features))

    def explain(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> Explanation:
        """Exact per-row SHAP values (LightGBM's own TreeSHAP) of the saved model."""
        booster = lgb.Booster(model_file=str(Path(run_dir) / MODEL_FILE))
        return feature_explanation(booster, positional(inputs.features), list(inputs.features.columns))

    def predict_proba(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        booster = lgb.Booster(model_file=str(Path(run_dir) / MODEL_FILE))
        scores = np.asarray(booster.predict(positional(inputs.features)), dtype=np.float64)
        return np.stack([1.0 - scores, scores], axis=1) if scores.ndim == 1 else scores


class RoundLine:
    """A progress line every `every` rounds, as for XGBoost."""

    def __init__(self, every: int = 100) -> None:
        self.every = every
        self.order = 30  # after LightGBM's own callbacks have recorded the round

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        if (env.iteration + 1) % self.every:
            return
        curves: dict[str, dict[str, list[float]]] = {}
        for part, metric, value, _ in env.evaluation_result_list:
            curves.setdefault("train" if part == "training" else part, {})[metric] = [value]
        round_line(env.iteration + 1, curves)
