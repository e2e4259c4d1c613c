"""`behave-predict` on a user's own log: the README example end to end, and run folders it must refuse."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from behave.paths import REPO_ROOT
from behave.predict import predict, trusted_targets
from behave.run.predictions import read_scores
from behave.train import run
from tests.compose import compose_train
from tests.test_csv_source import write_shop

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop_run(tmp_path_factory):
    """An XGBoost run on the README's shop example, configured by its YAML file."""
    root = tmp_path_factory.mktemp("shop")
    cfg = compose_train([*write_shop(root), "model=xgboost"], root / "run", root / "cache")
    result = run(cfg)
    assert result.status == "ok", result.error
    return root


def behave_predict(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "behave.predict", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_readme_example_log_is_scored_with_its_own_read_options(shop_run, tmp_path):
    # The log is semicolon-separated: scoring it works only if the run's read_options reach the reader.
    output = tmp_path / "scores.csv"
    done = behave_predict(
        f"run_dir={shop_run / 'run'}", f"input={shop_run / 'raw/shop/log.csv'}", f"output={output}"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    scores = pd.read_csv(output)
    saved = pd.read_parquet(shop_run / "run" / "test_predictions.parquet").set_index("sequence_id")
    assert len(scores) == pd.read_csv(shop_run / "raw/shop/log.csv", sep=";")["session"].nunique()
    # Class names in the user's file (prob[<name>]); class indices in the run's own (prob_<k>).
    assert set(scores.columns) == {"sequence_id", "prob[no]", "prob[yes]", "predicted"}
    scored = scores.set_index("sequence_id").loc[saved.index]
    assert (scored["prob[yes]"] - saved["prob_1"]).abs().max() < 1e-5  # the numbers of the run's own test
    probs = read_scores(output, ["no", "yes"])
    assert np.array_equal(probs.argmax(axis=1), (scores["predicted"] == "yes").to_numpy().astype(int))


def test_a_missing_run_folder_is_a_clear_error(tmp_path):
    done = behave_predict(f"run_dir={tmp_path / 'nope'}", "input=x.csv", f"output={tmp_path / 'o.csv'}")
    assert done.returncode == 2
    assert "no result.json here" in done.stderr and "Traceback" not in done.stderr


def test_a_tampered_record_is_refused_before_anything_is_built(shop_run, tmp_path):
    record = json.loads((shop_run / "run" / "result.json").read_text())
    # A record that names arbitrary code: building it would truncate a file of the attacker's choosing.
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    record["config"]["model"] = {"_target_": "pathlib.Path.write_text", "self": str(victim), "data": ""}
    tampered = tmp_path / "run"
    tampered.mkdir()
    for name in ("pipeline.json", "model.xgb.json"):
        (tampered / name).write_bytes((shop_run / "run" / name).read_bytes())
    (tampered / "result.json").write_text(json.dumps(record))
    with pytest.raises(Exception, match="names code behave does not ship"):
        predict(tampered, shop_run / "raw/shop/log.csv")
    assert victim.read_text() == "precious"
    assert "behave.training.tabular.xgboost.XGBoostRecipe" in trusted_targets()
