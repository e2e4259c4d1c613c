"""A log without a sequence label (`data.label.column: null`): valid for every task that does not read one
(rating, pretraining), a clear error for one that does, its own cache, and labels that refuse to be read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from behave.data.errors import DataError
from behave.data.spec import DatasetSpec, LabelSpec
from behave.data.storage.out_of_core import check_supported
from behave.paths import REPO_ROOT
from behave.tasks.dataset import prepare_task
from behave.tasks.rating import RatingTask
from behave.tasks.sequence import SequenceTask
from behave.train import run
from tests.cli import behave
from tests.compose import SMALL_DATA, compose_train

# The README's knowledge-tracing example, verbatim (a test checks the README still carries it).
TUTOR_YAML = """defaults:
  - csv
name: tutor
source:
  events: tutor/answers.csv        # student, skill, correct, time: one row per answer
schema:
  sequence_id: student
  timestamp: time
  categorical: [skill]
  numeric: [correct]
label:
  column: null                     # no sequence label: fine for task=rating and task=pretrain
tokens:
  fields: [skill]
item:
  id: skill                        # task=rating predicts `correct` per (student, skill)
"""
RATING = ["task=rating", "task.target=correct"]


def write_answers(path, n_students: int = 40, seed: int = 0) -> pd.DataFrame:
    """A tutoring log of a few hundred answers: a student answers a skill right with a probability set by
    the student's ability and the skill's difficulty. `passed` is a per-student column left unnamed by the
    label-free config (the labelled variant of the same log names it)."""
    rng = np.random.default_rng(seed)
    ability, difficulty = rng.normal(0, 1, n_students), np.linspace(-1, 1, 5)
    rows = []
    for student in range(n_students):
        for step in range(int(rng.integers(5, 12))):
            skill = int(rng.integers(0, 5))
            p_right = 1 / (1 + np.exp(difficulty[skill] - ability[student]))
            rows.append((f"s{student}", f"k{skill}", int(rng.random() < p_right), 1_700_000_000 + 60 * step))
    frame = pd.DataFrame(rows, columns=["student", "skill", "correct", "time"])
    frame["passed"] = frame["student"].map({f"s{s}": int(a > 0) for s, a in enumerate(ability)})
    frame["school"] = frame["student"].map({f"s{s}": f"school{s % 3}" for s in range(n_students)})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return frame


@pytest.fixture
def tutor(tmp_path):
    """(overrides that select the tutor data, the answers written)."""
    (tmp_path / "conf" / "data").mkdir(parents=True)
    (tmp_path / "conf" / "data" / "tutor.yaml").write_text(TUTOR_YAML)
    answers = write_answers(tmp_path / "data" / "raw" / "tutor" / "answers.csv")
    overrides = [
        "data=tutor",
        f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
        f"paths.data_dir={tmp_path / 'data'}",
    ]
    return overrides, answers


def compose(tmp_path, overrides):
    return compose_train(overrides, tmp_path / "run", tmp_path / "cache")


def test_readme_carries_the_knowledge_tracing_example():
    assert TUTOR_YAML in (REPO_ROOT / "README.md").read_text()


def test_a_log_without_a_label_prepares_the_rating_task(tmp_path, tutor):
    overrides, answers = tutor
    cfg = compose(tmp_path, [*overrides, *RATING, "data.schema.static_categorical=[school]"])
    data = prepare_task(cfg.data, RatingTask(target="correct", item="skill"))
    log_ = data.base.log
    # A static attribute still reaches both families: one one-hot column per school, each student's own.
    columns = data.base.pipeline.static.columns
    schools = answers.groupby("student")["school"].first()[log_.sequence_ids]
    expected = np.array([[name == f"school[{school}]" for name in columns] for school in schools])
    np.testing.assert_array_equal(data.base.static, expected)
    assert not log_.labelled and log_.class_names == [] and log_.n_sequences == answers["student"].nunique()
    assert len(data.rows) == len(answers)
    np.testing.assert_allclose(np.sort(data.rows.label), np.sort(answers["correct"].to_numpy(float)))
    card = data.base.card
    assert card["label"] is None and card["label_kind"] is None and card["label_drift_p"] is None
    assert all("label_share" not in part for part in card["parts"].values())
    assert sum(part["n_sequences"] for part in card["parts"].values()) == log_.n_sequences
    # A second preparation reads the cache: the saved log is still without labels.
    again = prepare_task(cfg.data, RatingTask(target="correct", item="skill"))
    assert again.base.directory == data.base.directory and not again.base.log.labelled


def test_a_task_that_reads_the_label_names_the_missing_key(tmp_path, tutor):
    overrides, _ = tutor
    cfg = compose(tmp_path, [*overrides, "task=sequence"])
    with pytest.raises(DataError, match=r"task=sequence reads the sequence label.*data\.label\.column"):
        prepare_task(cfg.data, SequenceTask())


def test_the_labels_of_a_label_free_log_refuse_every_read(tmp_path, tutor):
    overrides, _ = tutor
    data = prepare_task(compose(tmp_path, [*overrides, *RATING]).data, RatingTask("correct", "skill"))
    labels = data.base.log.labels
    for read in (lambda: labels[0], lambda: np.asarray(labels), lambda: len(labels), lambda: list(labels)):
        with pytest.raises(DataError, match=r"data\.label\.column"):
            read()
    assert data.base.log.select(np.array([1, 0])).labels is labels  # selecting sequences keeps the marker


def test_labelled_and_label_free_preparations_of_one_log_are_cached_apart(tmp_path, tutor):
    overrides, answers = tutor
    task = RatingTask(target="correct", item="skill")
    free = prepare_task(compose(tmp_path, [*overrides, *RATING]).data, task)
    labelled_cfg = compose(tmp_path, [*overrides, *RATING, "data.label.column=passed"])
    labelled = prepare_task(labelled_cfg.data, task)
    assert free.base.fingerprint != labelled.base.fingerprint
    assert labelled.base.log.labelled and labelled.base.class_names == ["0", "1"]
    assert len(labelled.rows) == len(free.rows) == len(answers)


def test_an_unset_label_says_that_null_states_a_log_without_one(tmp_path, tutor):
    overrides, _ = tutor
    cfg = compose(tmp_path, [*overrides, *RATING, "data.label.column=???"])
    with pytest.raises(DataError, match=r"data\.label\.column must be set.*null states a log without"):
        prepare_task(cfg.data, RatingTask("correct", "skill"))


@pytest.mark.slow
def test_a_log_without_a_label_runs_the_rating_task_end_to_end(tmp_path, tutor):
    overrides, answers = tutor
    result = run(compose(tmp_path, [*overrides, *RATING, "model=dot_bias", "trainer.max_epochs=3"]))
    assert result.status == "ok", result.error
    assert np.isfinite(result.test_metrics["rmse"]) and result.test_metrics["rmse"] < 1.0
    assert result.dataset["class_names"] == []


@pytest.mark.slow
def test_behave_data_prints_the_card_of_a_log_without_a_label(tmp_path, tutor):
    overrides, _ = tutor
    cache = [f"paths.cache_dir={tmp_path / 'cache'}", f"data.cache_dir={tmp_path / 'cache'}"]
    done = behave("behave.prepare", *overrides, *RATING, *cache, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no sequence label" in done.stdout and "task         rating" in done.stdout
    refused = behave("behave.prepare", *overrides, "task=sequence", *cache, cwd=tmp_path)
    assert refused.returncode == 2 and "data.label.column" in refused.stderr, refused.stderr[-3000:]


@pytest.mark.slow
def test_pretraining_runs_on_a_simulator_log_without_its_label(tmp_path):
    short = ["objective.max_epochs=1", "trainer.max_epochs=1", "data.source.n_users=300"]
    cfg = compose(tmp_path, ["task=pretrain", *SMALL_DATA, *short, "data.label.column=null"])
    result = run(cfg)
    assert result.status == "ok", result.error
    assert result.dataset["card"]["label"] is None and result.dataset["class_names"] == []


def test_out_of_core_refuses_a_log_without_a_label_by_name():
    spec = DatasetSpec(name="tutor", source={}, label=LabelSpec(column=None))
    with pytest.raises(DataError, match=r"out-of-core .*label\.column=null"):
        check_supported(spec)
