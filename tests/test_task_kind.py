"""A task kind is its module and its YAML: the test-only `halfway` task (tests/task_kinds/halfway.py,
tests/conf/task/halfway.yaml) runs through behave-train, behave-report and behave-predict with no edit in
behave/ or conf/, and behave-predict trusts its code only from a config folder the user names."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from behave.data.errors import DataError
from behave.paths import REPO_ROOT
from behave.predict import predict, trusted_targets
from behave.report.__main__ import main as report_main
from behave.run.record import read_result
from tests.cli import behave, behave_ok
from tests.task_kinds.halfway import halfway

TESTS_CONF = REPO_ROOT / "tests" / "conf"
HALFWAY = "tests.task_kinds.halfway.HalfwayTask"
EARLIER = REPO_ROOT / "tests" / "fixtures" / "runs_2026_12"
EVENTS = EARLIER / "events.csv"


def test_a_task_outside_behave_is_trusted_only_from_a_config_folder_the_user_names():
    assert HALFWAY not in trusted_targets()
    assert HALFWAY in trusted_targets((TESTS_CONF,))
    assert "behave.tasks.prefix.PrefixTask" in trusted_targets()


def test_a_record_whose_task_names_other_code_is_refused_before_anything_is_built(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(EARLIER / "xgboost", run_dir)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    record = json.loads((run_dir / "result.json").read_text())
    record["config"]["task"] = {"_target_": "pathlib.Path.write_text", "self": str(victim), "data": ""}
    (run_dir / "result.json").write_text(json.dumps(record))
    # A run folder cannot vouch for itself: naming the run folder's own configs as trusted changes nothing.
    with pytest.raises(DataError, match="task config names code behave does not ship"):
        predict(run_dir, EVENTS, config_dirs=(TESTS_CONF,))
    assert victim.read_text() == "precious"


def _later_half_changed(events: pd.DataFrame, lengths: pd.Series) -> pd.DataFrame:
    """`events` with every event past its sequence's halfway cut altered (values and tokens)."""
    position = events.groupby("user_id").cumcount()
    later = (position >= events["user_id"].map(pd.Series(halfway(lengths), index=lengths.index))).to_numpy()
    changed = events.copy()
    changed.loc[later, "scroll_px"] = changed.loc[later, "scroll_px"] * 7 + 5000
    changed.loc[later, "page_type"] = "checkout"
    return changed


@pytest.mark.slow
def test_a_task_kind_from_outside_behave_trains_reports_and_predicts(tmp_path):
    sweep = tmp_path / "sweep"
    behave_ok(
        "behave.train", "-m", "task=halfway", "model=xgboost,gru", f"hydra.searchpath=[file://{TESTS_CONF}]",
        "data.source.n_users=200", "trainer.max_epochs=1", f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    run_dirs = sorted(path.parent for path in sweep.glob("*/result.json"))
    records = [read_result(run_dir) for run_dir in run_dirs]
    assert [r["model"]["name"] for r in records] == ["xgboost", "gru"]
    for record in records:
        assert record["status"] == "ok", record.get("error")
        assert record["task"]["name"] == "halfway" and record["task"]["named_in_titles"] is True
        assert record["dataset"]["oracle_test_auroc"] is None  # the whole-sequence oracle is no ceiling here

    report_main([str(sweep), "--n-boot", "50"])
    report = (sweep / "report.md").read_text()
    assert "task halfway" in report and "On **synthetic (halfway)**" in report
    assert "Task `halfway`: one prediction per sequence, from the first half of its events." in report

    events = pd.read_csv(EVENTS).sort_values(["user_id", "timestamp"], kind="stable")
    lengths = events.groupby("user_id").size()
    changed_input = tmp_path / "later_half_changed.csv"
    _later_half_changed(events, lengths).to_csv(changed_input, index=False)
    for run_dir in run_dirs:
        with pytest.raises(DataError, match="names code behave does not ship"):
            predict(run_dir, EVENTS)
        scores = predict(run_dir, EVENTS, config_dirs=(TESTS_CONF,))
        assert scores["cutoff"].tolist() == halfway(lengths.loc[scores["sequence_id"]]).tolist()
        assert (scores["cutoff"] < lengths.loc[scores["sequence_id"]].to_numpy()).any()
        # What a row may not see cannot move its score: the task's cut is what behave-predict scores.
        unchanged = predict(run_dir, changed_input, config_dirs=(TESTS_CONF,))
        probs = [column for column in scores if column.startswith("prob[")]
        np.testing.assert_array_equal(unchanged[probs].to_numpy(), scores[probs].to_numpy())

    # The same change moves a whole-sequence run's scores (the earlier runs' xgboost): the check can fail.
    whole_run = tmp_path / "sequence_run"
    shutil.copytree(EARLIER / "xgboost", whole_run)
    assert not predict(whole_run, changed_input).equals(predict(whole_run, EVENTS))

    output = tmp_path / "scores.csv"
    done = behave(
        "behave.predict", f"run_dir={run_dirs[0]}", f"input={EVENTS}", f"output={output}",
        f"config_dir={TESTS_CONF}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    written = pd.read_csv(output)
    expected = predict(run_dirs[0], EVENTS, config_dirs=(TESTS_CONF,))
    assert written.columns.tolist() == expected.columns.tolist() and written["cutoff"].equals(
        expected["cutoff"]
    )
    np.testing.assert_allclose(written[probs].to_numpy(float), expected[probs].to_numpy(float), rtol=1e-6)
