"""Tasks: which rows exist, what each row may see, how rows are scored; checked against independent pandas."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from behave.data.batches.loaders import SequenceDataset
from behave.data.config import build_source, dataset_spec, prepare_from_config
from behave.data.errors import DataError
from behave.data.features.builder import FeatureBuilder
from behave.data.ingestion.validate import validate
from behave.data.split import PARTS
from behave.tasks.dataset import task_dataset
from behave.tasks.metrics import score
from behave.tasks.prefix import PrefixTask
from behave.tasks.sequence import SequenceTask


@pytest.fixture
def tables(make_tables):
    return make_tables(150, seed=11)


@pytest.fixture
def base(data_config, tables):
    return prepare_from_config(data_config(*tables))


def test_sequence_task_predicts_every_sequence_whole(base):
    rows = SequenceTask().rows(base.log, base.split)
    assert np.array_equal(rows.sequence, np.arange(base.log.n_sequences))
    assert np.array_equal(rows.cutoff, base.log.lengths)
    assert np.array_equal(rows.label, base.log.labels)
    for index, part in enumerate(PARTS):
        assert np.array_equal(np.flatnonzero(rows.part == index), base.split.part(part))


def test_task_features_are_read_only_by_what_uses_them(base):
    data = task_dataset(base, SequenceTask())
    inputs = [data.inputs(part) for part in PARTS]  # what every recipe asks for, the neural ones included
    names = data.feature_names  # every run records their number
    assert "features" not in vars(data) and all("features" not in vars(part) for part in inputs)
    assert inputs[0].features.shape == (len(base.split.train), len(data.features.columns))
    assert "features" in vars(data) and names == list(data.features.columns)  # read once, then kept
    assert all(part.features.dtypes.eq("float32").all() for part in pickle.loads(pickle.dumps(inputs)))


def test_sequence_task_features_are_the_whole_log_features(base):
    """The old behaviour: one feature row per sequence, from a builder fitted on train alone."""
    data = task_dataset(base, SequenceTask())
    train = base.log.select(base.split.train)
    vocabulary = base.pipeline.vocabulary
    builder = FeatureBuilder(base.spec.features).fit(train, vocabulary.transform(train), vocabulary.tokens_)
    expected = builder.transform(base.log, vocabulary.transform(base.log))
    pd.testing.assert_frame_equal(data.features, expected)


@pytest.mark.parametrize("include_complete", [False, True])
def test_prefix_rows_come_only_from_sequences_long_enough(base, include_complete):
    task = PrefixTask(lengths=[2, 5], include_complete=include_complete)
    rows = task.rows(base.log, base.split)
    lengths = base.log.lengths
    for index, k in enumerate([2, 5]):
        members = rows.sequence[rows.group == index]
        eligible = lengths >= k if include_complete else lengths > k
        assert np.array_equal(np.sort(members), np.flatnonzero(eligible))
        assert (rows.cutoff[rows.group == index] == k).all()
    assert rows.group_names == ["2", "5"]
    assert np.array_equal(rows.label, base.log.labels[rows.sequence])
    # The split is by sequence: every prefix of a sequence is in its sequence's part.
    assert np.array_equal(rows.part, base.split.part_index(base.log.n_sequences)[rows.sequence])


def test_default_prefix_range_ends_at_a_percentile_of_positive_training_lengths(base):
    train = base.split.train
    positive = base.log.lengths[train][base.log.labels[train] == 1]
    task = PrefixTask(length_percentile=50, length_cap=40)
    assert task.resolve_lengths(base.log, base.split) == list(range(1, int(np.percentile(positive, 50)) + 1))
    capped = PrefixTask(length_percentile=100, length_cap=3)
    assert capped.resolve_lengths(base.log, base.split) == [1, 2, 3]


def test_fractions_cut_at_a_share_of_each_sequences_duration(base):
    task = PrefixTask(fractions=[0.5], include_complete=True)
    rows = task.rows(base.log, base.split)
    log_ = base.log
    for row in range(0, len(rows), 17):
        s = rows.sequence[row]
        times = log_.time[log_.offsets[s] : log_.offsets[s + 1]]
        halfway = times[0] + 0.5 * (times[-1] - times[0])
        assert rows.cutoff[row] == max(1, int((times <= halfway).sum()))


def test_train_on_keeps_every_length_in_test_only(base):
    rows = PrefixTask(lengths=[1, 2, 3], train_on=[2]).rows(base.log, base.split)
    test = PARTS.index("test")
    assert set(rows.group[rows.part != test]) == {1}
    assert set(rows.group[rows.part == test]) == {0, 1, 2}


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"lengths": [0, 5]}, "task.lengths"),
        ({"lengths": [-2]}, "task.lengths"),
        ({"lengths": [2.5]}, "task.lengths"),
        ({"lengths": []}, "task.lengths"),
        ({"fractions": [0.0]}, "task.fractions"),
        ({"fractions": [1.5]}, "task.fractions"),
        ({"lengths": [3], "fractions": [0.5]}, "task.fractions"),
        ({"min_length": 0}, "task.min_length"),
        ({"max_length": 2, "min_length": 5}, "task.max_length"),
    ],
)
def test_bad_prefix_settings_are_errors_naming_the_key(settings, key):
    with pytest.raises(DataError, match=key.replace(".", r"\.")):
        PrefixTask(**settings)


def test_prefixes_longer_than_every_sequence_are_an_error(base):
    longest = int(base.log.lengths.max())
    with pytest.raises(DataError, match=rf"task\.lengths: prefix length\(s\) \[{longest}\] exceed every"):
        PrefixTask(lengths=[2, longest]).rows(base.log, base.split)
    assert len(PrefixTask(lengths=[longest], include_complete=True).rows(base.log, base.split)) >= 1
    with pytest.raises(DataError, match=r"task\.fractions: prefix 1 leaves no rows.*include_complete"):
        PrefixTask(fractions=[1.0]).rows(base.log, base.split)


def test_both_families_see_exactly_the_first_k_events(data_config, tables, base):
    """Rows of prefix length k against a log truncated by hand in pandas, validated like any file."""
    events, labels = tables
    k = 3
    data = task_dataset(base, PrefixTask(lengths=[k]))
    truncated = events.sort_values(["seq", "ts"], kind="stable").groupby("seq").head(k)
    long_enough = events.groupby("seq").size().pipe(lambda n: n[n > k].index)
    truncated = truncated[truncated["seq"].isin(long_enough)]
    spec = dataset_spec(data_config(truncated, labels))
    by_hand, _ = validate(build_source(spec).load(), spec)
    pipeline = base.pipeline
    expected = pipeline.feature_table(by_hand, pipeline.vocabulary.transform(by_hand))
    order = np.argsort(base.log.sequence_ids[data.rows.sequence], kind="stable")
    assert np.array_equal(base.log.sequence_ids[data.rows.sequence][order], by_hand.sequence_ids)
    pd.testing.assert_frame_equal(data.features.iloc[order].reset_index(drop=True), expected)
    # The neural side: the tokens of each row are the vocabulary ids of the truncated events.
    for part in PARTS:
        inputs = data.inputs(part)
        batch = SequenceDataset(inputs, max_len=64).__getitems__(list(range(len(inputs))))
        for row in range(0, len(inputs), 7):
            s = np.flatnonzero(by_hand.sequence_ids == inputs.sequence_ids[row])[0]
            expected_tokens = pipeline.vocabulary.transform(by_hand.select([s]))
            assert batch.lengths[row] == k
            assert batch.tokens[row, :k].tolist() == expected_tokens.tolist()


def test_evaluation_scores_each_group_on_its_own_rows(base):
    task = PrefixTask(lengths=[1, 4])
    rows = task.rows(base.log, base.split)
    test = rows.take(rows.in_part("test"))
    rng = np.random.default_rng(0)
    positive = np.clip(0.3 * test.label + rng.uniform(0, 0.7, len(test)), 0, 1)
    probs = np.stack([1 - positive, positive], axis=1)
    evaluation = task.evaluate(test, probs)
    assert evaluation.overall == score(test.label, probs)
    for index, name in enumerate(["1", "4"]):
        members = test.group == index
        group = evaluation.by_group[name]
        assert group["auroc"] == score(test.label[members], probs[members])["auroc"]
        assert group["n_rows"] == group["n_sequences"] == members.sum()
