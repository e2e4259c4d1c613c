"""model.external_memory: XGBoost boosting from the task's feature file in batches (a table larger than
memory) gives the model the in-memory recipe gives, without ever reading the table whole."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from behave.data.errors import DataError
from behave.data.storage import feature_file
from behave.data.storage.feature_file import FeatureFile, RowsOf
from behave.train import run
from behave.training.tabular.booster_checkpoint import BoosterCheckpoint
from behave.training.tabular.xgboost_external import IN_MEMORY_BYTES_PER_CELL, PAGES, ExternalMemory
from tests.compose import SMALL_DATA, compose_train
from tests.rating_log import write_rating_project

ROUNDS = ["model.params.n_estimators=60", "model.params.early_stopping_rounds=10"]
BOOSTING = ["model=xgboost", *ROUNDS]


def _never_whole(self):
    raise AssertionError(f"the feature table {self.path} was read whole")


def _boost_both_ways(tmp_path, monkeypatch, overrides: list[str], batch_mb: float = 0.2) -> dict:
    """{mode: (result, test_predictions frame)} of the same config in memory and from batches."""
    cache = tmp_path / "cache"
    outcomes = {}
    for mode in ("in_memory", "external"):
        settings = ["model.external_memory.use=false"]
        if mode == "external":
            # Batches of a few hundred rows (425 columns at 0.2 MB), so every part is read in many.
            settings = ["model.external_memory.use=true", f"model.external_memory.batch_mb={batch_mb}"]
            monkeypatch.setattr(FeatureFile, "__call__", _never_whole)
        result = run(compose_train([*overrides, *settings], tmp_path / mode, cache))
        assert result.status == "ok", result.error
        assert not (tmp_path / mode / PAGES).exists()  # XGBoost's binned pages are scratch
        outcomes[mode] = (result, pd.read_parquet(tmp_path / mode / "test_predictions.parquet"))
    return outcomes


@pytest.mark.slow
def test_boosting_from_batches_gives_the_in_memory_model(tmp_path, monkeypatch):
    outcomes = _boost_both_ways(tmp_path, monkeypatch, [*BOOSTING, *SMALL_DATA, "model.checkpoint_every=20"])
    (in_memory, expected), (external, got) = outcomes["in_memory"], outcomes["external"]
    n_train = external.dataset["task_card"]["parts"]["train"]["n_rows"]
    assert external.extra["external_memory_batch_rows"] * 4 < n_train  # several batches per pass
    assert "external_memory_batch_rows" not in in_memory.extra
    assert in_memory.test_metrics["auroc"] > 0.7  # a model that learned, so equality means something
    assert external.test_metrics == in_memory.test_metrics
    assert external.best_val == in_memory.best_val
    assert external.extra["best_iteration"] == in_memory.extra["best_iteration"]
    assert external.extra["n_trees"] == in_memory.extra["n_trees"]
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.slow
def test_multiclass_boosting_from_batches_gives_the_in_memory_model(
    tmp_path, monkeypatch, multiclass_csv_data
):
    outcomes = _boost_both_ways(tmp_path, monkeypatch, [*BOOSTING, *multiclass_csv_data])
    (in_memory, expected), (external, got) = outcomes["in_memory"], outcomes["external"]
    assert [c for c in got.columns if c.startswith("prob_")] == ["prob_0", "prob_1", "prob_2"]
    assert external.test_metrics == in_memory.test_metrics
    assert external.extra["n_trees"] == in_memory.extra["n_trees"]
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.slow
def test_regression_boosting_from_batches_gives_the_in_memory_model(tmp_path, monkeypatch):
    data = [*write_rating_project(tmp_path / "project"), "task=rating", "model=rating_xgboost", *ROUNDS]
    outcomes = _boost_both_ways(tmp_path, monkeypatch, data, batch_mb=0.05)
    (in_memory, expected), (external, got) = outcomes["in_memory"], outcomes["external"]
    n_train = external.dataset["task_card"]["parts"]["train"]["n_rows"]
    assert external.extra["external_memory_batch_rows"] * 2 < n_train
    assert "prediction" in got.columns and in_memory.test_metrics["rmse"] < 0.8  # the planted ratings' scale
    assert external.test_metrics == in_memory.test_metrics
    pd.testing.assert_frame_equal(got, expected)


def test_feature_file_batches_are_the_rows_in_order(tmp_path):
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(1000, 7)).astype(np.float32), columns=[f"c[{i}]" for i in range(7)])
    table.iloc[::13, 2] = np.nan
    path = tmp_path / "features.parquet"
    table.to_parquet(path, index=False, row_group_size=128)
    rows = np.sort(rng.choice(1000, size=333, replace=False))
    for batch_rows in (1, 50, 128, 5000):
        batches = list(RowsOf(FeatureFile(path, 1000), rows).batches(batch_rows))
        assert all(batch.dtype == np.float32 and batch.shape[1] == 7 for batch in batches)
        np.testing.assert_array_equal(np.concatenate(batches), table.to_numpy()[rows])
        assert max(len(batch) for batch in batches) <= batch_rows
    # From a frame (a table already in memory, or built in memory): the same batches.
    in_memory = np.concatenate(list(RowsOf(table, rows).batches(50)))
    np.testing.assert_array_equal(in_memory, table.to_numpy()[rows])
    with pytest.raises(ValueError, match="ascending"):
        next(FeatureFile(path, 1000).batches(rows[::-1], 50))
    with pytest.raises(DataError, match="1,000 rows of features where the task has 1,200"):
        list(FeatureFile(path, 1200).batches(rows, 50))  # a file cut short never trains on fewer rows


def test_feature_files_keep_row_groups_small_enough_to_read_in_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(feature_file, "ROW_GROUP_BYTES", 4000)  # 100 rows of 10 float32 columns
    table = pd.DataFrame(np.arange(10_000, dtype=np.float32).reshape(1000, 10), columns=list("abcdefghij"))
    path = tmp_path / "features.parquet"
    feature_file.write_frames(
        [table.iloc[:550], table.iloc[550:]], path
    )  # two chunks, as a large task writes
    groups = pq.ParquetFile(path).metadata
    assert max(groups.row_group(i).num_rows for i in range(groups.num_row_groups)) == 100
    pd.testing.assert_frame_equal(pd.read_parquet(path), table)


def test_external_memory_switches_on_by_the_tables_size_and_refuses_bad_settings():
    cap = ExternalMemory(memory_cap_gb=1.0)
    cells_in_cap = int(1e9 // IN_MEMORY_BYTES_PER_CELL)
    assert not cap.applies(cells_in_cap // 500, 500)
    assert cap.applies(cells_in_cap // 500 + 1, 500)
    assert ExternalMemory(use=True).applies(10, 10) and not ExternalMemory(use=False).applies(10**9, 10**3)
    assert ExternalMemory(batch_mb=1).batch_rows(250) == 1000
    for bad, key in [
        ({"use": "yes"}, "use"),
        ({"batch_mb": 0}, "batch_mb"),
        ({"memory_cap_gb": -1}, "memory_cap_gb"),
    ]:
        with pytest.raises(DataError, match=f"model.external_memory.{key}"):
            ExternalMemory(**bad)


def test_dask_boosting_refuses_external_memory():
    pytest.importorskip("distributed")
    from behave.training.tabular.xgboost_dask import DaskCluster, DaskXGBoostRecipe

    with pytest.raises(DataError, match="model=xgboost for XGBoost's external memory"):
        DaskXGBoostRecipe({}, DaskCluster(), external_memory=ExternalMemory(use=True))


@pytest.mark.slow
def test_a_run_that_dies_boosting_from_batches_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    """Without row or column sampling the resumed booster is the uninterrupted one (as in memory)."""
    overrides = [
        *BOOSTING, *SMALL_DATA, "model.params.n_estimators=40", "model.params.early_stopping_rounds=100",
        "model.params.subsample=1.0", "model.params.colsample_bytree=1.0", "model.checkpoint_every=10",
        "model.external_memory.use=true", "model.external_memory.batch_mb=0.2",
    ]  # fmt: skip
    cache = tmp_path / "cache"
    whole = run(compose_train(overrides, tmp_path / "whole", cache))
    assert whole.status == "ok", whole.error
    write_checkpoint = BoosterCheckpoint.after_iteration

    def die_after_round_25(self, model, epoch, evals_log):
        write_checkpoint(self, model, epoch, evals_log)
        if model.num_boosted_rounds() == 25:
            raise RuntimeError("killed")

    monkeypatch.setattr(BoosterCheckpoint, "after_iteration", die_after_round_25)
    died = run(compose_train(overrides, tmp_path / "died", cache))
    assert died.status == "failed" and "killed" in died.error
    monkeypatch.undo()
    resumed = run(compose_train(overrides, tmp_path / "died", cache))
    assert resumed.status == "ok", resumed.error
    assert resumed.extra == whole.extra | {"resumed_at_round": 20}
    assert resumed.test_metrics == whole.test_metrics
    model_text = (tmp_path / "died" / "model.xgb.json").read_text()
    assert model_text == (tmp_path / "whole" / "model.xgb.json").read_text()
