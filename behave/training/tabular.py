"""The tree family's recipe: XGBoost (hist) on the pipeline's tabular features of the same split.

Early stopping on the validation part; the per-round validation metric goes to TensorBoard under the
same tag as the neural runs' epochs (`val/auroc`); the model is saved as XGBoost JSON, never pickled.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from behave.data.pipeline import Views
from behave.data.prepared import PreparedDataset
from behave.data.spec import DatasetSpec
from behave.training.metrics import score
from behave.training.recipe import FitOutcome, RunContext

MODEL_FILE = "model.xgb.json"


class XGBoostRecipe:
    def __init__(
        self, params: dict[str, Any], name: str = "xgboost", family: str = "tabular", n_jobs: int = 2
    ):
        self.params = dict(params)
        self.name = name
        self.family = family
        self.n_jobs = n_jobs

    def classifier(self, num_classes: int, seed: int) -> xgb.XGBClassifier:
        objective = (
            {"objective": "binary:logistic", "eval_metric": "auc"}
            if num_classes == 2
            else {"objective": "multi:softprob", "eval_metric": "mlogloss"}
        )
        return xgb.XGBClassifier(**self.params, **objective, n_jobs=self.n_jobs, random_state=seed)

    def fit(self, data: PreparedDataset, context: RunContext) -> FitOutcome:
        x_train, y_train = data.tabular("train")
        x_val, y_val = data.tabular("val")
        self.feature_names = list(x_train.columns)
        x_train, x_val = positional(x_train), positional(x_val)
        model = self.classifier(data.num_classes, context.seed)
        started = time.perf_counter()
        model.fit(x_train, y_train, eval_set=[(x_val, y_val)], verbose=False)
        fit_seconds = time.perf_counter() - started
        model.save_model(context.run_dir / MODEL_FILE)
        val_probs = model.predict_proba(x_val)
        best_val = score(y_val, val_probs)[context.monitor.split("/", 1)[1]]
        self._log_rounds(model, context, data.num_classes)
        self._log_importances(model, context)
        started = time.perf_counter()
        test_probs = model.predict_proba(positional(data.tabular("test")[0]))
        predict_seconds = time.perf_counter() - started
        return FitOutcome(
            test_probs=np.asarray(test_probs, dtype=np.float64),
            best_val=float(best_val),
            n_parameters=int(model.get_booster().trees_to_dataframe().shape[0]),
            fit_seconds=fit_seconds,
            predict_seconds=predict_seconds,
            extra={"best_iteration": int(model.best_iteration), "n_trees": int(model.best_iteration) + 1},
        )

    def _log_rounds(self, model: xgb.XGBClassifier, context: RunContext, num_classes: int) -> None:
        """The per-round validation curve, under the neural runs' tag names (one round = one step)."""
        if context.logger is None:
            return
        history = model.evals_result()["validation_0"]
        tag = "val/auroc" if num_classes == 2 else "val/log_loss"
        curve = history["auc"] if num_classes == 2 else history["mlogloss"]
        for step, value in enumerate(curve):
            context.logger.log_metrics({tag: float(value)}, step=step)

    def _log_importances(self, model: xgb.XGBClassifier, context: RunContext) -> None:
        """Total gain per feature: a TensorBoard text table and a CSV in the run folder."""
        gains = model.get_booster().get_score(importance_type="total_gain")
        named = {self.feature_names[int(key[1:])]: gain for key, gain in gains.items()}
        ranked = sorted(named.items(), key=lambda item: -item[1])
        lines = ["feature,total_gain"] + [f'"{name}",{gain:.6g}' for name, gain in ranked]
        (context.run_dir / "feature_importance.csv").write_text("\n".join(lines) + "\n")
        if context.logger is not None:
            table = "| feature | total gain |\n|---|---|\n" + "\n".join(
                f"| {n} | {g:.4g} |" for n, g in ranked[:50]
            )
            context.logger.experiment.add_text("feature_importance", table)
            for name, gain in ranked[:50]:
                context.logger.experiment.add_scalar(f"feature_importance/{name}", gain, 0)

    def predict_proba(self, run_dir: Path, views: Views, spec: DatasetSpec) -> np.ndarray:
        model = xgb.XGBClassifier()
        model.load_model(Path(run_dir) / MODEL_FILE)
        return np.asarray(model.predict_proba(positional(views.features)), dtype=np.float64)


def positional(features: pd.DataFrame) -> pd.DataFrame:
    """Columns renamed f0, f1, ...: XGBoost rejects names with '[', ']' or '<', which readable names use."""
    return features.set_axis([f"f{i}" for i in range(features.shape[1])], axis=1)
