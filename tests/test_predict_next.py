"""`behave-predict` on a per-event run (task=next): a new log is scored per event as the run scored its own
test rows, or only each sequence's live row (what comes after its last event), with nothing refitted."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from behave.data.config import build_source, dataset_spec
from behave.data.errors import DataError
from behave.data.transforms.levels import OTHER
from behave.predict import flag_argument, load_run, predict, read_log, scoring_inputs
from behave.run.predictions import PREDICTIONS_FILE, class_column, scores_table, top_name_column
from behave.run.record import TASK_STATE_FILE
from behave.tasks.next import NextTask
from behave.tasks.next_targets import UNPREDICTABLE, ValueClasses, fit_value_classes
from behave.train import run
from tests.cli import behave_ok
from tests.compose import compose_train

# A small run of each family: the per-event task scores from ids (markov), from the events (gru) and from
# running features (logreg); the predicted event's page type is known before it happens, so the known
# fields' levels travel too.
RUN = ["task=next", "data=synthetic_next", "data.source.n_users=300", "trainer.max_epochs=1"]
KNOWN = "task.known=[page_type]"
MODELS = ("markov", "gru", "logreg")
# Few solver steps: the test needs a fitted model, not a converged one.
SHRUNK = {"logreg": ["model.estimator.max_iter=20"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The two runs, and the events of the markov run's test sequences written as a new log."""
    root = tmp_path_factory.mktemp("next_runs")
    for model in MODELS:
        cfg = compose_train(
            [*RUN, KNOWN, f"model={model}", *SHRUNK.get(model, [])], root / model, root / "cache"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = run(cfg)
        assert result.status == "ok", result.error
    events = build_source(dataset_spec(cfg.data)).load().events
    test_ids = pd.read_parquet(root / "markov" / PREDICTIONS_FILE)["sequence_id"].unique()
    events[events["user_id"].isin(test_ids)].to_parquet(root / "log.parquet", index=False)
    return root


def with_one_more_event(log: pd.DataFrame) -> pd.DataFrame:
    """Each sequence's last event repeated a minute later, with another activity and a page type training
    never saw (its known id is 0, as a live row's unknown one): the row that predicts it reads nothing else
    of it, so it equals the live row of the log without it."""
    after = log.sort_values(["user_id", "timestamp"]).groupby("user_id").tail(1).copy()
    after["timestamp"] += pd.Timedelta(minutes=1)
    after["activity"], after["page_type"] = "search", "moon"
    return pd.concat([log, after], ignore_index=True)


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_a_new_log_is_scored_per_event_as_the_run_scored_its_test_rows(runs, model):
    scores = predict(runs / model, runs / "log.parquet")
    saved = pd.read_parquet(runs / model / PREDICTIONS_FILE)
    names = json.loads((runs / model / TASK_STATE_FILE).read_text())["class_names"]
    both = saved.merge(scores, on=["sequence_id", "cutoff"], how="outer", indicator=True, validate="1:1")
    assert (both["_merge"] == "both").all() and len(both) == len(saved)  # the same rows, no more
    # Every class the run's file kept (all 13 activities) has the probability the run gave it.
    kept = sum(column.startswith("top_prob_") for column in saved.columns)
    assert kept == len(names) <= 20
    by_name = both[[class_column(name) for name in names]].to_numpy()
    for k in range(kept):
        given = np.take_along_axis(by_name, both[[f"top_{k}"]].to_numpy(), axis=1)[:, 0]
        np.testing.assert_allclose(given, both[f"top_prob_{k}"], rtol=1e-5, atol=1e-6)
    clear = both["top_prob_0"] - both["top_prob_1"] > 1e-4  # (a near tie may order either way)
    assert clear.mean() > 0.9
    assert (both["predicted"][clear] == np.asarray(names)[both["top_0"][clear]]).all()


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS[:2])
def test_last_only_scores_each_sequences_next_event_from_its_whole_history(runs, model, tmp_path):
    """One row per sequence, equal to the row that predicts an event appended to it (both families read
    only the history and the known field): the command line's last_only=true for markov (the README's
    command), the function for gru."""
    log = pd.read_parquet(runs / "log.parquet")
    with_one_more_event(log).to_parquet(tmp_path / "longer.parquet", index=False)
    if model == "markov":
        output = tmp_path / "next.csv"
        behave_ok(
            "behave.predict", f"run_dir={runs / model}", f"input={runs / 'log.parquet'}", f"output={output}",
            "last_only=true",
        )  # fmt: skip
        live = pd.read_csv(output)
    else:
        live = predict(runs / model, runs / "log.parquet", last_only=True)
    lengths = log.groupby("user_id").size()
    assert "cutoff" not in live and sorted(live["sequence_id"]) == sorted(lengths.index)
    ahead = predict(runs / model, tmp_path / "longer.parquet")
    ahead = ahead[ahead["cutoff"] == ahead["sequence_id"].map(lengths)].set_index("sequence_id")
    live = live.set_index("sequence_id").loc[ahead.index]
    probs = [column for column in live.columns if column.startswith("prob[")]
    assert len(probs) == 13
    np.testing.assert_allclose(live[probs], ahead[probs], rtol=1e-5, atol=1e-7)
    assert (live["predicted"] == ahead["predicted"]).mean() > 0.95  # (a near tie may go either way)


