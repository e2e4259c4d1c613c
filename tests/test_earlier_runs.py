"""Run folders written by earlier code (tests/fixtures/runs_2026_12) still score, explain and report.

The folders record the model's `_target_` as the code of their day named it; moving a module must not
strand them. Their scores.csv is what behave-predict wrote for events.csv with that code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from behave.data.errors import DataError
from behave.explain.__main__ import explain
from behave.predict import predict
from behave.report.__main__ import main as report_main
from behave.run.predictions import class_column

EARLIER = Path(__file__).parent / "fixtures" / "runs_2026_12"
MODELS = ("xgboost", "gru", "logreg")


def _copy(model: str, root: Path) -> Path:
    """The fixture folder in `root`, its recorded cache folder pointed into `root` (it names /tmp)."""
    run_dir = root / model
    shutil.copytree(EARLIER / model, run_dir)
    record = json.loads((run_dir / "result.json").read_text())
    for node in (record["config"]["data"], record["config"]["paths"]):
        node["cache_dir"] = str(root / "cache")
    (run_dir / "result.json").write_text(json.dumps(record))
    return run_dir


@pytest.mark.parametrize("model", MODELS)
def test_an_earlier_run_scores_new_events_as_it_did(model, tmp_path):
    run_dir = _copy(model, tmp_path)
    scores = predict(run_dir, EARLIER / "events.csv")
    then = pd.read_csv(run_dir / "scores.csv")
    # Then, the user's file named its columns prob_<class name>; today's names come from one rule.
    classes = [c.removeprefix("prob_") for c in then.columns if c.startswith("prob_")]
    then = then.rename(columns={f"prob_{name}": class_column(name) for name in classes})
    assert list(scores.columns) == list(then.columns)
    assert scores["sequence_id"].tolist() == then["sequence_id"].tolist()
    probs = [class_column(name) for name in classes]
    np.testing.assert_allclose(
        scores[probs].to_numpy(float), then[probs].to_numpy(float), rtol=1e-5, atol=1e-6
    )


@pytest.mark.slow
def test_an_earlier_tree_run_is_explained(tmp_path):
    run_dir = _copy("xgboost", tmp_path)
    summary = explain(run_dir, rows=20)
    assert summary["kind"] == "features"
    assert (run_dir / "explanations" / "attributions.parquet").is_file()


def test_earlier_runs_are_reported_and_compared(tmp_path):
    sweep = tmp_path / "sweep"
    for model in MODELS:
        _copy(model, sweep)
    report_main([str(sweep)])
    text = (sweep / "report.md").read_text()
    for shown in ("XGBoost", "GRU", "logistic regression"):
        assert shown in text
    assert "AUROC" in text


@pytest.mark.parametrize(
    ("path", "planted"),
    [(("data", "source"), "os.system"), (("task",), "subprocess.run"), (("model",), "builtins.exec")],
)
def test_explain_refuses_a_record_naming_other_code_before_building_anything(path, planted, tmp_path):
    # behave-explain rebuilds the run's data, task and model from its record: a run folder from elsewhere
    # must not get to name the code that runs.
    run_dir = _copy("xgboost", tmp_path)
    record = json.loads((run_dir / "result.json").read_text())
    node = record["config"]
    for key in path:
        node = node[key]
    node["_target_"] = planted
    (run_dir / "result.json").write_text(json.dumps(record))
    with pytest.raises(DataError, match=rf"the {path[0]} config names code behave does not ship.*{planted}"):
        explain(run_dir, rows=5)
    assert not (run_dir / "explanations").exists()
    assert not (tmp_path / "cache").exists()
