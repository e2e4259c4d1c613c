"""The tabular family's general recipe: any scikit-learn estimator on the task's tabular features.

Preprocessing the estimator needs (standard scaling for linear models, SVMs and MLPs) is part of its
scikit-learn Pipeline, fitted on the training rows only. Features with gaps (a per-event task's running
features are NaN where a value never occurred or a last-k slot is empty) are first filled with the training
median; the counts beside them (so far, position) still say that the value never occurred.
Estimators without probabilities (a linear SVM) or with poor ones get them from a sigmoid calibration
fitted on the validation rows (`calibrate: sigmoid`), the model itself frozen. The task's metric on the
validation rows is what the run reports for selection.

The fitted model is saved with skops (no pickle): `behave-predict` loads it trusting only scikit-learn,
NumPy and SciPy types, so a run folder from elsewhere cannot run code on load.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from behave.data.errors import DataError
from behave.data.inputs import RowInputs
from behave.data.spec import DatasetSpec
from behave.explain.summary import Explanation, linear_explanation
from behave.tasks.dataset import TaskDataset
from behave.training.recipe import BudgetUnit, Fitted, RunContext
from behave.training.tabular.curves import log_importances

MODEL_FILE = "model.skops"
# The types skops does not trust by default that the configured estimators' fitted models hold, by exact
# name: a prefix (every `builtins.` or `sklearn.` name) would also trust functions a crafted file calls while
# it loads (`builtins.exec`), so nothing is trusted for where it comes from.
TRUSTED_TYPES = frozenset({
    "numpy.dtype",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.tree._tree.Tree",
})  # fmt: skip


class SklearnRecipe:
    supported_tasks = frozenset({"classification"})  # probabilities from `predict_proba`
    budget_unit = BudgetUnit.none  # nothing counted: inner cross-validation reports its mean and refits it

    def __init__(
        self,
        estimator: BaseEstimator,
        name: str,
        family: str = "tabular",
        scale: bool = False,
        calibrate: str | None = None,
    ) -> None:
        if calibrate not in (None, "sigmoid", "isotonic"):
            raise ValueError(f"model.calibrate must be null, sigmoid or isotonic, got {calibrate!r}")
        self.estimator = estimator
        self.name = name
        self.family = family
        self.scale = scale
        self.calibrate = calibrate

    def pipeline(self, seed: int, gaps: bool = False) -> Pipeline:
        """The estimator after what it needs: a median fill where the training features have `gaps`
        (only then, so a model of features without NaN is the one it always was), and scaling."""
        estimator = clone(self.estimator)
        if "random_state" in estimator.get_params():
            estimator.set_params(random_state=seed)
        fill = [SimpleImputer(strategy="median", keep_empty_features=True)] if gaps else []
        return make_pipeline(*fill, *([StandardScaler()] if self.scale else []), estimator)

    def fit(self, data: TaskDataset, context: RunContext) -> Fitted:
        train, val = data.inputs("train"), data.inputs("val")
        gaps = bool(train.features.isna().to_numpy().any())
        model = self.pipeline(context.seed, gaps).fit(train.features.to_numpy(), train.labels)
        if self.calibrate is not None:
            if not len(val):  # the refit after inner cross-validation trains on train+val
                raise DataError(
                    f"model.calibrate={self.calibrate} calibrates on the validation part, which "
                    "selection=inner_cv folds into training: use selection=holdout or model.calibrate=null"
                )
            frozen = CalibratedClassifierCV(FrozenEstimator(model), method=self.calibrate)
            model = frozen.fit(val.features.to_numpy(), val.labels)
        return Fitted(model=model, n_parameters=count_parameters(model))

    def save(self, fitted: Fitted, data: TaskDataset, context: RunContext) -> None:
        save_model(fitted.model, context.run_dir / MODEL_FILE)
        importances = feature_importances(fitted.model, data.feature_names)
        if importances:
            log_importances(importances, context)

    def predict(self, model: Any, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        return np.asarray(model.predict_proba(inputs.features.to_numpy()), dtype=np.float64)

    def explain(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> Explanation:
        """Exact SHAP for a linear model (coefficient x input minus its training mean, on the scaled inputs:
        under independent features the Shapley values of a linear margin); other estimators have no cheap
        exact explainer here and say so."""
        model = load_model(Path(run_dir) / MODEL_FILE)
        return linear_explanation(model, inputs.features, list(inputs.features.columns))

    def predict_proba(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        return self.predict(load_model(Path(run_dir) / MODEL_FILE), inputs, spec)


@contextlib.contextmanager
def _torch_hidden() -> Iterator[None]:
    """Import skops without torch: skops lists scikit-learn's modules when imported, and one of them
    (an array-API shim) imports torch when it is installed, 2-5 s a tree run should not pay. Hiding torch
    only makes that shim unavailable, which no scikit-learn estimator behave saves uses."""

    class Hide:
        def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is not needed to save or load scikit-learn models")

    hide = None if "torch" in sys.modules else Hide()
    if hide is not None:
        sys.meta_path.insert(0, hide)
    try:
        yield
    finally:
        if hide is not None:
            sys.meta_path.remove(hide)


def _skops():
    with _torch_hidden():
        return importlib.import_module("skops.io")


def save_model(model: Any, path: Path) -> None:
    _skops().dump(model, path)


def load_model(path: Path) -> Any:
    """Load a skops file trusting skops' defaults and `TRUSTED_TYPES`; a file that names anything else is
    refused before anything in it is built."""
    sio = _skops()
    untrusted = sio.get_untrusted_types(file=path)
    foreign = [t for t in untrusted if t not in TRUSTED_TYPES]
    if foreign:
        raise DataError(
            f"{path}: the model holds types behave does not trust ({foreign[:5]}); refusing to load it."
        )
    return sio.load(path, trusted=untrusted)


def count_parameters(obj: Any, seen: set[int] | None = None) -> int:
    """Numbers a fitted model learned: array attributes ending in `_` and tree nodes, nested ones too."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return int(obj.size) if obj.dtype.kind in "fiu" else 0
    if isinstance(obj, list | tuple):
        return sum(count_parameters(item, seen) for item in obj)
    if hasattr(obj, "node_count"):  # a fitted sklearn Tree
        return int(obj.node_count)
    if not isinstance(obj, BaseEstimator | FrozenEstimator) and not hasattr(obj, "__dict__"):
        return 0
    total = 0
    for key, value in vars(obj).items():
        if key.endswith("_") or key in ("steps", "estimator"):
            total += count_parameters(value, seen)
    return total


def feature_importances(model: Any, names: list[str]) -> list[tuple[str, float]]:
    """(feature, importance) for estimators that have them (trees, linear models), largest first."""
    estimator = model
    if isinstance(estimator, CalibratedClassifierCV):
        estimator = estimator.estimator
    if isinstance(estimator, FrozenEstimator):
        estimator = estimator.estimator
    if isinstance(estimator, Pipeline):
        estimator = estimator.steps[-1][1]
    values = getattr(estimator, "feature_importances_", None)
    if values is None and getattr(estimator, "coef_", None) is not None:
        coef = np.asarray(estimator.coef_)
        values = np.abs(coef).sum(axis=0) if coef.ndim == 2 else np.abs(coef)
    if values is None or len(values) != len(names):
        return []
    return sorted(zip(names, map(float, values)), key=lambda item: -item[1])
