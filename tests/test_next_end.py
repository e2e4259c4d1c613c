"""`task.end_of_sequence`: a row more per sequence, after its last event, whose class is the end. Off, the
rows are those of before; on, the other rows are unchanged and the end row reads only the whole history, as
a live row of behave-predict does."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from behave.data.config import build_source, dataset_spec
from behave.data.errors import DataError
from behave.predict import predict
from behave.run.predictions import class_column
from behave.tasks.dataset import prepare_task
from behave.tasks.next import NextTask
from behave.tasks.next_targets import END
from behave.train import run
from tests.compose import SMALL_DATA, compose_train


@pytest.fixture(scope="module")
def walks(tmp_path_factory):
    """The simulator's walk prepared without and with end rows (the portal of the next event known)."""
    tmp_path = tmp_path_factory.mktemp("walks")
    overrides = ["task=next", "data=synthetic_next", "data.source.n_users=200"]
    cfg = compose_train(overrides, tmp_path / "run", tmp_path / "cache")
    return tuple(
        prepare_task(cfg.data, NextTask(known=["portal"], end_of_sequence=ended)) for ended in (False, True)
    )


def test_off_the_rows_are_unchanged_and_on_each_sequence_gains_an_end_row_of_the_last_class(walks):
    off, on = walks
    log_ = on.base.log
    assert "end_of_sequence" not in off.task.fingerprint() and on.task.fingerprint()["end_of_sequence"]
    assert len(off.rows) == int((log_.lengths - 1).sum()) and END not in off.class_names
    assert on.class_names == [*off.class_names, END] and on.num_classes == off.num_classes + 1
    ended = on.rows.cutoff == log_.lengths[on.rows.sequence]
    assert ended.sum() == log_.n_sequences == len(on.rows) - len(off.rows)
    np.testing.assert_array_equal(on.rows.label[ended], len(on.class_names) - 1)
    assert np.all(on.rows.label[~ended] < len(off.class_names))
    # The end row closes its sequence's rows, in the sequence's part.
    np.testing.assert_array_equal(np.flatnonzero(ended), np.cumsum(log_.lengths) - 1)
    for name in ("sequence", "cutoff", "label", "part", "group"):
        np.testing.assert_array_equal(getattr(on.rows, name)[~ended], getattr(off.rows, name))
    pd.testing.assert_frame_equal(on.features[~ended].reset_index(drop=True), off.features)
    pd.testing.assert_frame_equal(on.ids[~ended].reset_index(drop=True), off.ids)
    assert sum(on.card["end_rows"].values()) == log_.n_sequences
    assert on.card["parts"]["test"]["label_share"][END] > 0


def test_an_end_row_reads_only_the_history_as_the_live_row_of_behave_predict(walks):
    _, on = walks
    log_, rows = on.base.log, on.rows
    ended = np.flatnonzero(rows.cutoff == log_.lengths[rows.sequence])
    ids = on.ids.iloc[ended]
    # Nothing of the "event" after the last is known; the previous values are the last events'.
    assert (ids["known.portal"] == 0).all()
    np.testing.assert_array_equal(ids["previous.1"], rows.label[ended - 1] + 1)
    np.testing.assert_array_equal(ids["previous.2"], on.ids["previous.1"].to_numpy()[ended - 1])
    features = on.features.iloc[ended].reset_index(drop=True)
    assert features["known.portal"].isna().all()
    np.testing.assert_array_equal(features["position"], log_.lengths)
    # behave-predict's live rows (each sequence's next event) are the end rows, features and ids alike.
    task = NextTask(known=["portal"], end_of_sequence=True).restore(on.info)
    live = task.scoring_rows(log_, last_only=True)
    scored = task.scoring_features(on.base.pipeline, log_, on.base.events.tokens, live)
    pd.testing.assert_frame_equal(scored, features[scored.columns], check_dtype=False)
    live_ids = task.scoring_ids(log_, live)
    for name, values in live_ids.items():
        np.testing.assert_array_equal(values, ids[name].to_numpy(), err_msg=name)
    # Scoring the whole log again labels each sequence's end row with the end class.
    again = task.scoring_rows(log_)
    np.testing.assert_array_equal(again.cutoff, rows.cutoff)
    np.testing.assert_array_equal(again.label, rows.label)


