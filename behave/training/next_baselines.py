"""The count baselines each per-event literature reports (task=next): a Markov chain over the last k values,
and popularity, overall or per value of the event's known fields. Both are back-off count tables fitted on
the training rows (`training/backoff_counts.py` states the rule) and read only the task's row ids:

    previous.<j>     1 + class index of the target value j events back (0: none, or unseen in training)
    known.<field>    1-based level of the predicted event's known field (0: unseen in training)

so they predict a class distribution for a categorical next value or a binary outcome (Task.kind
"classification"); the time to the next event is a regression task they refuse. Saved as JSON + npz in the
run folder (no pickle), so behave-predict scores new rows with the counts of the training rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from behave.data.errors import DataError
from behave.data.inputs import PREVIOUS_ID_PREFIX, RowInputs, known_id, previous_id
from behave.data.spec import DatasetSpec
from behave.tasks.dataset import TaskDataset
from behave.training.backoff_counts import BackoffTable
from behave.training.recipe import Fitted, RunContext

# The counts' file stem in the run folder: <stem>.json and <stem>.npz.
COUNTS_STEM = "counts"


class CountRecipe:
    """What both baselines share: fit a back-off table over `columns(data)`, save it, predict from it."""

    supported_tasks = frozenset({"classification"})

    def __init__(self, name: str, family: str = "baseline", smoothing: float = 1.0):
        self.name = name
        self.family = family
        self.smoothing = smoothing

    def columns(self, data: TaskDataset) -> tuple[str, ...]:
        raise NotImplementedError

    def fit(self, data: TaskDataset, context: RunContext) -> Fitted:
        train = data.inputs("train")
        columns = self.columns(data)
        table = BackoffTable.fit(train.ids, train.labels, columns, data.num_classes, self.smoothing)
        return Fitted(model=table, n_parameters=table.n_counts, extra={"context_columns": list(columns)})

    def save(self, fitted: Fitted, data: TaskDataset, context: RunContext) -> None:
        fitted.model.save(Path(context.run_dir) / COUNTS_STEM)

    def predict(self, table: BackoffTable, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        return table.probabilities(inputs.ids, len(inputs))

    def predict_proba(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        return self.predict(BackoffTable.load(Path(run_dir) / COUNTS_STEM), inputs, spec)


class MarkovRecipe(CountRecipe):
    """P(next value | the last `order` values), backing off to the last order-1, ..., 0 (popularity) values
    where a context is rare or unseen in training. `order: 0` is popularity."""

    def __init__(
        self, name: str = "markov", family: str = "baseline", order: int = 1, smoothing: float = 1.0
    ):
        super().__init__(name, family, smoothing)
        if not isinstance(order, int) or order < 0:
            raise DataError(f"model.order must be a whole number >= 0 (values of history), got {order!r}")
        self.order = order

    def columns(self, data: TaskDataset) -> tuple[str, ...]:
        columns = tuple(previous_id(j) for j in range(1, self.order + 1))
        missing = [name for name in columns if name not in data.ids.columns]
        if missing:
            given = sorted(name for name in data.ids.columns if name.startswith(PREVIOUS_ID_PREFIX))
            raise DataError(
                f"model.order={self.order}: task={data.task.name} gives previous values {given or 'none'}, "
                f"not {missing}. Lower model.order, or use a per-event task (task=next)."
            )
        return columns


class PopularityRecipe(CountRecipe):
    """The training distribution of the next value: per value of the predicted event's known fields when the
    task has them (nested in the task's order), backing off to the overall distribution for unseen values."""

    def __init__(self, name: str = "popularity", family: str = "baseline", smoothing: float = 1.0):
        super().__init__(name, family, smoothing)

    def columns(self, data: TaskDataset) -> tuple[str, ...]:
        return tuple(known_id(field) for field in data.info.get("known", {}))
