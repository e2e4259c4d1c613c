"""The candidate ranker of task=next (model=xgboost_ranker): candidates, outputs, a rule it learns."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from behave.data.config import build_source, dataset_spec
from behave.data.errors import DataError
from behave.data.sources import movielens
from behave.data.sources.files import DATA_DIR_ENV
from behave.predict import predict
from behave.run.predictions import PREDICTIONS_FILE, class_column
from behave.run.record import TASK_STATE_FILE
from behave.train import run
from behave.training.backoff_counts import BackoffTable
from behave.training.recipe import RunContext
from behave.training.tabular.candidates import CountModels, RankRows, build_candidates, first_distinct
from behave.training.tabular.xgboost_ranker import XGBoostRankerRecipe
from tests.compose import SMALL_DATA, compose_train
from tests.test_next_baselines import Rows, next_run, rows

N_CLASSES = 20


def period_two(n_rows: int, seed: int):
    """Rows of sequences a, b, a, b, ...: the next value is always the one two back (previous.2), while
    the last value (previous.1) says nothing of it, each pair drawn at random."""
    generator = np.random.default_rng(seed)
    first = generator.integers(0, N_CLASSES, n_rows)
    second = (first + generator.integers(1, N_CLASSES, n_rows)) % N_CLASSES
    inputs = rows(first, previous_1=second + 1, previous_2=first + 1, previous_3=second + 1)
    return inputs


def test_candidates_are_the_previous_values_then_the_markov_and_popular_ones():
    # Training: after value 0 comes 1 (often) or 2; overall 3 is the most frequent value.
    labels = np.array([1, 1, 1, 2, 3, 3, 3, 3, 3, 3])
    previous = np.array([0, 0, 0, 0, 4, 4, 4, 4, 4, 4])
    train = RankRows.of(rows(labels, previous_1=previous + 1), ())
    counts = CountModels.fit(train, 6, smoothing=1.0)
    new = RankRows.of(rows([5, 5], previous_1=[1, 6], previous_2=[6, 0]), ())
    found = build_candidates(counts, new, k=4)
    assert found.values.shape == (2, 4)
    # Row 0: its last values 0 and 5 first, then Markov's after 0 (1, 2), in that order.
    assert found.values[0].tolist() == [0, 5, 1, 2]
    # Row 1: its last value 5 (never followed by anything), then the popular ones (3 first).
    assert found.values[1, 0] == 5 and found.values[1, 1] == 3
    assert len(set(found.values[1])) == 4
    names = found.feature_names
    features = found.features.reshape(2, 4, -1)
    assert features[0, :, names.index("is_previous.1")].tolist() == [1, 0, 0, 0]
    assert features[0, :, names.index("is_previous.2")].tolist() == [0, 1, 0, 0]
    assert found.hits(np.array([5, 4])).tolist() == [True, False]


def test_leaving_a_training_rows_own_count_out_is_fitting_without_that_row():
    generator = np.random.default_rng(3)
    labels = generator.integers(0, 4, 30)
    previous = {"previous.1": generator.integers(0, 5, 30)}
    table = BackoffTable.fit(previous, labels, ("previous.1",), 4, smoothing=0.7)
    left_out = table.probabilities(previous, 30, leave_out=labels)
    for row in range(30):
        others = np.arange(30) != row
        without = BackoffTable.fit({"previous.1": previous["previous.1"][others]}, labels[others],
                                   ("previous.1",), 4, smoothing=0.7)  # fmt: skip
        assert np.allclose(
            left_out[row], without.probabilities({"previous.1": previous["previous.1"][[row]]}, 1)
        )
    assert not np.allclose(left_out, table.probabilities(previous, 30))


def test_first_distinct_keeps_the_first_of_repeats_and_skips_none():
    pooled = np.array([[3, -1, 3, 1, 2, 1], [-1, -1, 0, 0, 4, 5]])
    assert first_distinct(pooled, 3).tolist() == [[3, 1, 2], [0, 4, 5]]


def test_there_are_never_more_candidates_than_classes():
    train = RankRows.of(rows([0, 1, 2], previous_1=[1, 2, 3]), ())
    found = build_candidates(CountModels.fit(train, 3, 1.0), train, k=50)
    assert found.values.shape == (3, 3)
    assert all(sorted(row) == [0, 1, 2] for row in found.values.tolist())


def test_rows_without_previous_values_and_unknown_row_columns_are_refused():
    with pytest.raises(DataError, match="no ids previous.1"):
        RankRows.of(rows([0]), ())
    with pytest.raises(DataError, match=r"model.row_columns \['gap_s'\]"):
        RankRows.of(rows([0], previous_1=[1]), ("gap_s",))


@pytest.mark.slow
def test_the_ranker_learns_a_rule_markov_order_1_cannot(tmp_path):
    data = Rows({"train": period_two(1500, 0), "val": period_two(300, 1)}, N_CLASSES)
    recipe = XGBoostRankerRecipe(
        {"n_estimators": 40, "learning_rate": 0.3}, candidates=8, row_columns=(), candidate_mass=0.9
    )
    context = RunContext(tmp_path, 0, "val/loss")
    fitted = recipe.fit(data, context)
    test = period_two(400, 2)
    probs = recipe.predict(fitted.model, test, None)
    assert probs.shape == (400, N_CLASSES) and np.allclose(probs.sum(axis=1), 1.0)
    assert probs.min() > 0  # every value keeps a share: log loss stays finite
    # The true value is always previous.2, so always a candidate.
    assert fitted.extra["val_candidate_recall"] == 1.0
    assert (probs.argmax(axis=1) == test.labels).mean() > 0.95
    markov = CountModels.fit(RankRows.of(data.inputs("train"), ()), N_CLASSES, 1.0).markov
    markov_probs = markov.probabilities({"previous.1": test.ids["previous.1"]}, len(test))
    assert (markov_probs.argmax(axis=1) == test.labels).mean() < 0.3
    # Saved as JSON + npz, and the saved model predicts the same.
    recipe.save(fitted, data, context)
    assert np.allclose(recipe.predict_proba(tmp_path, test, None), probs)
    assert not list(tmp_path.glob("*.pkl")) and (tmp_path / "ranker.xgb.json").is_file()


@pytest.mark.slow
def test_the_ranker_runs_end_to_end_on_the_simulators_next_activity(tmp_path):
    result = next_run(tmp_path, "xgboost_ranker", "synthetic_next", "model.candidates=3", "model.n_jobs=1")
    assert result.status == "ok", result.error
    # 3 of 13 activities per row: some true next activities are not among them, and the ranker puts its
    # candidates first, so its recall@1..3 cannot pass theirs.
    assert 0.3 < result.extra["val_candidate_recall"] < 1
    assert result.test_metrics["accuracy"] > 2 / 13
    # behave-predict scores the test sequences' events from the saved files as the run scored them.
    run_dir = tmp_path / "xgboost_ranker"
    saved = pd.read_parquet(run_dir / PREDICTIONS_FILE)
    cfg = compose_train(["task=next", "data=synthetic_next", *SMALL_DATA], tmp_path / "x", tmp_path / "cache")
    events = build_source(dataset_spec(cfg.data)).load().events
    events[events["user_id"].isin(saved["sequence_id"].unique())].to_parquet(tmp_path / "log.parquet")
    scores = predict(run_dir, tmp_path / "log.parquet")
    both = saved.merge(scores, on=["sequence_id", "cutoff"], validate="1:1")
    assert len(both) == len(saved)
    names = json.loads((run_dir / TASK_STATE_FILE).read_text())["class_names"]
    by_name = both[[class_column(name) for name in names]].to_numpy()
    given = np.take_along_axis(by_name, both[["top_0"]].to_numpy(), axis=1)[:, 0]
    np.testing.assert_allclose(given, both["top_prob_0"], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.realdata
def test_the_ranker_ranks_the_next_movie_among_every_movie(tmp_path):
    root = os.environ.get(DATA_DIR_ENV)
    if not root or not (Path(root) / movielens.DATASET_FOLDER / "u.data").is_file():
        pytest.skip(f"real data absent: set ${DATA_DIR_ENV} to the folder that holds movielens-100k/")
    overrides = ["experiment=next_movielens", "model=xgboost_ranker", "model.n_jobs=1", "~logger"]
    cfg = compose_train(
        [*overrides, f"data.source.data_dir={Path(root) / movielens.DATASET_FOLDER}"],
        tmp_path / "run",
        tmp_path / "cache",
    )
    result = run(cfg)
    assert result.status == "ok", result.error
    # 50 candidates of 1,678 movies bound its recall; popularity's recall@10 is 0.053.
    assert result.test_metrics["recall@10"] > 0.07
    assert 0.1 < result.extra["val_candidate_recall"] < 1