def test_the_oracle_leaves_the_end_rows_out_and_says_how_many(walks):
    off, on = walks
    test = on.rows.in_part("test")
    ended = int(np.sum(on.rows.cutoff[test] == on.base.log.lengths[on.rows.sequence[test]]))
    assert on.card["oracle"]["n_end_rows"] == ended > 0
    assert on.card["oracle"]["n_rows"] == len(test) - ended == off.card["oracle"]["n_rows"]
    accuracy = off.card["oracle"]["metrics"]["accuracy"]
    assert on.card["oracle"]["metrics"]["accuracy"] == pytest.approx(accuracy)
    assert "n_end_rows" not in off.card["oracle"]


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"target": "correct", "target_kind": "outcome"}, "task.end_of_sequence.*target_kind=outcome"),
        ({"target_kind": "time"}, "task.end_of_sequence.*target_kind=time"),
        ({"split": "leave_last_out"}, "task.end_of_sequence with task.split=leave_last_out"),
        ({"end_of_sequence": "yes"}, "task.end_of_sequence must be true or false"),
    ],
)
def test_end_rows_are_refused_where_they_mean_nothing(settings, message):
    with pytest.raises(DataError, match=message):
        NextTask(**{"end_of_sequence": True, **settings})


@pytest.mark.slow
@pytest.mark.parametrize("model", ["gru", "markov"])
def test_behave_train_predicts_the_end_of_a_sequence(tmp_path, model):
    """The end class trains and is scored as the others: the run's classes end with it, each test sequence's
    end row is a test prediction, and the end is likelier at the end rows than at the other rows."""
    overrides = [f"model={model}", "task=next", "data=synthetic_next", "task.end_of_sequence=true"]
    overrides += ["debug=fast", "trainer.max_epochs=6"] if model == "gru" else list(SMALL_DATA)
    cfg = compose_train(overrides, tmp_path / "run", tmp_path / "cache")
    result = run(cfg)
    assert result.status == "ok", result.error
    classes = json.loads((tmp_path / "run" / "task_state.json").read_text())["class_names"]
    assert classes[-1] == END
    predictions = pd.read_parquet(tmp_path / "run" / "test_predictions.parquet")
    ended = predictions["label"].to_numpy() == len(classes) - 1
    assert ended.sum() == result.dataset["task_card"]["end_rows"]["test"] > 0
    tops = [column for column in predictions if column.startswith("top_") and "prob" not in column]
    p_end = sum(
        np.where(predictions[top] == len(classes) - 1, predictions[top.replace("top_", "top_prob_")], 0.0)
        for top in tops
    )
    assert p_end[ended].mean() > p_end[~ended].mean(), (p_end[ended].mean(), p_end[~ended].mean())
    if model == "markov":  # behave-predict: a live row's prediction gives P(end), as the end row's does
        log = build_source(dataset_spec(cfg.data)).load().events
        log.to_parquet(tmp_path / "log.parquet", index=False)
        live = predict(tmp_path / "run", tmp_path / "log.parquet", last_only=True).set_index("sequence_id")
        rows = predict(tmp_path / "run", tmp_path / "log.parquet")
        lengths = rows.groupby("sequence_id")["cutoff"].max()
        end_rows = rows[rows["cutoff"] == rows["sequence_id"].map(lengths)].set_index("sequence_id")
        probs = [class_column(name) for name in classes]
        np.testing.assert_allclose(live.loc[end_rows.index, probs], end_rows[probs], rtol=1e-6)
        np.testing.assert_allclose(live[probs].sum(axis=1), 1.0, rtol=1e-6)
        assert (live[class_column(END)] > 0).all()
