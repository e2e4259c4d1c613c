"""Index sequences (order, truncation, numeric inputs with train statistics) and the batches built on them."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from behave.data.batches.loaders import LengthBucketBatchSampler, SequenceDataset, keep_batch
from behave.data.inputs import RowInputs
from behave.data.spec import SequenceSpec, TokenSpec
from behave.data.transforms.sequences import GAP_COLUMN, NumericScaler, SequenceStore
from behave.data.transforms.vocabulary import Vocabulary

N_TRAIN, N_TEST = 80, 40


@pytest.fixture
def tables(make_tables):
    """Shuffled events; the test sequences (the last 40 ids) scroll ten times further than the train ones."""
    events, labels = make_tables(N_TRAIN + N_TEST, seed=5)
    is_test = events["seq"] >= f"s{N_TRAIN:04d}"
    events.loc[is_test, "scroll"] *= 10
    return events, labels


def in_time_order(events: pd.DataFrame) -> pd.DataFrame:
    return events.sort_values(["seq", "ts"], kind="stable").reset_index(drop=True)


def expected_inputs(events: pd.DataFrame, stats_rows: pd.Series) -> dict[str, np.ndarray]:
    """Per-event inputs computed independently with pandas, standardised with the stats of `stats_rows`."""
    ordered = in_time_order(events)
    gap = np.log1p(ordered.groupby("seq")["ts"].diff().fillna(0.0).to_numpy())
    scroll = np.log1p(ordered["scroll"].to_numpy())
    train = stats_rows.to_numpy()
    out = {}
    for name, values in ((GAP_COLUMN, gap), ("scroll", scroll)):
        reference = values[train & ~np.isnan(values)]
        out[name] = np.nan_to_num((values - reference.mean()) / reference.std(), nan=0.0)
    out["scroll_missing"] = np.isnan(scroll).astype(float)
    return out


def test_events_are_in_time_order_within_each_sequence(load_log, tables):
    events, labels = tables
    log_ = load_log(events, labels)[0]
    within = np.ones(log_.n_events, bool)
    within[log_.offsets[:-1]] = False
    assert (np.diff(log_.time, prepend=0)[within] >= 0).all()
    vocab = Vocabulary(TokenSpec(fields=["event", "page"])).fit(log_)
    ordered = in_time_order(events)
    expected = (ordered["event"] + "|page=" + ordered["page"]).tolist()
    assert [vocab.tokens_[i] for i in vocab.transform(log_)] == expected


def test_numeric_inputs_use_train_statistics_only(load_log, tables):
    events, labels = tables
    log_ = load_log(events, labels)[0]
    train, test = log_.select(np.arange(N_TRAIN)), log_.select(np.arange(N_TRAIN, N_TRAIN + N_TEST))
    scaler = NumericScaler(SequenceSpec(numeric_transform={"scroll": "log1p"}), ["scroll"]).fit(train)
    assert scaler.columns_ == [GAP_COLUMN, "scroll", "scroll_missing"]
    fitted_state = {k: dict(v) for k, v in (("mean", scaler.mean_), ("std", scaler.std_))}

    is_train = in_time_order(events)["seq"] < f"s{N_TRAIN:04d}"
    expected = expected_inputs(events, is_train)
    test_inputs = scaler.transform(test)
    inputs = np.concatenate([scaler.transform(train), test_inputs])
    for j, column in enumerate(scaler.columns_):
        np.testing.assert_allclose(inputs[:, j], expected[column], rtol=1e-5, atol=1e-5)
    assert {"mean": scaler.mean_, "std": scaler.std_} == fitted_state  # transform never refits
    # Test scrolls are 10x larger (log1p: +2.3): with train stats they sit well above 0, not re-centred on it.
    assert test_inputs[test_inputs[:, 2] == 0, 1].mean() > 1.5


def test_first_event_gap_is_zero_and_missing_values_are_zero_with_an_indicator(load_log, tables):
    events, labels = tables
    log_ = load_log(events, labels)[0]
    scaler = NumericScaler(SequenceSpec(), ["scroll"]).fit(log_)
    inputs = scaler.transform(log_)
    first = log_.offsets[:-1]
    expected_first = (0.0 - scaler.mean_[GAP_COLUMN]) / scaler.std_[GAP_COLUMN]
    np.testing.assert_allclose(inputs[first, 0], expected_first, rtol=1e-6)
    assert expected_first < 0  # log gap 0 is below the mean gap
    missing = np.isnan(log_.numeric["scroll"])
    assert 0 < missing.sum() < len(missing)
    assert (inputs[missing, 1] == 0).all() and (inputs[missing, 2] == 1).all()
    assert (inputs[~missing, 2] == 0).all() and (inputs[~missing, 1] != 0).all()


def small_store() -> SequenceStore:
    """Lengths 3, 1, 5; token at flat position p is p + 2; numeric rows are (p + 1, -(p + 1))."""
    offsets = np.array([0, 3, 4, 9])
    flat = np.arange(9)
    return SequenceStore(
        offsets=offsets,
        tokens=(flat + 2).astype(np.int32),
        numeric=np.stack([flat + 1.0, -(flat + 1.0)], axis=1).astype(np.float32),
        fields=(flat[:, None] % 3 + 1).astype(np.int32),
    )


def row_inputs(store: SequenceStore, sequences, cutoffs=None, labels=None, static=None) -> RowInputs:
    sequences = np.asarray(sequences)
    cutoffs = store.lengths[sequences] if cutoffs is None else np.asarray(cutoffs)
    labels = np.zeros(len(sequences), np.int64) if labels is None else np.asarray(labels)
    static = np.zeros((len(sequences), 0), np.float32) if static is None else np.asarray(static, np.float32)
    return RowInputs(store, sequences, cutoffs, labels, static, pd.DataFrame(index=range(len(sequences))),
                     sequences.astype(str))  # fmt: skip


@pytest.mark.parametrize(
    ("keep", "kept"), [("last", [[1, 2], [3, -1], [7, 8]]), ("first", [[0, 1], [3, -1], [4, 5]])]
)
def test_truncation_keeps_last_or_first_events(keep, kept):
    store = small_store()
    positions, lengths = store.window(np.array([0, 1, 2]), store.lengths, max_len=2, keep=keep)
    assert positions.tolist() == kept
    assert lengths.tolist() == [2, 1, 2]


@pytest.mark.parametrize(("keep", "kept"), [("last", [[0, 1], [5, 6]]), ("first", [[0, 1], [4, 5]])])
def test_a_cutoff_hides_every_later_event(keep, kept):
    # Sequence 0 cut at 2 of its 3 events, sequence 2 at 3 of its 5: nothing past the cutoff is ever read.
    positions, lengths = small_store().window(np.array([0, 2]), np.array([2, 3]), max_len=2, keep=keep)
    assert positions.tolist() == kept
    assert lengths.tolist() == [2, 2]


def test_unknown_keep_is_a_data_error():
    with pytest.raises(ValueError, match="not a valid Keep"):
        SequenceSpec(keep="middle")


def test_dataset_builds_a_right_padded_event_batch():
    inputs = row_inputs(small_store(), [2, 0, 1], labels=[1, 0, 1], static=[[2.5], [0.5], [1.5]])
    dataset = SequenceDataset(inputs, max_len=4)
    batch = dataset.__getitems__([0, 2, 1])  # sequences 2 (5 events, keeps the last 4), 1, 0
    assert batch.tokens.shape == (3, 4) and batch.tokens.dtype == torch.int64
    assert batch.numeric.shape == (3, 4, 2) and batch.numeric.dtype == torch.float32
    assert batch.tokens.tolist() == [[7, 8, 9, 10], [5, 0, 0, 0], [2, 3, 4, 0]]
    assert batch.numeric[:, :, 0].tolist() == [[6, 7, 8, 9], [4, 0, 0, 0], [1, 2, 3, 0]]
    assert batch.fields[:, :, 0].tolist() == [[3, 1, 2, 3], [1, 0, 0, 0], [1, 2, 3, 0]]  # 0 at padding
    assert batch.lengths.tolist() == [4, 1, 3]
    assert batch.labels.tolist() == [1, 1, 0]
    assert batch.static.tolist() == [[2.5], [1.5], [0.5]]
    assert batch.index.tolist() == [0, 2, 1]
    assert batch.mask.sum(1).tolist() == [4, 1, 3]
    assert dataset.lengths.tolist() == [4, 3, 1]


def skewed_lengths(n: int = 3000, seed: int = 0) -> np.ndarray:
    return np.clip(np.random.default_rng(seed).lognormal(np.log(30), 1.0, n), 1, 512).astype(int)


def padding_share(batches: list[list[int]], lengths: np.ndarray) -> float:
    padded = sum(len(b) * lengths[b].max() for b in batches)
    return 1.0 - lengths.sum() / padded


def test_bucket_sampler_yields_every_index_once_with_little_padding():
    lengths = skewed_lengths()
    sampler = LengthBucketBatchSampler(lengths, batch_size=32, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(len(lengths)))
    shuffled = np.random.default_rng(0).permutation(len(lengths))
    random_batches = [shuffled[i : i + 32] for i in range(0, len(lengths), 32)]
    bucketed, random = padding_share(batches, lengths), padding_share(random_batches, lengths)
    assert random > 0.6
    assert bucketed < random / 3
    sorted_within = sum(np.all(np.diff(lengths[b]) >= 0) for b in batches)
    assert sorted_within == len(batches)


def test_bucket_sampler_is_seeded_and_reshuffles_each_pass():
    lengths = skewed_lengths(500)
    first, same = LengthBucketBatchSampler(lengths, 16, seed=3), LengthBucketBatchSampler(lengths, 16, seed=3)
    pass_one = list(first)
    assert pass_one == list(same)
    pass_two = list(first)
    assert pass_two != pass_one
    assert np.array_equal(np.sort(np.concatenate(pass_two)), np.arange(len(lengths)))
    assert list(LengthBucketBatchSampler(lengths, 16, seed=4)) != pass_one


def test_evaluation_batches_are_sorted_by_length():
    lengths = skewed_lengths(100)
    batches = list(LengthBucketBatchSampler(lengths, 16, shuffle=False))
    assert np.all(np.diff(lengths[np.concatenate(batches)]) >= 0)


def test_data_loader_yields_event_batches_covering_the_part():
    lengths = skewed_lengths(50)
    store = SequenceStore(
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        tokens=np.full(lengths.sum(), 2, np.int32),
        numeric=np.zeros((lengths.sum(), 1), np.float32),
        fields=np.zeros((lengths.sum(), 0), np.int32),
    )
    dataset = SequenceDataset(row_inputs(store, np.arange(10, 50), labels=np.arange(40) % 2), max_len=64)
    loader = DataLoader(
        dataset, batch_sampler=LengthBucketBatchSampler(dataset.lengths, 8), collate_fn=keep_batch
    )
    batches = list(loader)
    index = torch.cat([b.index for b in batches]).sort().values
    assert index.tolist() == list(range(40))
    assert all(b.tokens.shape[1] == int(b.lengths.max()) <= 64 for b in batches)
    assert all((b.tokens[b.mask] == 2).all() and (b.tokens[~b.mask] == 0).all() for b in batches)


def test_static_attributes_and_event_fields_are_standardised_by_one_rule():
    from behave.data.transforms.scaler import column_moments, mean_and_std, standardise
    from behave.data.transforms.static import StaticEncoder

    rng = np.random.default_rng(3)
    values = np.where(rng.random(500) < 0.1, np.nan, rng.normal(40.0, 12.0, 500))
    present = values[~np.isnan(values)]
    mean, std = mean_and_std([column_moments(values)])
    assert (mean, std) == (float(present.mean()), float(present.std()))  # numpy's, bit for bit
    # Three parts summed around the first part's mean give the whole column's statistics.
    first = column_moments(values[:100])
    parts = [first, column_moments(values[100:300], first.shift), column_moments(values[300:], first.shift)]
    assert np.allclose(mean_and_std(parts), (mean, std), rtol=1e-12)
    encoder = StaticEncoder().fit(pd.DataFrame({"age": values}))
    encoded = encoder.transform(pd.DataFrame({"age": values}))
    assert encoder.columns == ["age", "age_missing"]
    assert np.array_equal(encoded[:, 0], standardise(values, mean, std).astype(np.float32))
    assert np.array_equal(encoded[:, 1], np.isnan(values)) and (encoded[np.isnan(values), 0] == 0).all()