@pytest.mark.slow
def test_a_live_row_of_running_features_reads_the_whole_history_and_no_known_field(runs):
    """logreg's live rows: one per sequence, the history's counts up to the last event, the known field
    unknown (NaN: not a level, not "other"), and a prediction."""
    scoring = load_run(runs / "logreg")
    log = read_log(scoring.spec, runs / "log.parquet")
    inputs = scoring_inputs(scoring, log, last_only=True)
    features = inputs.features
    assert len(features) == log.n_sequences and np.array_equal(features["position"], log.lengths)
    assert features["known.page_type"].isna().all() and (inputs.ids["known.page_type"] == 0).all()
    probs = scoring.recipe.predict_proba(runs / "logreg", inputs, scoring.spec)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.slow
def test_values_training_never_had_map_as_the_task_maps_them(runs, tmp_path):
    """A new activity has no class (label -1, previous value 0: none), a new page type no level (known id
    0); the log is still scored, its other rows as before."""
    log = pd.read_parquet(runs / "log.parquet").sort_values(["user_id", "timestamp"], ignore_index=True)
    rank = log.groupby("user_id").cumcount()
    # Event 1 of a sequence of 6 events or more, with a page type (a page view).
    long_enough = log["user_id"].map(log.groupby("user_id").size()) >= 6
    at = np.flatnonzero((rank == 1) & long_enough & log["page_type"].notna())[0]
    first = log["user_id"].iloc[at]
    changed = log.copy()
    changed.loc[at, ["activity", "page_type"]] = ["teleport", "moon"]
    changed.to_parquet(tmp_path / "changed.parquet", index=False)
    scoring = load_run(runs / "markov")
    inputs = scoring_inputs(scoring, read_log(scoring.spec, tmp_path / "changed.parquet"))
    original = scoring_inputs(scoring, read_log(scoring.spec, runs / "log.parquet"))
    row = np.flatnonzero((inputs.sequence_ids == first) & (inputs.cutoff == 1))[0]  # predicts event 1
    assert inputs.labels[row] == UNPREDICTABLE and original.labels[row] >= 0
    assert inputs.ids["known.page_type"][row] == 0 and original.ids["known.page_type"][row] > 0
    assert inputs.ids["previous.1"][row + 1] == 0 and original.ids["previous.1"][row + 1] > 0
    others = np.ones(len(inputs), bool)
    others[[row, row + 1, row + 2, row + 3]] = False  # the row of event 1, and the three reading it back
    for name, ids in inputs.ids.items():
        assert np.array_equal(ids[others], original.ids[name][others]), name
    assert len(predict(runs / "markov", tmp_path / "changed.parquet")) == len(inputs)


def test_value_classes_match_a_logs_values_by_name_and_pool_unseen_ones_as_training_did():
    trained = fit_value_classes(np.array([0, 0, 1, 1, 2, 3]), ["a", "b", "c", "d"], max_classes=3)
    assert trained.names == ["a", "b", OTHER] and trained.classes(np.array([0, 1, 2, 3])).tolist() == [
        0,
        1,
        2,
        2,
    ]
    # A new log lists its values in another order and has one training never saw.
    new = ValueClasses.by_name(trained.names, ["zzz", "b", "d", "a"])
    assert new.classes(np.array([0, 1, 2, 3, -1])).tolist() == [2, 1, 2, 0, UNPREDICTABLE]
    unpooled = ValueClasses.by_name(["a", "b"], ["zzz", "b", "a"])
    assert unpooled.classes(np.array([0, 1, 2])).tolist() == [UNPREDICTABLE, 1, 0]


def test_many_classes_are_written_as_the_most_probable_names():
    names = [f"movie{k}" for k in range(30)]
    probs = np.random.default_rng(0).dirichlet(np.ones(30), size=4)
    table = scores_table(np.arange(4), probs, names, cutoffs=np.array([1, 2, 3, 4]))
    assert top_name_column(1) in table and top_name_column(20) in table and top_name_column(21) not in table
    assert not any(column.startswith("prob[") for column in table.columns)
    best = probs.argsort(axis=1)[:, ::-1]
    assert table[top_name_column(1)].tolist() == [names[k] for k in best[:, 0]] == table["predicted"].tolist()
    np.testing.assert_allclose(table["top_prob[2]"], probs[np.arange(4), best[:, 1]])
    few = scores_table(np.arange(4), probs[:, :3] / probs[:, :3].sum(axis=1, keepdims=True), names[:3])
    assert list(few.columns) == ["sequence_id", *[class_column(n) for n in names[:3]], "predicted"]


def test_a_run_without_the_tasks_fitted_state_is_refused_naming_what_it_lacks():
    with pytest.raises(
        DataError, match=r"lacks \['known_levels', 'running', 'class_names'\].*train it again"
    ):
        NextTask().restore({})
    state = {"known_levels": {}, "running": {}, "class_names": ["a"], "target_kind": "value"}
    with pytest.raises(DataError, match=r"known fields \['skill'\]"):
        NextTask(known=["skill"]).restore(state)
    with pytest.raises(DataError, match="fitted for target_kind value"):
        NextTask(target_kind="outcome").restore(state)
    with pytest.raises(DataError, match="last_only must be true or false"):
        flag_argument("yes", "last_only")
