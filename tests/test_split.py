"""The one split: seeded, stratified, grouped, or by time; every sequence in exactly one part."""

import numpy as np
import pandas as pd
import pytest
from hydra.errors import ConfigCompositionException

from behave.data.errors import DataError
from behave.data.spec import SplitSpec
from behave.data.split import PARTS, split_sequences, strict_time_cut
from tests.compose import compose_train

N = 400


@pytest.fixture
def log_(load_log, make_tables):
    return load_log(*make_tables(N, seed=3))[0]


@pytest.fixture
def grouped_log(load_log, make_tables):
    return load_log(*make_tables(N, seed=4), schema={"group": "user"})[0]


def assert_partition(split, n: int) -> None:
    together = np.concatenate([split.part(p) for p in PARTS])
    assert np.array_equal(np.sort(together), np.arange(n)), "every sequence in exactly one part"


def test_same_seed_same_split_other_seed_other_split(log_):
    first, again = split_sequences(log_, SplitSpec(seed=7)), split_sequences(log_, SplitSpec(seed=7))
    other = split_sequences(log_, SplitSpec(seed=8))
    for part in PARTS:
        assert np.array_equal(first.part(part), again.part(part))
    assert not np.array_equal(first.test, other.test)
    assert_partition(first, N)
    assert_partition(other, N)


def test_fractions_are_respected(log_):
    split = split_sequences(log_, SplitSpec(train=0.6, val=0.25, test=0.15))
    sizes = split.sizes()
    assert abs(sizes["train"] - 0.6 * N) <= 2
    assert abs(sizes["val"] - 0.25 * N) <= 2
    assert abs(sizes["test"] - 0.15 * N) <= 2


def test_stratified_parts_keep_the_label_balance(log_):
    overall = log_.labels.mean()
    assert 0.2 < overall < 0.4
    for seed in range(3):
        split = split_sequences(log_, SplitSpec(seed=seed), strata=log_.labels)
        for part in PARTS:
            # One sequence more or less of a class is all stratification allows (60 sequences per part).
            assert abs(log_.labels[split.part(part)].mean() - overall) <= 1.5 / len(split.part(part))


def test_groups_never_span_two_parts(grouped_log):
    split = split_sequences(grouped_log, SplitSpec(seed=1), strata=grouped_log.labels)
    assert_partition(split, N)
    part_of_group = pd.DataFrame({"group": grouped_log.groups, "part": "?"})
    for part in PARTS:
        part_of_group.loc[split.part(part), "part"] = part
    assert part_of_group.groupby("group")["part"].nunique().max() == 1
    assert abs(split.sizes()["train"] - 0.7 * N) <= 6  # whole groups of 3 move together


def test_time_split_orders_parts_by_start_time(log_):
    split = split_sequences(log_, SplitSpec(method="time"))
    start = log_.start_time
    assert_partition(split, N)
    assert start[split.train].max() <= start[split.val].min()
    assert start[split.val].max() <= start[split.test].min()
    assert abs(split.sizes()["test"] - 0.15 * N) <= 1


def test_time_split_with_groups_orders_groups_by_first_start(grouped_log):
    split = split_sequences(grouped_log, SplitSpec(method="time"))
    assert_partition(split, N)
    first_start = pd.Series(grouped_log.start_time).groupby(grouped_log.groups).min()
    groups = {part: np.unique(grouped_log.groups[split.part(part)]) for part in PARTS}
    assert not set(groups["train"]) & set(groups["val"]) and not set(groups["val"]) & set(groups["test"])
    assert first_start[groups["train"]].max() <= first_start[groups["val"]].min()
    assert first_start[groups["val"]].max() <= first_start[groups["test"]].min()


@pytest.mark.parametrize("fractions", [(0.7, 0.2, 0.2), (0.8, 0.2, 0.0), (1.2, -0.1, -0.1), (0.5, 0.3, 0.1)])
def test_bad_fractions_are_a_data_error(log_, fractions):
    train, val, test = fractions
    with pytest.raises(DataError, match="fractions must be positive and sum to 1"):
        split_sequences(log_, SplitSpec(train=train, val=val, test=test))


def test_unknown_method_fails_when_the_config_is_composed(tmp_path):
    with pytest.raises(ConfigCompositionException) as error:
        compose_train(["data.split.method=random"], tmp_path / "run", tmp_path / "cache")
    message = f"{error.value} {error.value.__cause__}"
    assert "random" in message and "split.method" in message
    assert "stratified, time, time_strict, kfold, rolling" in message


def test_strict_time_split_drops_training_events_after_the_test_period_starts(log_):
    split = split_sequences(log_, SplitSpec(method="time_strict"))
    test_start = log_.start_time[split.test].min()
    cut, dropped = strict_time_cut(log_, split)
    assert cut.n_sequences == log_.n_sequences and np.array_equal(cut.sequence_ids, log_.sequence_ids)
    earlier = np.concatenate([split.train, split.val])
    late = log_.time[log_.event_positions(earlier)] > test_start
    assert dropped == late.sum() > 0
    assert (cut.time[cut.event_positions(earlier)] <= test_start).all()
    # Test sequences keep every event; every training sequence keeps at least its first.
    assert np.array_equal(cut.lengths[split.test], log_.lengths[split.test])
    assert (cut.lengths >= 1).all()


def test_too_few_sequences_for_a_part_is_a_data_error(log_):
    with pytest.raises(DataError):
        split_sequences(log_.select(np.arange(2)), SplitSpec())
