"""Boosting on a feature table larger than memory: XGBoost's external memory (`model.external_memory`).

The in-memory recipe reads the task's whole feature table (float32), copies its parts' rows and hands
them to XGBoost, which bins them into its own matrix: about `IN_MEMORY_BYTES_PER_CELL` bytes per cell of
the table at the peak. With external memory the training and validation rows are read from the task's
feature file batch by batch (`RowInputs.feature_batches`), XGBoost bins each batch into pages it keeps on
disk under the run folder, and boosting reads those pages back; predictions are made batch by batch too.
Only one batch of features is in memory at a time.

The trees are XGBoost's own either way: the same parameters, callbacks, early stopping and checkpoints.
On the same rows both give the same model as long as the quantile sketch is exact (the test compares
them); on tables too large for an exact sketch the bin edges come from merged per-batch sketches.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xgboost as xgb

from behave.data.errors import DataError
from behave.data.inputs import RowInputs
from behave.data.sources.files import half_of_memory

# Peak resident bytes per cell of the task's feature table when XGBoost boosts in memory (19.2 measured by
# benchmarks/xgboost_memory.py at 224k rows x 425: the float32 table, its parts' copies, XGBoost's own).
IN_MEMORY_BYTES_PER_CELL = 20
PAGES = "xgboost_pages"  # the run folder's scratch folder of XGBoost's binned pages


@dataclass(frozen=True)
class ExternalMemory:
    """When to boost from batches: `use` true, false, or auto (when the feature table would need more
    than `memory_cap_gb` in memory; default half of this machine's memory). `batch_mb`: the float32
    features read per batch; the fit's peak grows by about four times that (the read, the batch, and
    XGBoost's sparse copy of it while it bins), measured in benchmarks/xgboost_memory.py."""

    use: bool | str = "auto"
    batch_mb: float = 64
    memory_cap_gb: float | None = None

    def __post_init__(self) -> None:
        if self.use not in (True, False, "auto"):
            raise DataError(f"model.external_memory.use must be true, false or auto, got {self.use!r}.")
        if not self.batch_mb > 0:
            raise DataError(f"model.external_memory.batch_mb must be positive, got {self.batch_mb!r}.")
        if self.memory_cap_gb is not None and not self.memory_cap_gb > 0:
            raise DataError(
                f"model.external_memory.memory_cap_gb must be a positive number of GB, got "
                f"{self.memory_cap_gb!r}."
            )

    def applies(self, n_rows: int, n_features: int) -> bool:
        if self.use != "auto":
            return bool(self.use)
        cap = self.memory_cap_gb * 1e9 if self.memory_cap_gb is not None else half_of_memory()
        return n_rows * n_features * IN_MEMORY_BYTES_PER_CELL > cap

    def batch_rows(self, n_features: int) -> int:
        return max(1, int(self.batch_mb * 1e6 // (4 * max(n_features, 1))))


class FeatureBatches(xgb.DataIter):
    """XGBoost's data iterator over some rows' features and labels, one batch at a time."""

    def __init__(self, inputs: RowInputs, batch_rows: int, feature_names: list[str], cache_prefix: Path):
        self.inputs, self.batch_rows, self.feature_names = inputs, batch_rows, feature_names
        self._batches: Iterator[np.ndarray] | None = None
        self._done = 0  # rows handed over in this pass
        super().__init__(cache_prefix=str(cache_prefix))

    def reset(self) -> None:
        self._batches, self._done = None, 0

    def next(self, input_data) -> bool:
        if self._batches is None:
            self._batches = self.inputs.feature_batches(self.batch_rows)
        batch = next(self._batches, None)
        if batch is None:
            if self._done != len(self.inputs):  # rows and labels out of step: never boost on that
                raise DataError(f"the feature batches held {self._done:,} rows of {len(self.inputs):,}")
            return False
        labels = self.inputs.labels[self._done : self._done + len(batch)]
        self._done += len(batch)
        input_data(data=batch, label=labels, feature_names=self.feature_names)
        return True


def boost_from_batches(
    model: xgb.XGBModel,
    train: RowInputs,
    val: RowInputs,
    *,
    n_features: int,
    n_classes: int,
    batch_rows: int,
    scratch: Path,
    earlier: xgb.Booster | None,
) -> tuple[xgb.Booster, dict]:
    """Boost `model`'s configuration (its parameters, rounds and callbacks, as its `fit` would) on the
    train rows, evaluating train and val each round under the names the sklearn interface uses; returns
    the booster and its per-round curves {eval set: {metric: values}}."""
    if not len(train) or not len(val):
        raise DataError(
            f"model.external_memory: boosting needs train and val rows ({len(train)} and {len(val)} here)"
        )
    names = [f"f{i}" for i in range(n_features)]  # as `positional` names them
    shutil.rmtree(scratch, ignore_errors=True)  # pages a killed run left
    scratch.mkdir(parents=True)
    max_bin = model.get_params().get("max_bin") or 256
    matrix = {"missing": model.missing, "nthread": model.n_jobs}
    train_matrix = xgb.ExtMemQuantileDMatrix(
        FeatureBatches(train, batch_rows, names, scratch / "train"), max_bin=max_bin, **matrix
    )
    val_matrix = xgb.ExtMemQuantileDMatrix(
        FeatureBatches(val, batch_rows, names, scratch / "val"), ref=train_matrix, **matrix
    )
    params = model.get_xgb_params()
    if isinstance(model, xgb.XGBClassifier) and n_classes > 2:  # as the sklearn classifier's fit does
        if params.get("objective") != "multi:softmax":
            params["objective"] = "multi:softprob"
        params["num_class"] = n_classes
    history: dict = {}
    booster = xgb.train(
        params,
        train_matrix,
        num_boost_round=model.get_num_boosting_rounds(),
        evals=[(train_matrix, "validation_0"), (val_matrix, "validation_1")],
        evals_result=history,
        verbose_eval=False,
        xgb_model=earlier,
        callbacks=list(model.get_params()["callbacks"] or []),
    )
    # XGBoost deletes its page files when the matrices go (after a failure: when the error is handled, so
    # they are left to it; a killed run's are removed above, by the next attempt).
    del train_matrix, val_matrix
    shutil.rmtree(scratch, ignore_errors=True)
    return booster, history
