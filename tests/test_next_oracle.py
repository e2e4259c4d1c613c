"""A source's per-event extras (the simulator's oracle) travel with their events through validation's sort,
the log store, the cache, `select` and `cut`; the oracle scored on a per-event task's test rows is the ceiling
the report shows, and a log without one gives None."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate

from behave.data.config import dataset_spec, prepare_from_config
from behave.data.errors import DataError
from behave.data.event_log import EventLog, RawTables, oracle_column
from behave.data.ingestion.validate import validate
from behave.data.sources.simulator import oracle as simulator_oracle
from behave.data.sources.simulator import tables
from behave.data.split import PARTS
from behave.data.storage.log_store import load_log, save_log
from behave.report.data_section import data_blocks, oracle_blocks
from behave.report.records import RunRecord
from behave.tasks.next_oracle import class_probabilities, oracle_scores
from behave.tasks.rows import TaskRows
from behave.train import run
from tests.compose import compose_train
from tests.test_label_free import TUTOR_YAML, write_answers

TEST = PARTS.index("test")


def _tagged_tables(rng: np.random.Generator) -> RawTables:
    """Events of 8 sequences in shuffled file order, each with an extra that encodes its own (sequence, time):
    wherever an extra lands, it names the event it belongs to."""
    seq = np.repeat(np.arange(8), 5)
    ts = np.tile(np.arange(5), 8) * 60 + 1_700_000_000 + rng.integers(0, 30, 40)
    events = pd.DataFrame({"seq": seq, "ts": ts, "event": rng.choice(["a", "b"], 40)})
    events = events.sample(frac=1.0, random_state=3).reset_index(drop=True)
    extras = pd.DataFrame({"tag": events["seq"] * 1e10 + events["ts"], "oracle:correct": rng.random(40)})
    labels = pd.DataFrame({"seq": np.arange(1, 8), "y": [0, 1, 0, 1, 0, 1, 1]})  # sequence 0 has no label
    return RawTables(events, "events.csv", labels, "labels.csv", event_extras=extras)


def _spec(tmp_path):
    return dataset_spec(
        {
            "name": "t",
            "source": {"_target_": "behave.data.sources.files.FileSource", "events": "unused"},
            "schema": {"sequence_id": "seq", "timestamp": "ts", "categorical": ["event"]},
            "label": {"column": "y", "positive": 1, "table": "labels"},
            "tokens": {"fields": ["event"]},
            "cache_dir": str(tmp_path),
        }
    )


def _expected_tags(log_: EventLog) -> np.ndarray:
    return log_.sequence_ids[log_.sequence_of_event()] * 1e10 + log_.time


def test_event_extras_stay_with_their_events_through_sort_store_select_and_cut(tmp_path):
    raw = _tagged_tables(np.random.default_rng(0))
    log_, report = validate(raw, _spec(tmp_path))
    assert report.sequences_without_label == 1 and log_.n_sequences == 7  # the drop ran through select
    np.testing.assert_array_equal(log_.event_extras["tag"], _expected_tags(log_))
    by_tag = dict(zip(raw.event_extras["tag"], raw.event_extras["oracle:correct"]))
    expected = [by_tag[tag] for tag in _expected_tags(log_)]
    np.testing.assert_array_equal(log_.event_extras["oracle:correct"], expected)

    save_log(log_, tmp_path / "log")
    loaded = load_log(tmp_path / "log")
    assert list(loaded.event_extras) == ["tag", "oracle:correct"]
    np.testing.assert_array_equal(loaded.event_extras["tag"], _expected_tags(loaded))

    picked = loaded.select(np.array([5, 2]))
    np.testing.assert_array_equal(picked.event_extras["tag"], _expected_tags(picked))
    prefixes = loaded.cut(np.array([3, 3, 0]), np.array([2, 4, 1]))
    assert len(prefixes.event_extras["tag"]) == 7
    np.testing.assert_array_equal(prefixes.event_extras["tag"], _expected_tags(prefixes))


def test_event_extras_that_do_not_line_up_with_the_events_are_refused(tmp_path):
    raw = _tagged_tables(np.random.default_rng(0))
    short = RawTables(raw.events, "events.csv", raw.labels, "labels.csv", event_extras=raw.event_extras[:-1])
    with pytest.raises(DataError, match=r"events\.csv: the source's event_extras have 39 rows for 40 events"):
        validate(short, _spec(tmp_path))


def test_the_log_reads_its_oracle_by_field():
    log_ = _hand_log()
    value = log_.oracle("item")
    assert value.values == ["a", "b", "c"] and not value.binary
    np.testing.assert_allclose(value.probability.sum(axis=1), 1.0)
    outcome = log_.oracle("correct")
    assert outcome.binary and outcome.values == ["0", "1"]
    np.testing.assert_array_equal(outcome.probability, log_.event_extras[oracle_column("correct")])
    assert log_.oracle("event") is None


def _hand_log() -> EventLog:
    """Two sequences of 3 and 4 events; per event the oracle of `item` (values a, b, c) and of `correct`."""
    item_prob = np.array(
        [
            [0.2, 0.5, 0.3], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8],                    # sequence 0
            [0.3, 0.3, 0.4], [0.5, 0.2, 0.3], [0.2, 0.7, 0.1], [0.4, 0.4, 0.2],  # sequence 1
        ]
    )  # fmt: skip
    extras = {oracle_column("item", v): item_prob[:, k] for k, v in enumerate("abc")}
    extras[oracle_column("correct")] = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.7, 0.4])
    return EventLog(
        sequence_ids=np.array([10, 11]),
        offsets=np.array([0, 3, 7]),
        time=np.arange(7, dtype=np.float64),
        categorical={"event": pd.Categorical(["x"] * 7)},
        numeric={},
        labels=np.array([0, 1]),
        class_names=["0", "1"],
        event_extras=extras,
    )


def _rows(label: list[int], part: list[int]) -> TaskRows:
    """Rows (s, c) for c = 1..length-1: (0,1) (0,2) (1,1) (1,2) (1,3), groups "1", "2", "3+"."""
    return TaskRows(
        sequence=np.array([0, 0, 1, 1, 1]),
        cutoff=np.array([1, 2, 1, 2, 3]),
        label=np.array(label),
        part=np.array(part, dtype=np.int8),
        group=np.array([0, 1, 0, 1, 2]),
        group_names=["1", "2", "3+"],
    )


def test_oracle_scores_of_a_value_target_map_values_onto_the_classes_and_pool_the_rest():
    log_ = _hand_log()
    # Classes: b, a and (other) pooling c. Rows predict events 1, 2, 4, 5, 6; the first row trains.
    # Test rows' true values: event 2 = (other), event 4 = a, event 5 = a value no training row had (-1),
    # event 6 = b.
    class_names = ["b", "a", "(other)"]
    rows = _rows(label=[1, 2, 1, -1, 0], part=[0, TEST, TEST, TEST, TEST])
    probs = class_probabilities(log_.oracle("item"), np.array([2, 4, 5, 6]), class_names)
    np.testing.assert_allclose(probs, [[0.1, 0.1, 0.8], [0.2, 0.5, 0.3], [0.7, 0.2, 0.1], [0.4, 0.4, 0.2]])

    scores = oracle_scores(log_, rows, "item", class_names)
    # argmax: (other) right, a right, b (label -1: a miss), b (tie with a: the first, b) right.
    assert scores["n_rows"] == 4 and scores["metrics"]["accuracy"] == pytest.approx(3 / 4)
    expected = -(math.log(0.8) + math.log(0.5) + math.log(0.4)) / 3
    assert scores["metrics"]["log_loss"] == pytest.approx(expected)
    groups = {g["group"]: g for g in scores["by_group"]}
    assert groups["2"]["n_rows"] == 2 and groups["2"]["accuracy"] == pytest.approx(0.5)
    assert groups["2"]["log_loss"] == pytest.approx(-math.log(0.8))
    assert groups["3+"]["accuracy"] == 1.0 and groups["3+"]["log_loss"] == pytest.approx(-math.log(0.4))


def test_oracle_scores_of_an_outcome_target_score_it_as_a_binary_classifier():
    log_ = _hand_log()
    rows = _rows(label=[1, 0, 1, 1, 0], part=[TEST] * 5)
    scores = oracle_scores(log_, rows, "correct", ["0", "1"])
    # P(1) at events 1, 2, 4, 5, 6: 0.8, 0.3, 0.2, 0.7, 0.4 against 1, 0, 1, 1, 0: 4 of the 6 pairs in order.
    assert scores["metrics"]["auroc"] == pytest.approx(4 / 6)
    expected = -(math.log(0.8) + math.log(0.7) + math.log(0.2) + math.log(0.7) + math.log(0.6)) / 5
    assert scores["metrics"]["log_loss"] == pytest.approx(expected)
    group_one = scores["by_group"][0]
    assert group_one["group"] == "1" and group_one["n_rows"] == 2 and group_one["auroc"] is None  # one class


def test_a_log_without_an_oracle_of_the_target_gives_none():
    log_ = _hand_log()
    rows = _rows(label=[0, 0, 0, 0, 0], part=[TEST] * 5)
    assert oracle_scores(log_, rows, "event", ["x"]) is None
    assert oracle_scores(log_, rows, "item", []) is None  # a time target: no classes, no oracle to score
    bare = EventLog(log_.sequence_ids, log_.offsets, log_.time, log_.categorical, {}, log_.labels, ["0", "1"])
    assert bare.event_extras == {} and oracle_scores(bare, rows, "item", ["a", "b"]) is None


def test_the_prepared_simulator_log_carries_its_oracle_from_the_cache(tmp_path):
    overrides = ["data=synthetic_next", "data.source.n_users=40"]
    cfg = compose_train(overrides, tmp_path / "run", tmp_path / "cache")
    data = prepare_from_config(cfg.data)
    raw = instantiate(cfg.data.source).load()
    oracle = data.log.oracle("activity")
    assert oracle.values == list(tables.STATES)
    # The cached log's events are the source's in (user, time) order: the oracle row of each is the source's.
    raw_order = np.lexsort((raw.events["timestamp"].to_numpy(), raw.events["user_id"].to_numpy()))
    _, expected = simulator_oracle.next_distribution(raw.event_extras)
    np.testing.assert_allclose(oracle.probability, expected[raw_order])
    again = prepare_from_config(cfg.data)
    assert again.directory == data.directory and again.log.oracle("activity") is not None


def test_the_report_shows_the_oracle_as_the_ceiling_overall_and_per_history_length():
    rows = _rows(label=[1, 2, 1, -1, 0], part=[0, TEST, TEST, TEST, TEST])
    scores = oracle_scores(_hand_log(), rows, "item", ["b", "a", "(other)"])
    paragraph, table = oracle_blocks(scores)
    assert "4 test rows: Bayes-optimal accuracy 0.7500, log loss 0.6109" in paragraph.text
    assert table.header == ["history length", "test rows", "oracle accuracy", "oracle log loss"]
    assert table.rows[1] == ["2", "2", "0.5000", "0.2231"]
    outcome = oracle_scores(_hand_log(), _rows([1, 0, 1, 1, 0], [TEST] * 5), "correct", ["0", "1"])
    paragraph, table = oracle_blocks(outcome)
    assert "Bayes-optimal AUROC 0.6667, log loss" in paragraph.text and table.rows[0][2] == "—"
    assert oracle_blocks(None) == []


def test_the_data_section_of_a_task_that_does_not_read_the_sequence_label_describes_the_tasks_own_rows():
    rows = _rows(label=[1, 2, 1, -1, 0], part=[0, TEST, TEST, TEST, TEST])
    task_card = {
        "parts": {"train": {"n_rows": 1, "n_sequences": 1, "label_share": {"b": 0.0, "a": 1.0}}},
        "oracle": oracle_scores(_hand_log(), rows, "item", ["b", "a", "(other)"]),
    }
    card = {"label": "purchase_next_week", "label_kind": "binary", "class_names": ["0", "1"]}
    card["oracle_test_auroc"] = 0.97
    card["parts"] = {"train": {"n_sequences": 2, "n_events": 7, "label_share": {"0": 0.5, "1": 0.5}}}
    card["n_features"] = 489
    dataset = {"class_names": ["b", "a", "(other)"], "n_features": 181, "label_kind": "binary"}
    dataset |= {"card": card, "task_card": task_card}
    task = {"name": "next", "rows": "one prediction per event", "reads_label": False}
    record = RunRecord(Path("run"), "ok", None, "gru", "neural", 0, dataset, {}, {"task": task})
    heading, fields, ceiling, _, parts, *_ = data_blocks([record], regression=False)
    assert fields.rows == [["classes", "b, a, (other)"], ["tabular features", "181"]]
    assert ceiling.text.startswith("**Ceiling:**")
    assert parts.header == ["part", "rows", "sequences", "class share"]
    assert parts.rows[0] == ["train", "1", "1", "b: 0, a: 1"]
    prefix = {"task": {"name": "prefix"}}
    labelled = RunRecord(Path("run"), "ok", None, "gru", "neural", 0, dataset, {}, prefix)
    assert ["label", "purchase_next_week"] in data_blocks([labelled], regression=False)[1].rows


@pytest.mark.slow
def test_the_readme_knowledge_tracing_question_runs_by_yaml_alone(tmp_path):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    (experiment,) = [block for block in blocks if "/task: next" in block]
    for path, text in (("data/tutor.yaml", TUTOR_YAML), ("experiment/tutor_next.yaml", experiment)):
        (tmp_path / "conf" / path).parent.mkdir(parents=True)
        (tmp_path / "conf" / path).write_text(text)
    write_answers(tmp_path / "data" / "raw" / "tutor" / "answers.csv", n_students=60)
    overrides = ["experiment=tutor_next", f"hydra.searchpath=[file://{tmp_path / 'conf'}]"]
    overrides += [f"paths.data_dir={tmp_path / 'data'}", "model=logreg", "~logger"]
    result = run(compose_train(overrides, tmp_path / "run", tmp_path / "cache"))
    assert result.status == "ok", result.error
    assert list(result.task["config"]["known"]) == ["skill"] and 0.5 < result.test_metrics["auroc"] <= 1.0
