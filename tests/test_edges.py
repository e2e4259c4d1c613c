"""Stopping rules and warnings at the edges: a validation metric that reaches 1.0 at once, label drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from behave.data.config import prepare_from_config
from behave.models.sequence_classifier import selection_score
from behave.train import run
from tests.compose import compose_train
from tests.process_log import write_process_project


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    """Overrides for the generated process log whose last activity names the outcome: AUROC 1.0 at once."""
    root = tmp_path_factory.mktemp("leaky")
    return root, write_process_project(root)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["xgboost", "gru"])
def test_a_validation_auroc_of_one_does_not_freeze_the_model(leaky, tmp_path, model):
    root, overrides = leaky
    result = run(compose_train([*overrides, f"model={model}"], tmp_path / "run", root / "cache"))
    assert result.status == "ok", result.error
    metrics = result.test_metrics
    majority = max(result.dataset["task_card"]["parts"]["test"]["label_share"].values())
    # Stopping on AUROC kept XGBoost at one tree here: accuracy = the majority rate, F1 0.000.
    assert metrics["auroc"] == 1.0 and metrics["f1"] > 0.95 and metrics["accuracy"] > majority + 0.2
    assert metrics["log_loss"] < 0.1 and metrics["ece"] < 0.05
    if model == "xgboost":
        assert result.extra["n_trees"] > 10


@pytest.mark.slow
def test_xgboost_takes_an_eval_metric_override(leaky, tmp_path):
    root, overrides = leaky
    cfg = compose_train(
        [*overrides, "model=xgboost", "+model.params.eval_metric=auc"], tmp_path, root / "cache"
    )
    result = run(cfg)
    assert result.status == "ok", result.error  # was: XGBClassifier() got multiple values for 'eval_metric'
    assert result.extra["n_trees"] == 1  # and stopping on AUROC does what it did: one tree


def test_selection_breaks_ties_of_the_monitor_by_the_loss():
    def score(auroc: float, loss: float) -> float:
        return float(selection_score(torch.tensor(auroc), torch.tensor(loss), "val/auroc"))

    assert score(1.0, 0.1) > score(1.0, 0.3)  # a saturated AUROC: the lower loss wins
    assert score(0.91, 0.5) > score(0.90, 0.01)  # otherwise the AUROC decides, however the loss moves
    assert float(selection_score(torch.tensor(0.2), torch.tensor(0.2), "val/loss")) == pytest.approx(0.2)


def drifting_tables(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sequences over a year whose positive rate falls from ~60% to ~30% with their start time."""
    rng = np.random.default_rng(seed)
    start = 1_700_000_000 + np.sort(rng.uniform(0, 365 * 86400, n))
    positive = rng.random(n) < np.linspace(0.6, 0.3, n)
    events = pd.DataFrame(
        {
            "seq": np.repeat([f"s{i:04d}" for i in range(n)], 3),
            "ts": np.repeat(start, 3) + np.tile([0, 60, 120], n),
            "event": rng.choice(["a", "b"], 3 * n),
        }
    )
    return events, pd.DataFrame({"seq": [f"s{i:04d}" for i in range(n)], "y": positive.astype(int)})


def test_a_time_split_that_moves_the_label_rate_is_flagged(data_config):
    events, labels = drifting_tables()
    sections = {"schema": {"sequence_id": "seq", "timestamp": "ts", "categorical": ["event"], "numeric": []}}
    sections["tokens"] = {"fields": ["event"]}
    by_time = prepare_from_config(data_config(events, labels, split={"method": "time"}, **sections)).card
    assert by_time["label_drift_p"] < 0.01
    (warning,) = [w for w in by_time["warnings"] if "label shares differ" in w]
    assert "train" in warning and "test" in warning and "time split" in warning
    stratified = prepare_from_config(data_config(events, labels, **sections)).card
    assert stratified["label_drift_p"] > 0.5
    assert not [w for w in stratified["warnings"] if "label shares differ" in w]
