"""XGBoost (hist) on the pipeline's tabular features of the task's rows.

Early stopping on the validation rows' log loss: unlike AUROC it keeps improving while probabilities
sharpen, so a validation AUROC that reaches 1.0 in the first round does not freeze the model at one tree
(whose accuracy is the majority rate and whose probabilities mean nothing). The task's headline metric on
the validation rows is what the run reports for selection, as for the neural family. Per-round train and
validation losses go to TensorBoard under the neural runs' tags (`train/loss`, `val/loss`, one round =
one step); the model is saved as XGBoost JSON, never pickled. The booster is checkpointed every
`checkpoint_every` rounds, and a killed run's rerun continues from it
(training/tabular/booster_checkpoint.py).
A feature table larger than memory is boosted from the task's feature file in batches with XGBoost's
external memory (`external_memory`, training/tabular/xgboost_external.py); predictions are made batch
by batch.
Given a `Budget` (inner cross-validation), it boosts exactly that many rounds without early stopping or
checkpoints and reports the run's monitor per round on the validation part (`Fitted.curve`).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from behave.data.errors import DataError
from behave.data.inputs import RowInputs
from behave.data.spec import DatasetSpec
from behave.explain.summary import Explanation, feature_explanation
from behave.run.checkpoint_folder import CHECKPOINTS
from behave.tasks.dataset import TaskDataset
from behave.training.recipe import Budget, BudgetUnit, Fitted, RunContext
from behave.training.tabular.booster_checkpoint import (
    BoosterCheckpoint,
    early_stopping,
    joined,
    resumable_state,
)
from behave.training.tabular.class_limit import refuse_too_many_classes
from behave.training.tabular.curves import (
    log_importances,
    log_round_curves,
    monitor_curve,
    positional,
    round_line,
)
from behave.training.tabular.xgboost_external import PAGES, ExternalMemory, boost_from_batches

log = logging.getLogger("behave.train")
MODEL_FILE = "model.xgb.json"


class XGBoostRecipe:
    supported_tasks = frozenset({"classification", "regression"})
    # The estimator classes this recipe fits with (the Dask recipe swaps in XGBoost's Dask ones).
    estimator_classes = {"classifier": xgb.XGBClassifier, "regressor": xgb.XGBRegressor}
    progress_lines = True  # a line per 100 rounds in the run's log
    budget_unit = BudgetUnit.rounds

    def __init__(
        self,
        params: dict[str, Any],
        name: str = "xgboost",
        family: str = "tabular",
        n_jobs: int = 2,
        checkpoint_every: int = 50,
        callbacks: dict[str, xgb.callback.TrainingCallback] | None = None,
        external_memory: ExternalMemory | None = None,
    ):
        self.params = dict(params)
        self.name = name
        self.family = family
        self.n_jobs = n_jobs
        self.checkpoint_every = checkpoint_every
        self.external_memory = external_memory or ExternalMemory()
        # More XGBoost callbacks from config (`+model.callbacks.<name>._target_=...`), run after behave's.
        self.callbacks = list((callbacks or {}).values())

    def estimator(
        self, data: TaskDataset, seed: int, callbacks: list | None = None, rounds: int | None = None
    ) -> xgb.XGBModel:
        """A classifier, or a regressor for a regression task; `params` may override the objective's
        defaults, `eval_metric` included (the LAST metric is the one early stopping watches). `rounds`
        replaces `n_estimators` (a resumed fit boosts only the rounds left); early stopping comes as a
        callback in `callbacks` (so a resumed fit can carry its count on)."""
        if data.task.kind == "regression":
            defaults, kind = {"objective": "reg:squarederror", "eval_metric": ["rmse"]}, "regressor"
        elif data.num_classes == 2:
            defaults, kind = (
                {"objective": "binary:logistic", "eval_metric": ["auc", "logloss"]},
                "classifier",
            )
        else:
            refuse_too_many_classes(self.name, data.num_classes)
            defaults, kind = {"objective": "multi:softprob", "eval_metric": ["mlogloss"]}, "classifier"
        settings = {**defaults, **self.params, "n_jobs": self.n_jobs, "random_state": seed}
        kind = self.estimator_classes[kind]
        settings.pop("early_stopping_rounds", None)
        if rounds is not None:
            settings["n_estimators"] = rounds
        progress = [RoundLine()] if self.progress_lines else []
        return kind(**settings, callbacks=[*progress, *(callbacks or [])])

    @property
    def total_rounds(self) -> int:
        return int(self.params.get("n_estimators", 100))

    def fit(self, data: TaskDataset, context: RunContext) -> Fitted:
        self.feature_names = data.feature_names
        if context.budget is None:
            model, history, extra = self.boost(data, context)
        else:
            model, history, extra = self.boost_budget(data, context.budget, context.seed)
        val_history = history.get("validation_1", {})
        log_round_curves({"train": history["validation_0"], "val": val_history}, context)
        n_trees, n_nodes = used_trees(model)
        return Fitted(
            model=model,
            n_parameters=n_nodes,
            extra={"best_iteration": best_iteration(model), "n_trees": n_trees, **extra},
            # The last eval metric is the one early stopping watches on the holdout: it chooses here too.
            curve=monitor_curve(val_history, context.monitor, stops_on=list(val_history)[-1])
            if context.budget and val_history
            else None,
        )

    def save(self, fitted: Fitted, data: TaskDataset, context: RunContext) -> None:
        fitted.model.save_model(context.run_dir / MODEL_FILE)
        # Once the model file is written it is the run's state; a kill before this resumes from a checkpoint.
        shutil.rmtree(context.run_dir / CHECKPOINTS, ignore_errors=True)
        self._log_importances(fitted.model, context)

    def predict(self, model: xgb.XGBModel, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        return self.batch_outputs(model, inputs)

    def boost(self, data: TaskDataset, context: RunContext) -> tuple[xgb.XGBModel, dict, dict]:
        """The fitted model (in this process), its per-round curves {eval set: {metric: values}}, and what
        the run record should add (the round a killed run resumed at)."""
        train, val = data.inputs("train"), data.inputs("val")
        path, earlier = resumable_state(context.checkpoints())
        stopper = early_stopping(self.params.get("early_stopping_rounds"), earlier)
        callbacks = [stopper] if stopper is not None else []
        if self.checkpoint_every:  # after the stopper: each checkpoint holds that round's stopping state
            callbacks.append(
                BoosterCheckpoint(path, self.checkpoint_every, self.total_rounds, stopper, earlier)
            )
        done = earlier.rounds if earlier is not None else 0
        model = self.estimator(data, context.seed, [*callbacks, *self.callbacks], self.total_rounds - done)
        start_from = earlier.load_booster() if earlier is not None else None
        extra = {"resumed_at_round": done} if done else {}
        if self.external_memory.applies(len(data.rows), len(self.feature_names)):
            batch_rows = self.external_memory.batch_rows(len(self.feature_names))
            log.info("boosting from the feature file, %d rows a batch (XGBoost external memory)", batch_rows)
            booster, curves = boost_from_batches(
                model,
                train,
                val,
                n_features=len(self.feature_names),
                n_classes=data.num_classes,
                batch_rows=batch_rows,
                scratch=context.run_dir / PAGES,
                earlier=start_from,
            )
            booster.save_model(context.run_dir / MODEL_FILE)
            model, extra["external_memory_batch_rows"] = self.load_model(context.run_dir), batch_rows
            model.set_params(n_jobs=self.n_jobs)  # a loaded model would predict on every core
        else:
            x_train, x_val = positional(train.features), positional(val.features)
            model.fit(
                x_train,
                train.labels,
                eval_set=[(x_train, train.labels), (x_val, val.labels)],
                verbose=False,
                xgb_model=start_from,
            )
            curves = model.evals_result()
        return model, joined(earlier.history if earlier is not None else {}, curves), extra

    def boost_budget(self, data: TaskDataset, budget: Budget, seed: int) -> tuple[xgb.XGBModel, dict, dict]:
        """Exactly `budget.count` rounds (None: `n_estimators`), no early stopping, no checkpoint; the
        validation part, when it has rows, scored every round."""
        if self.external_memory.applies(len(data.rows), len(self.feature_names)):
            raise DataError(
                f"model={self.name}: a feature table boosted from external memory is not cross-validated "
                "inside a run; use selection=holdout"
            )
        train, val = data.inputs("train"), data.inputs("val")
        x_train = positional(train.features)
        evals = [(x_train, train.labels)]
        if len(val):
            evals.append((positional(val.features), val.labels))
        model = self.estimator(data, seed, self.callbacks, budget.count or self.total_rounds)
        model.fit(x_train, train.labels, eval_set=evals, verbose=False)
        return model, model.evals_result(), {}

    def _log_importances(self, model: xgb.XGBClassifier, context: RunContext) -> None:
        """Total gain per feature."""
        gains = model.get_booster().get_score(importance_type="total_gain")
        named = {self.feature_names[int(key[1:])]: gain for key, gain in gains.items()}
        log_importances(sorted(named.items(), key=lambda item: -item[1]), context, "total_gain")

    def load_model(self, run_dir: Path) -> xgb.XGBModel:
        """The estimator class the run fitted (its objective says which), so prediction stops at the same
        early-stopped round as the run did."""
        booster = xgb.Booster()
        booster.load_model(Path(run_dir) / MODEL_FILE)
        objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
        model = xgb.XGBRegressor() if objective.startswith("reg:") else xgb.XGBClassifier()
        model.load_model(Path(run_dir) / MODEL_FILE)
        return model

    def batch_outputs(self, model: xgb.XGBModel, inputs: RowInputs) -> np.ndarray:
        """`outputs` of the rows, batch by batch: a part of a table larger than memory is never whole."""
        batch_rows = self.external_memory.batch_rows(len(self.feature_names))
        names = [f"f{i}" for i in range(len(self.feature_names))]
        batches = [
            outputs(model, pd.DataFrame(batch, columns=names, copy=False))
            for batch in inputs.feature_batches(batch_rows)
        ]
        width = 1 if isinstance(model, xgb.XGBRegressor) else max(model.n_classes_, 2)
        return np.concatenate(batches) if batches else np.empty((0, width))

    def predict_proba(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        return outputs(self.load_model(run_dir), positional(inputs.features))

    def explain(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> Explanation:
        """Exact per-row SHAP values (XGBoost's own TreeSHAP) of the saved model."""
        model = self.load_model(run_dir)
        return feature_explanation(model, positional(inputs.features), list(inputs.features.columns))


def outputs(model: xgb.XGBModel, features) -> np.ndarray:
    """(R, C) class probabilities of a classifier, (R, 1) predicted values of a regressor."""
    if isinstance(model, xgb.XGBClassifier):
        return np.asarray(model.predict_proba(features), dtype=np.float64)
    return np.asarray(model.predict(features), dtype=np.float64)[:, None]


class RoundLine(xgb.callback.TrainingCallback):
    """A progress line every `every` boosting rounds: `round 200  train/loss 0.3121  val/loss 0.3390`."""

    def __init__(self, every: int = 100) -> None:
        super().__init__()
        self.every = every

    def after_iteration(self, model, epoch: int, evals_log: dict) -> bool:
        rounds = model.num_boosted_rounds()  # counts a resumed run's earlier rounds, unlike `epoch`
        if rounds % self.every == 0:
            parts = {"train": "validation_0", "val": "validation_1"}
            round_line(rounds, {part: evals_log.get(key, {}) for part, key in parts.items()})
        return False  # never stops training; early stopping is XGBoost's own


def best_iteration(model: xgb.XGBClassifier) -> int:
    """The last boosting round the model predicts with (all rounds when early stopping never triggered)."""
    best = getattr(model, "best_iteration", None)
    return int(best) if best is not None else model.get_booster().num_boosted_rounds() - 1


def used_trees(model: xgb.XGBClassifier) -> tuple[int, int]:
    """(trees, nodes) up to the best round: a multiclass round grows one tree per class."""
    booster = model.get_booster()
    per_round = len(booster.get_dump()) // max(booster.num_boosted_rounds(), 1)
    n_trees = (best_iteration(model) + 1) * per_round
    nodes = booster.trees_to_dataframe()
    return n_trees, int((nodes["Tree"] < n_trees).sum())
