"""How a run chooses what the validation data chooses (epochs, boosting rounds, the value a search
optimises): `selection=holdout`, `inner_cv` or `auto` (conf/selection/*.yaml, built by `_target_`).

Each answers one question for the runner, `inner_folds_for(data, recipe)`: how many inner folds to select
on, or None to select on the split's validation part as always.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from behave.tasks.dataset import TaskDataset
from behave.training.recipe import Recipe
from behave.training.selection.inner_cv import can_cross_validate


@dataclass(frozen=True)
class Selection:
    """`name` as the user typed it (recorded); `folds` for inner cross-validation; `inner_cv_below`: auto's
    training-sequence count under which it cross-validates."""

    name: str = "holdout"
    folds: int = 5
    inner_cv_below: int = 500

    def inner_folds_for(self, data: TaskDataset, recipe: Recipe) -> int | None:
        return None

    @property
    def requested(self) -> str:
        """The policy's name for the record (the config gives it as an Enum member)."""
        return str(getattr(self.name, "value", self.name))


class Holdout(Selection):
    """Early stopping and checkpoints on the split's validation part."""


class InnerCV(Selection):
    """Select on the mean over `folds` inner folds of train+val, then refit on all of it."""

    def inner_folds_for(self, data: TaskDataset, recipe: Recipe) -> int | None:
        return self.folds


class Auto(Selection):
    """Inner cross-validation for a small training part, the holdout above `inner_cv_below` sequences and
    for a model that cannot be cross-validated inside a run (which `inner_cv` refuses)."""

    def inner_folds_for(self, data: TaskDataset, recipe: Recipe) -> int | None:
        small = training_sequences(data) < self.inner_cv_below
        return self.folds if small and can_cross_validate(recipe) else None


def training_sequences(data: TaskDataset) -> int:
    """Sequences in the train part (the size auto decides by)."""
    return int(np.unique(data.part_rows("train").sequence).size)
