"""model=xgboost_dask boosts on a local Dask cluster (two worker processes) like the in-process model."""

from __future__ import annotations

import json

import pytest

from behave.training.tabular.xgboost import XGBoostRecipe, best_iteration
from tests.cli import behave_ok

pytestmark = pytest.mark.slow


def test_boosting_on_a_dask_cluster_matches_the_in_process_model(tmp_path):
    sweep = tmp_path / "sweep"
    behave_ok(
        "behave.train", "-m", "model=xgboost,xgboost_dask", "data.source.n_users=3000",
        f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.sweep.dir={sweep}", timeout=600,
    )  # fmt: skip
    records = {}
    for path in sweep.rglob("result.json"):
        record = json.loads(path.read_text())
        records[record["model"]["name"]] = record
    assert {name: r["status"] for name, r in records.items()} == {"xgboost": "ok", "xgboost_dask": "ok"}
    assert records["xgboost_dask"]["extra"]["dask_workers"] == 2
    in_process, on_dask = (records[name]["test_metrics"]["auroc"] for name in ("xgboost", "xgboost_dask"))
    assert in_process > 0.7
    assert abs(in_process - on_dask) < 0.01, (in_process, on_dask)
    # The booster came back whole: the run folder loads like any XGBoost run's (what behave-predict does).
    dask_run = next(p.parent for p in sweep.rglob("result.json") if "xgboost_dask" in p.read_text())
    model = XGBoostRecipe(params={}).load_model(dask_run)
    assert best_iteration(model) == records["xgboost_dask"]["extra"]["best_iteration"]
