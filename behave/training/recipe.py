"""What every model family implements, so `train(cfg)` treats GRUs and boosted trees the same way.

A recipe is built from `conf/model/<name>.yaml` by Hydra (`_target_`). `fit` trains on the prepared
dataset's train part (selecting on val), logs to TensorBoard under `context.run_dir`, saves what
`behave-predict` needs in the run folder, and returns test-part probabilities for the shared metric
function. New families (SVM, MLP on features, pretrained encoders...) slot in as new recipes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from omegaconf import DictConfig

from behave.data.pipeline import Views
from behave.data.prepared import PreparedDataset
from behave.data.spec import DatasetSpec


@dataclass(frozen=True)
class RunContext:
    """Where and how to run: the run folder, the seed, the full config (trainer, logger, callbacks...)."""

    run_dir: Path
    seed: int
    cfg: DictConfig
    monitor: str  # e.g. "val/auroc"
    logger: Any = None  # the run's TensorBoard logger, shared by both families (same folder, same tags)


@dataclass
class FitOutcome:
    """What a recipe reports back. `test_probs` rows follow `data.rows('test')`."""

    test_probs: np.ndarray
    best_val: float | None
    n_parameters: int
    fit_seconds: float
    predict_seconds: float
    embedding_dim: int | None = None
    extra: dict = field(default_factory=dict)


class Recipe(Protocol):
    name: str
    family: str

    def fit(self, data: PreparedDataset, context: RunContext) -> FitOutcome: ...

    def predict_proba(self, run_dir: Path, views: Views, spec: DatasetSpec) -> np.ndarray:
        """(S, C) probabilities for every sequence of `views`, from the model saved in `run_dir`."""
        ...
