"""What every model family implements, so `train(cfg)` treats GRUs and boosted trees the same way.

A recipe is built from `conf/model/<name>.yaml` by Hydra (`_target_`). `fit` trains on the task's train
rows (selecting on its val rows), logs to the run's TensorBoard, saves what `behave-predict` needs in the
run folder, and returns test-row probabilities for the task's one metric function. New families (SVM, MLP
on features, pretrained encoders...) slot in as new recipes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from omegaconf import DictConfig

from behave.data.inputs import RowInputs
from behave.data.spec import DatasetSpec
from behave.tasks.dataset import TaskDataset

# A recipe's `family`: learned representations (neural), hand-engineered features (tabular), a constant
# rule a model must beat (baseline: the global mean of the rating task), models that start from an encoder
# pretrained without labels (pretrained), and the label-free pretraining itself (pretraining).
FAMILIES = ("neural", "tabular", "baseline", "pretrained", "pretraining")


@dataclass(frozen=True)
class RunContext:
    """Where and how to run: the run folder, the seed, the full config (trainer, callbacks...), the metric
    that selects checkpoints and stops training (from the task), and the run's TensorBoard."""

    run_dir: Path
    seed: int
    cfg: DictConfig
    monitor: str  # e.g. "val/auroc"
    board: Any = None  # behave.training.board.TensorBoard, shared by both families (same folder, same tags)


@dataclass
class FitOutcome:
    """What a recipe reports back. `test_probs` rows follow `data.inputs('test')`."""

    test_probs: np.ndarray
    best_val: float | None
    n_parameters: int
    fit_seconds: float
    predict_seconds: float
    embedding_dim: int | None = None
    extra: dict = field(default_factory=dict)
    # A label-free recipe (pretraining) scores itself on the test part; None: the task scores test_probs.
    test_metrics: dict | None = None


class Recipe(Protocol):
    name: str
    family: str

    def fit(self, data: TaskDataset, context: RunContext) -> FitOutcome: ...

    def predict_proba(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        """(R, C) probabilities for every row of `inputs`, from the model saved in `run_dir`."""
        ...
