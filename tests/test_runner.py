"""The runner every recipe goes through, and the task kinds each recipe declares."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate

from behave.data.errors import DataError
from behave.train import run
from behave.training.recipe import Fitted, RunContext
from behave.training.runner import refuse_unsupported, run_recipe
from tests.compose import SMALL_DATA, compose_train


@dataclass
class Rows:
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


class MeanTask:
    name, kind = "toy", "regression"

    def score(self, labels, outputs) -> dict[str, float]:
        return {"mae": float(np.abs(labels - outputs[:, 0]).mean())}


@dataclass
class Data:
    parts: dict
    task: MeanTask = MeanTask()
    headline: str = "mae"
    spec: object = None

    def inputs(self, part: str) -> Rows:
        return self.parts[part]


class SlowConstant:
    """Predicts a constant; spends 0.2 s of its fit on setup the record reports apart."""

    name, family, supported_tasks = "constant", "baseline", frozenset({"regression"})

    def __init__(self, view=None):
        self.calls, self.view = [], view

    def fit(self, data, context) -> Fitted:
        self.calls.append("fit")
        time.sleep(0.2)
        return Fitted(model=2.0, n_parameters=1, view=self.view, setup_seconds=0.2)

    def save(self, fitted, data, context) -> None:
        self.calls.append("save")

    def predict(self, model, inputs, spec) -> np.ndarray:
        self.calls.append(f"predict {len(inputs)}")
        return np.full((len(inputs), 1), model, dtype=np.float32)


def test_the_runner_fits_saves_then_scores_validation_with_the_task(tmp_path):
    data = Data({"val": Rows(np.array([1.0, 3.0, 4.0])), "test": Rows(np.array([0.0, 2.0]))})
    recipe = SlowConstant()
    outcome = run_recipe(recipe, data, RunContext(tmp_path, 0, "val/mae"))
    assert recipe.calls == ["fit", "save", "predict 3", "predict 2"]
    assert outcome.best_val == pytest.approx((1 + 1 + 2) / 3)
    assert outcome.test_probs.dtype == np.float64 and outcome.test_probs.shape == (2, 1)
    assert outcome.fit_seconds < 0.15, "setup the record reports apart is not fit time"
    assert outcome.test_metrics is None


def test_the_runner_scores_the_rows_as_the_model_sees_them(tmp_path):
    task_rows = Data({"val": Rows(np.zeros(5)), "test": Rows(np.zeros(5))})
    seen = Data({"val": Rows(np.array([2.0, 2.0])), "test": Rows(np.array([2.0]))})
    outcome = run_recipe(SlowConstant(view=seen), task_rows, RunContext(tmp_path, 0, "val/mae"))
    assert outcome.best_val == 0.0 and len(outcome.test_probs) == 1


@pytest.mark.parametrize("model", ["lightgbm", "logreg", "gru", "embeddings_xgboost"])
def test_classifiers_are_refused_for_a_regression_task(model):
    cfg = compose_train([f"model={model}"], Path("unused"), Path("unused"))
    recipe = instantiate(cfg.model)
    with pytest.raises(DataError) as refused:
        refuse_unsupported(recipe, type("Rating", (), {"name": "rating", "kind": "regression"})())
    assert f"model={model}" in str(refused.value) and "task=rating" in str(refused.value)
    assert "classification" in str(refused.value)


def test_a_model_for_another_task_kind_is_refused_before_any_data_is_prepared(tmp_path):
    cfg = compose_train(["model=global_mean", *SMALL_DATA], tmp_path / "run", tmp_path / "cache")
    result = run(cfg)
    assert result.status == "failed"
    assert "model=global_mean fits regression tasks; task=sequence is a classification task" in result.error
    assert not (tmp_path / "cache").exists(), "data was prepared for a run that could not start"
