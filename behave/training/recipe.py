"""What every model family implements, so `train(cfg)` treats GRUs and boosted trees the same way.

A recipe is built from `conf/model/<name>.yaml` by Hydra (`_target_`) and only fits, saves, loads and
predicts; the runner (`training/runner.py`) times the fit, scores the validation rows with the task, times
the test prediction and fills the record, the same way for every family (the shape of scikit-learn's
`cross_validate`). A new family is one recipe module and its YAML.

    supported_tasks   the task kinds it fits (`Task.kind`: classification, regression, pretraining);
                      any other is refused when the run starts, before data is prepared
    fit               train on the task's train rows (selecting on its val rows); return a `Fitted`
    save              write what `predict_proba` loads (and the run's other files: importances, embeddings)
                      into the run folder; the fit's timing leaves it out
    predict           (R, C) outputs of a fitted model for rows, as the model sees them (`Fitted.view`):
                      class probabilities, or one predicted value per row for a regression task
    predict_proba     the same from the model saved in a run folder (behave-predict, behave-explain)
    budget_unit       what a `Budget` counts for it (epochs, boosting rounds, or none: nothing to choose);
                      a recipe without it cannot be selected by inner cross-validation (`selection`)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from behave.data.inputs import RowInputs
from behave.data.spec import DatasetSpec
from behave.run.checkpoint_folder import checkpoint_folder
from behave.tasks.dataset import TaskDataset

# A recipe's `family`: learned representations (neural), hand-engineered features (tabular), a constant
# rule a model must beat (baseline: the global mean of the rating task), models that start from an encoder
# pretrained without labels (pretrained), and the label-free pretraining itself (pretraining).
FAMILIES = ("neural", "tabular", "baseline", "pretrained", "pretraining")


class BudgetUnit(str, Enum):
    """What a recipe's fit counts when it is given a `Budget`; `none`: it has no count to choose (a linear
    model, a constant), so inner cross-validation only reports its mean and refits it as it is."""

    epochs = "epochs"
    rounds = "rounds"
    none = "none"


@dataclass(frozen=True)
class Budget:
    """Fit exactly `count` epochs / boosting rounds (None: the recipe's configured maximum) with no early
    stopping and the last weights kept; when the validation part has rows, score it after each epoch or
    round into `Fitted.curve`. Inner cross-validation fits folds with `Budget()` and refits with the count
    it chose; a run without a budget selects on its validation part as always."""

    count: int | None = None


@dataclass(frozen=True)
class SelectionCurve:
    """The run's monitor (e.g. val/auroc) on the validation part after each epoch or boosting round; which
    way is better is the metric registry's (`monitor_mode`). Inner cross-validation reports the monitor's
    fold mean at the count it chooses, and chooses it as the family's holdout selection would, on the mean
    of what that selection watches (`chooser`, lower is better when `chooser_mode` is "min"): the neural
    checkpoint's `val/selection` (the monitor, ties broken by the validation loss), a booster's
    early-stopping metric (the validation log loss, which a saturated AUROC cannot replace). None: the
    monitor chooses."""

    metric: str
    values: np.ndarray
    chooser: str | None = None
    chooser_values: np.ndarray | None = None
    chooser_mode: str = "min"


@dataclass(frozen=True)
class LightningSettings:
    """What the config gives every Lightning fit: `trainer(**overrides)` builds the configured trainer,
    `callbacks()` fresh instances of the configured callbacks, `torch_threads` the CPU threads to use."""

    trainer: Callable[..., Any]
    callbacks: Callable[[], list]
    torch_threads: int | None = None


@dataclass(frozen=True)
class RunContext:
    """Where and how to run: the run folder, the seed, the metric that selects checkpoints and stops
    training (from the task), the digest of the run's config (a checkpoint folder is only resumed by the
    config that wrote it), how to build Lightning trainers, and the run's TensorBoard."""

    run_dir: Path
    seed: int
    monitor: str  # e.g. "val/auroc"
    config_digest: str = ""
    lightning: LightningSettings | None = None
    board: Any = None  # behave.run.board.TensorBoard, shared by both families (same folder, same tags)
    # None: select on the validation part (early stopping, best checkpoint); else fit exactly this much.
    budget: Budget | None = None

    def checkpoints(self) -> Path:
        """The run's checkpoint folder: kept if a killed run of this same config left it, else cleared."""
        return checkpoint_folder(self.run_dir, {"config_sha256": self.config_digest})


@dataclass
class Fitted:
    """What a recipe's `fit` hands the runner."""

    model: Any  # what `predict` and `save` take
    n_parameters: int
    embedding_dim: int | None = None
    extra: dict = field(default_factory=dict)
    # The task's rows as the model sees them (trees on encoder vectors); None: the task's own.
    view: TaskDataset | None = None
    # Time inside `fit` that the record reports apart (pretraining an encoder here): not fit time.
    setup_seconds: float = 0.0
    # A label-free recipe's own selection value (pretraining: the kept encoder's validation loss); a
    # labelled one's is the task's headline metric on the validation rows, which the runner computes.
    best_val: float | None = None
    # The monitor per epoch / round on the validation part, from a fit given a `Budget`.
    curve: SelectionCurve | None = None


class Recipe(Protocol):
    name: str
    family: str
    supported_tasks: frozenset[str]

    def fit(self, data: TaskDataset, context: RunContext) -> Fitted: ...

    def save(self, fitted: Fitted, data: TaskDataset, context: RunContext) -> None: ...

    def predict(self, model: Any, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray: ...

    def predict_proba(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        """(R, C) outputs for every row of `inputs`, from the model saved in `run_dir`."""
        ...


@runtime_checkable
class SelfScoringRecipe(Protocol):
    """A recipe for a label-free task (pretraining): no predictions for the task to score, so it scores
    a part itself (e.g. the contrastive loss on the test sequences); its `Fitted.best_val` is its own."""

    def score(
        self, fitted: Fitted, data: TaskDataset, part: str, context: RunContext
    ) -> dict[str, float]: ...
