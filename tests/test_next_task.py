"""`task=next`: a row per event after the first `min_history`, its target a field of that event (or the time
to it), classes from the training rows, the recommender split, and features and ids that no later event
(nor the predicted event's own hidden fields) can reach."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from behave.data.errors import DataError
from behave.data.split import PARTS
from behave.tasks.dataset import prepare_task
from behave.tasks.next import NextTask, history_groups
from behave.tasks.next_targets import UNPREDICTABLE
from tests.compose import compose_train
from tests.test_label_free import TUTOR_YAML, write_answers

TRAIN, VAL, TEST = (PARTS.index(name) for name in PARTS)


def tutor_config(tmp_path, answers: pd.DataFrame | None = None, n_students: int = 40):
    """The README's knowledge-tracing log (or `answers` written in its place), composed for task=next."""
    (tmp_path / "conf" / "data").mkdir(parents=True, exist_ok=True)
    (tmp_path / "conf" / "data" / "tutor.yaml").write_text(TUTOR_YAML)
    path = tmp_path / "data" / "raw" / "tutor" / "answers.csv"
    if answers is None:
        answers = write_answers(path, n_students=n_students)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        answers.to_csv(path, index=False)
    overrides = [
        "data=tutor",
        "task=next",
        f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
        f"paths.data_dir={tmp_path / 'data'}",
    ]
    return compose_train(overrides, tmp_path / "run", tmp_path / "cache"), answers


def knowledge_tracing(**settings) -> NextTask:
    return NextTask(target="correct", target_kind="outcome", known=["skill"], **settings)


def test_a_row_per_event_after_the_first_ones_labelled_with_that_events_outcome(tmp_path):
    cfg, answers = tutor_config(tmp_path)
    data = prepare_task(cfg.data, knowledge_tracing(min_history=2))
    rows, log_ = data.rows, data.base.log
    assert len(rows) == int(np.maximum(log_.lengths - 2, 0).sum())
    assert rows.cutoff.min() == 2 and np.all(rows.cutoff < log_.lengths[rows.sequence])
    event = log_.offsets[rows.sequence] + rows.cutoff
    np.testing.assert_array_equal(rows.label, log_.numeric["correct"][event].astype(int))
    # The split is by sequence: every row of a sequence shares its part.
    np.testing.assert_array_equal(rows.part, data.base.split.part_index(log_.n_sequences)[rows.sequence])
    # The known field of the predicted event reaches both families: an id for the neural head and the
    # baselines, a column for the trees; both fitted on the training rows.
    skills = np.asarray(log_.categorical["skill"].astype(str))[event]
    known = data.ids["known.skill"].to_numpy()
    assert all(len(set(known[skills == s])) == 1 for s in np.unique(skills))
    assert "known.skill" in data.feature_names and "so_far.skill_successes[current]" in data.feature_names
    assert data.class_names == ["0", "1"] and data.info["known"]["skill"] == 6  # 5 skills + unseen


def test_history_length_groups():
    index, names = history_groups(np.array([1, 5, 6, 10, 11, 50, 51, 400]))
    assert names == ["1", "2", "3", "4", "5", "6-10", "11-20", "21-50", "51+"]
    assert [names[i] for i in index] == ["1", "5", "6-10", "6-10", "11-20", "21-50", "51+", "51+"]


def test_leave_last_out_tests_each_sequences_last_event_and_validates_the_one_before(tmp_path):
    cfg, _ = tutor_config(tmp_path)
    data = prepare_task(cfg.data, knowledge_tracing(split="leave_last_out"))
    frame = data.rows.to_frame()
    last = frame.groupby("sequence")["cutoff"].transform("max")
    expected = np.select([frame.cutoff == last, frame.cutoff == last - 1], [TEST, VAL], TRAIN)
    np.testing.assert_array_equal(frame.part, expected)
    assert data.card["parts"]["test"]["n_sequences"] == data.base.log.n_sequences


def test_value_classes_come_from_training_rows_rare_ones_pool_and_unseen_ones_cannot_be_predicted(tmp_path):
    cfg, answers = tutor_config(tmp_path)
    # Two skills never answered in training: the last answer of one student (a test row under leave-last-out)
    # and the last but one of another (a validation row).
    last = answers.groupby("student").tail(2).index
    answers.loc[last[-1], "skill"], answers.loc[last[0], "skill"] = "k_new", "k_val"
    cfg, _ = tutor_config(tmp_path / "new", answers)
    data = prepare_task(cfg.data, NextTask(target="skill", split="leave_last_out", max_classes=50))
    rows, log_ = data.rows, data.base.log
    event = log_.offsets[rows.sequence] + rows.cutoff
    skills = np.asarray(log_.categorical["skill"].astype(str))[event]
    train_skills = pd.Series(skills[rows.part == TRAIN]).value_counts()
    assert data.class_names == list(train_skills.index)  # most frequent first
    assert not {"k_new", "k_val"} & set(data.class_names)
    # The test row stays, as a miss for every model (label -1); the validation row is dropped.
    assert rows.part[skills == "k_new"].tolist() == [TEST] and rows.label[skills == "k_new"] == UNPREDICTABLE
    assert not np.any(skills == "k_val") and len(rows) == int((log_.lengths - 1).sum()) - 1
    assert data.card["unpredictable_test_rows"] == 1
    # With room for fewer classes the rarest values pool.
    pooled = prepare_task(cfg.data, NextTask(target="skill", max_classes=3))
    assert pooled.class_names == [*pooled.class_names[:2], "(other)"] and pooled.num_classes == 3
    assert pooled.rows.label.min() >= 0  # every value has a class now, (other) at worst


