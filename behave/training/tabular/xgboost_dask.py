"""XGBoost on a Dask cluster (`model=xgboost_dask`): the same recipe, records and saved model as
`model=xgboost`, but boosting runs on Dask workers through XGBoost's own Dask interface, each worker
holding a share of the tabular features' rows (Dask DataFrames partitioned by row).

By default a `distributed.LocalCluster` starts with the run (worker processes and threads from config) and
stops with it; `model.cluster.address=tcp://scheduler:8786` uses a running cluster instead. The booster
comes back to the run's process, so validation, test predictions, importances and `behave-predict` are
those of the in-process recipe. No booster checkpoints here: callbacks run on the workers, whose disks a
real cluster does not share with the run folder.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import xgboost as xgb

from behave.data.errors import DataError

try:
    import dask.dataframe as dd
    import xgboost.dask  # noqa: F401  (xgb.dask is a submodule XGBoost does not import itself)
    from distributed import Client, LocalCluster
except ImportError as missing:  # an optional extra: say how to get it, not a Hydra import traceback
    raise DataError(f"model=xgboost_dask needs Dask ({missing}): pip install 'behave-seq[cluster]'") from None
from behave.tasks.dataset import TaskDataset
from behave.training.recipe import RunContext
from behave.training.tabular.booster_checkpoint import early_stopping
from behave.training.tabular.curves import positional
from behave.training.tabular.xgboost import MODEL_FILE, XGBoostRecipe
from behave.training.tabular.xgboost_external import ExternalMemory

log = logging.getLogger("behave.train")


@dataclass(frozen=True)
class DaskCluster:
    """Where boosting runs: a scheduler `address`, or (None) a local cluster of `n_workers` processes
    (`processes: false`: threads of this process) with `threads_per_worker` each."""

    address: str | None = None
    n_workers: int = 2
    threads_per_worker: int = 1
    processes: bool = True
    memory_limit: str = "auto"

    @contextlib.contextmanager
    def client(self) -> Iterator[Client]:
        # Dask's scheduler and nannies narrate every start and stop at INFO, which the job log would keep.
        logging.getLogger("distributed").setLevel(logging.WARNING)
        logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)  # a label column's unique values
        if self.address:
            with Client(self.address) as client:
                yield client
            return
        with (
            LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=self.threads_per_worker,
                processes=self.processes,
                memory_limit=self.memory_limit,
                dashboard_address=None,  # no web server nobody asked for
                silence_logs=logging.WARNING,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client

    @property
    def workers(self) -> str:
        if self.address:
            return self.address
        return f"local cluster: {self.n_workers} workers x {self.threads_per_worker} threads"


class DaskXGBoostRecipe(XGBoostRecipe):
    estimator_classes = {"classifier": xgb.dask.DaskXGBClassifier, "regressor": xgb.dask.DaskXGBRegressor}
    # Callbacks run on the workers: progress lines would land in their logs (and need behave installed there).
    progress_lines = False
    # A cluster's booster is not cut into inner folds inside a run: selection=inner_cv refuses it.
    budget_unit = None

    def __init__(
        self,
        params: dict[str, Any],
        cluster: DaskCluster,
        partitions_per_worker: int = 2,
        name: str = "xgboost_dask",
        family: str = "tabular",
        n_jobs: int | None = None,
        checkpoint_every: int = 0,
        callbacks: dict[str, xgb.callback.TrainingCallback] | None = None,
        external_memory: ExternalMemory | None = None,
    ):
        """`n_jobs`: XGBoost threads on each worker (None: the cluster's threads per worker)."""
        if checkpoint_every:
            raise DataError(
                "model.checkpoint_every: model=xgboost_dask keeps no booster checkpoints (its callbacks run "
                "on the workers); set it to 0, or use model=xgboost for a run that resumes after a kill"
            )
        if external_memory is not None and external_memory.use is True:
            raise DataError(
                "model.external_memory.use=true: model=xgboost_dask spreads the feature rows over its "
                "workers' memory instead; use model=xgboost for XGBoost's external memory on one machine"
            )
        threads = n_jobs if n_jobs is not None else cluster.threads_per_worker
        super().__init__(
            params,
            name=name,
            family=family,
            n_jobs=threads,
            checkpoint_every=0,
            callbacks=callbacks,
            # Only the predictions' batch size: boosting itself never reads batches here.
            external_memory=replace(external_memory or ExternalMemory(), use=False),
        )
        self.cluster = cluster
        self.partitions_per_worker = partitions_per_worker

    def boost(self, data: TaskDataset, context: RunContext) -> tuple[xgb.XGBModel, dict, dict]:
        train, val = data.inputs("train"), data.inputs("val")
        stopper = early_stopping(self.params.get("early_stopping_rounds"), None)
        with self.cluster.client() as client:
            n_workers = max(len(client.scheduler_info()["workers"]), 1)
            partitions = n_workers * self.partitions_per_worker
            log.info("boosting on %s, %d row partitions", self.cluster.workers, partitions)
            x_train, y_train = by_rows(positional(train.features), train.labels, partitions)
            x_val, y_val = by_rows(positional(val.features), val.labels, partitions)
            callbacks = [stopper] if stopper is not None else []
            model = self.estimator(data, context.seed, [*callbacks, *self.callbacks])
            model.client = client
            model.fit(x_train, y_train, eval_set=[(x_train, y_train), (x_val, y_val)], verbose=False)
            history = model.evals_result()
            model.save_model(context.run_dir / MODEL_FILE)
        return self.load_model(context.run_dir), history, {"dask_workers": n_workers}


def by_rows(features: pd.DataFrame, labels, partitions: int) -> tuple[dd.DataFrame, dd.Series]:
    """Features and labels as Dask collections cut at the same rows (same index, same divisions)."""
    partitions = max(1, min(partitions, len(features)))
    x = dd.from_pandas(features.reset_index(drop=True), npartitions=partitions)
    y = dd.from_pandas(pd.Series(labels, name="label"), npartitions=partitions)
    return x, y
