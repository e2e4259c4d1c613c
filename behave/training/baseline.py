"""Baselines with nothing to learn but a constant, kept torch-free: the floor every comparison should show."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from behave.data.inputs import RowInputs
from behave.data.spec import DatasetSpec
from behave.tasks.dataset import TaskDataset
from behave.training.recipe import Fitted, RunContext

SIZES_FILE = "model_sizes.json"


class GlobalMeanRecipe:
    """The floor: every rating predicted as the training mean."""

    supported_tasks = frozenset({"regression"})

    def __init__(self, name: str = "global_mean", family: str = "baseline"):
        self.name = name
        self.family = family

    def fit(self, data: TaskDataset, context: RunContext) -> Fitted:
        return Fitted(model=float(data.info["global_mean"]), n_parameters=1)

    def save(self, fitted: Fitted, data: TaskDataset, context: RunContext) -> None:
        (context.run_dir / SIZES_FILE).write_text(json.dumps({"global_mean": fitted.model}))

    def predict(self, mean: float, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        return np.full((len(inputs), 1), mean)

    def predict_proba(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        mean = json.loads((Path(run_dir) / SIZES_FILE).read_text())["global_mean"]
        return self.predict(float(mean), inputs, spec)