def test_time_to_the_next_event_in_the_stated_unit(tmp_path):
    cfg, answers = tutor_config(tmp_path)
    data = prepare_task(cfg.data, NextTask(target_kind="time", time_unit="minutes"))
    np.testing.assert_allclose(data.rows.label, 1.0)  # the log's answers are a minute apart
    assert data.task.kind == "regression" and data.task.headline() == "mae"
    assert "class_names" not in data.info and data.info["time_unit"] == "minutes"


def test_later_events_and_the_hidden_fields_of_the_predicted_event_reach_no_row(tmp_path):
    """Rewrite everything of one test student from event c on (its outcome at c, every field after c): the
    features and ids of its rows up to cutoff c do not move; nor does any other row."""
    cfg, answers = tutor_config(tmp_path)
    task = knowledge_tracing()
    before = prepare_task(cfg.data, task)
    log_ = before.base.log
    test_students = log_.sequence_ids[before.base.split.test]
    student = next(s for s in test_students if (answers.student == s).sum() >= 8)
    events = answers.index[answers.student == student]
    c = 4
    changed = answers.copy()
    changed.loc[events[c:], "correct"] = 1 - changed.loc[events[c:], "correct"]
    changed.loc[events[c + 1 :], "skill"] = "k0"
    changed.loc[events[c + 1 :], "time"] += 7_200
    cfg_after, _ = tutor_config(tmp_path / "changed", changed)
    after = prepare_task(cfg_after.data, knowledge_tracing())
    s = int(np.flatnonzero(log_.sequence_ids == student)[0])
    reachable = (before.rows.sequence != s) | (before.rows.cutoff <= c)
    pd.testing.assert_frame_equal(before.features[reachable], after.features[reachable])
    pd.testing.assert_frame_equal(before.ids[reachable], after.ids[reachable])
    # ... and the rewritten rows did change, so the comparison can fail.
    assert not before.features[~reachable].equals(after.features[~reachable])


@pytest.mark.parametrize(
    "settings, key",
    [
        ({"target_kind": "rank"}, "task.target_kind"),
        ({"split": "random"}, "task.split"),
        ({"min_history": 0}, "task.min_history"),
        ({"time_unit": "weeks"}, "task.time_unit"),
        ({"known": ["activity"]}, "task.known"),
        ({"headline": "rmse", "target_kind": "outcome"}, "task.headline"),
    ],
)
def test_bad_settings_name_their_key(settings, key):
    with pytest.raises(DataError, match=key):
        NextTask(**settings)


def test_a_target_the_log_lacks_names_the_key_and_the_fields(tmp_path):
    cfg, _ = tutor_config(tmp_path)
    with pytest.raises(DataError, match=r"task.target: no categorical event field 'page'.*skill"):
        prepare_task(cfg.data, NextTask(target="page"))
    with pytest.raises(DataError, match=r"task.target: no numeric event field 'skill'"):
        prepare_task(cfg.data, NextTask(target="skill", target_kind="outcome"))


def test_a_booster_refuses_more_classes_than_it_can_grow_trees_for():
    from types import SimpleNamespace

    from behave.training.tabular.lightgbm import LightGBMRecipe
    from behave.training.tabular.xgboost import XGBoostRecipe

    many = SimpleNamespace(task=SimpleNamespace(kind="classification"), num_classes=1_683)
    with pytest.raises(DataError, match=r"model=xgboost grows one tree per class.*1,683 classes.*markov"):
        XGBoostRecipe(params={}).estimator(many, seed=0)
    with pytest.raises(DataError, match=r"model=lightgbm grows one tree per class"):
        LightGBMRecipe(params={}, name="lightgbm").classifier(1_683, seed=0)
    assert XGBoostRecipe(params={}).estimator(SimpleNamespace(task=many.task, num_classes=13), seed=0)


def test_the_simulators_oracle_scores_the_test_rows_as_the_ceiling(tmp_path):
    overrides = ["task=next", "data=synthetic_next", "data.source.n_users=300"]
    cfg = compose_train(overrides, tmp_path / "run", tmp_path / "cache")
    data = prepare_task(cfg.data, NextTask())
    oracle = data.card["oracle"]
    assert oracle["n_rows"] == len(data.rows.in_part("test"))
    # The oracle's accuracy is that of the walk's most likely next activity: well above the majority class.
    majority = data.card["parts"]["test"]["label_share"][data.class_names[0]]
    assert majority + 0.1 < oracle["metrics"]["accuracy"] < 0.7 and oracle["metrics"]["log_loss"] > 0.5
    assert {group["group"] for group in oracle["by_group"]} <= set(data.rows.group_names)
    tutor, _ = tutor_config(tmp_path / "tutor")
    assert "oracle" not in prepare_task(tutor.data, knowledge_tracing()).card  # a CSV log knows none
