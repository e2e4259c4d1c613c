"""End-to-end runs of both model families through `behave.train.run` on a small simulator dataset."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from behave.paths import REPO_ROOT
from behave.tasks.metric_registry import BINARY, metrics_for
from behave.train import run
from tests.compose import SMALL_DATA, compose_train

pytestmark = pytest.mark.slow

FAST_NEURAL = ["trainer.max_epochs=6", "model.batch_size=64"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cache_dir):
    """One finished run per model family member: {name: run_dir}."""
    out = {}
    for model in ("gru", "lstm", "xgboost"):
        run_dir = tmp_path_factory.mktemp(f"run_{model}")
        extra = FAST_NEURAL if model != "xgboost" else []
        cfg = compose_train([f"model={model}", *SMALL_DATA, *extra], run_dir, cache_dir)
        result = run(cfg)
        assert result.status == "ok", result.error
        out[model] = run_dir
    return out


def _result(run_dir):
    return json.loads((run_dir / "result.json").read_text())


@pytest.mark.parametrize("model", ["gru", "lstm", "xgboost"])
def test_each_family_learns_the_planted_signal(runs, model):
    result = _result(runs[model])
    assert result["test_metrics"]["auroc"] > 0.68
    assert result["best_val"]["metric"] == "val/auroc"
    assert 0.5 < result["best_val"]["value"] <= 1.0


@pytest.mark.parametrize("model", ["gru", "lstm", "xgboost"])
def test_result_record_schema_ok(runs, model):
    result = _result(runs[model])
    assert result["status"] == "ok" and result["error"] is None
    assert result["model"] == {"name": model, "family": "tabular" if model == "xgboost" else "neural"}
    assert set(result["test_metrics"]) == set(metrics_for(BINARY))
    sizes = result["dataset"]["split_sizes"]
    assert sum(sizes.values()) == 1200
    assert result["dataset"]["vocab_size"] > 10 and result["dataset"]["n_features"] > 50
    assert len(result["dataset"]["fingerprint"]) == 16
    assert result["fit_seconds"] > 0 and result["predict_seconds"] >= 0 and result["n_parameters"] > 0
    assert result["config"]["model"]["name"] == model
    assert (result["embedding_dim"] is None) == (model == "xgboost")


def test_all_families_score_the_same_test_rows(runs):
    tables = {m: pd.read_parquet(d / "test_predictions.parquet") for m, d in runs.items()}
    reference = tables["xgboost"]
    for table in tables.values():
        assert table["sequence_id"].tolist() == reference["sequence_id"].tolist()
        assert table["label"].tolist() == reference["label"].tolist()
        np.testing.assert_allclose(table[["prob_0", "prob_1"]].sum(axis=1), 1.0, atol=1e-6)
    assert len(reference) == _result(runs["gru"])["dataset"]["split_sizes"]["test"]


def _scalars(run_dir) -> set[str]:
    tags = set()
    for event_file in (run_dir / "tensorboard").rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(event_file), size_guidance={"scalars": 0})
        accumulator.Reload()
        tags |= set(accumulator.Tags()["scalars"])
    return tags


@pytest.mark.parametrize("model", ["gru", "xgboost"])
def test_tensorboard_uses_one_tag_scheme(runs, model):
    tags = _scalars(runs[model])
    # Per epoch (neural) or per boosting round (trees): the same curves under the same names.
    assert {"train/loss", "val/loss", "val/auroc", "test/auroc", "test/brier", "test/ece"} <= tags
    hparams_files = list((runs[model] / "tensorboard").rglob("events.out.tfevents.*"))
    assert any(b"hparams" in f.read_bytes() for f in hparams_files)
    # Feature importances are one text table, not a scalar tag per feature.
    assert not any(tag.startswith("feature_importance") for tag in tags)
    if model == "xgboost":
        assert any(b"feature_importance" in f.read_bytes() for f in hparams_files)


def test_projector_files_carry_token_metadata(runs):
    board = runs["gru"] / "tensorboard"
    assert "token_embeddings" in (board / "projector_config.pbtxt").read_text()
    metadata = next(board.rglob("metadata.tsv")).read_text().splitlines()
    assert metadata[0].split("\t") == ["token", "event_type", "train_freq"]
    assert metadata[1].startswith("<pad>") and metadata[2].startswith("<unk>")
    embeddings = pd.read_parquet(runs["gru"] / "token_embeddings.parquet")
    assert len(embeddings) == len(metadata) - 1
    assert embeddings["dim_0"].abs().sum() > 0
    views = embeddings[embeddings["field0"] == "page_view"]
    assert (
        set(views["field1"])
        <= {"home", "category", "product", "search_results", "reviews", "cart"}
        | {
            "checkout",
            "help",
            "account",
        }
        and len(set(views["field1"])) >= 5
    )
    assert (embeddings.loc[embeddings["field0"] == "add_to_cart", "field1"] == "").all()


def test_failed_run_writes_a_failed_record(tmp_path, cache_dir):
    cfg = compose_train(["model=xgboost", *SMALL_DATA, "data.schema.sequence_id=usr_id"], tmp_path, cache_dir)
    result = run(cfg)
    assert result.status == "failed"
    record = _result(tmp_path)
    assert record["status"] == "failed"
    assert "usr_id" in record["error"] and "user_id" in record["error"]
    assert record["test_metrics"] == {} and record["model"]["name"] == "xgboost"
    assert (tmp_path / "error.log").exists()
    assert not (tmp_path / "test_predictions.parquet").exists()


@pytest.fixture(scope="module")
def test_events(runs, tmp_path_factory):
    """The simulator's raw events of the test sequences, written as a user would hand them in (CSV)."""
    from behave.data.sources.simulator.source import ClickstreamSimulator

    events = ClickstreamSimulator(n_users=1200, seed=7).load().events
    test_ids = pd.read_parquet(runs["xgboost"] / "test_predictions.parquet")["sequence_id"]
    events = events[events["user_id"].isin(test_ids)]
    path = tmp_path_factory.mktemp("predict") / "events.csv"
    events.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("model", ["gru", "xgboost"])
