"""Baselines with nothing to learn but a constant, kept torch-free: the floor every comparison should show."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from behave.data.inputs import RowInputs
from behave.data.spec import DatasetSpec
from behave.tasks.dataset import TaskDataset
from behave.training.recipe import FitOutcome, RunContext

SIZES_FILE = "model_sizes.json"


class GlobalMeanRecipe:
    """The floor: every rating predicted as the training mean."""

    def __init__(self, name: str = "global_mean", family: str = "baseline"):
        self.name = name
        self.family = family

    def fit(self, data: TaskDataset, context: RunContext) -> FitOutcome:
        mean = float(data.info["global_mean"])
        (context.run_dir / SIZES_FILE).write_text(json.dumps({"global_mean": mean}))
        val = data.inputs("val")
        best_val = data.task.score(val.labels, np.full((len(val), 1), mean))[data.headline]
        return FitOutcome(
            test_probs=np.full((len(data.inputs("test")), 1), mean),
            best_val=float(best_val),
            n_parameters=1,
            fit_seconds=0.0,
            predict_seconds=0.0,
        )

    def predict_proba(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        mean = json.loads((Path(run_dir) / SIZES_FILE).read_text())["global_mean"]
        return np.full((len(inputs), 1), float(mean))