def test_predict_reproduces_the_runs_test_predictions(runs, test_events, model):
    from behave.predict import predict

    saved = pd.read_parquet(runs[model] / "test_predictions.parquet").set_index("sequence_id")
    scored = predict(runs[model], test_events).set_index("sequence_id").loc[saved.index]
    np.testing.assert_allclose(scored["prob[1]"], saved["prob_1"], atol=1e-5)
    assert set(scored["predicted"]) <= {"0", "1"}


@pytest.mark.parametrize("model", ["gru", "xgboost"])
def test_predict_maps_unseen_tokens_to_unknown_without_refitting(runs, test_events, tmp_path, model):
    from behave.predict import main

    events = pd.read_csv(test_events)
    changed_users = events["user_id"].drop_duplicates().iloc[:20]
    changed = events["user_id"].isin(changed_users)
    events.loc[changed, "event_type"] = "teleport"
    events.loc[changed, "portal"] = "smartwatch"
    new_file = tmp_path / "new.csv"
    events.to_csv(new_file, index=False)
    pipeline_before = (runs[model] / "pipeline.json").read_text()
    output = tmp_path / "scores.csv"
    main([f"run_dir={runs[model]}", f"input={new_file}", f"output={output}"])
    scores = pd.read_csv(output).set_index("sequence_id")
    saved = pd.read_parquet(runs[model] / "test_predictions.parquet").set_index("sequence_id")
    assert len(scores) == len(saved) and scores["prob[1]"].between(0, 1).all()
    moved = (scores.loc[changed_users, "prob[1]"] - saved.loc[changed_users, "prob_1"]).abs()
    assert moved.max() > 1e-4  # the unseen tokens reached the model as <unk>, changing its output
    untouched = saved.index.difference(changed_users)
    np.testing.assert_allclose(scores.loc[untouched, "prob[1]"], saved.loc[untouched, "prob_1"], atol=1e-5)
    assert (runs[model] / "pipeline.json").read_text() == pipeline_before


def test_best_weights_are_kept_once_and_load_safely(runs):
    import torch

    from behave.training.lightning.neural import NeuralRecipe

    assert not (runs["gru"] / "checkpoints").exists()  # the Lightning checkpoint was not kept beside them
    saved = torch.load(runs["gru"] / "model.pt", map_location="cpu", weights_only=True)
    sizes = json.loads((runs["gru"] / "model_sizes.json").read_text())
    config = _result(runs["gru"])["config"]["model"]
    module = instantiate(config).build(sizes)
    module.load_state_dict(saved)  # strict: every weight present, none missing
    assert sum(t.numel() for t in saved.values()) >= _result(runs["gru"])["n_parameters"]
    assert isinstance(instantiate(config), NeuralRecipe)


def test_a_boosted_tree_run_never_imports_torch(tmp_path):
    command = [
        sys.executable, "-X", "importtime", "-m", "behave.train", "model=xgboost", "data.source.n_users=300",
        f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "import time:" in line
    }
    assert {"xgboost", "tensorboard.compat.proto.summary_pb2"} <= imported  # the check sees real imports
    assert not {"torch", "pytorch_lightning", "tensorboardX"} & imported
    assert json.loads((tmp_path / "run" / "result.json").read_text())["status"] == "ok"


def test_multiclass_xgboost_logs_the_neural_tags_and_counts_a_tree_per_class(tmp_path, multiclass_csv_data):
    overrides = [
        *multiclass_csv_data,
        "model=xgboost",
        "model.params.n_estimators=30",
        "model.params.early_stopping_rounds=100",
    ]
    result = run(compose_train(overrides, tmp_path / "run", tmp_path / "cache"))
    assert result.status == "ok", result.error
    assert result.best_val["metric"] == "val/macro_auroc" and result.task["headline"] == "macro_auroc"
    assert result.extra["selection"] == {"requested": "holdout", "kind": "holdout"}
    fitted = {key: value for key, value in result.extra.items() if key != "selection"}
    assert fitted == {"best_iteration": 29, "n_trees": 30 * 3}  # one tree per class and round
    tags = _scalars(tmp_path / "run")
    assert {"train/loss", "val/loss", "test/macro_auroc"} <= tags and "val/log_loss" not in tags
