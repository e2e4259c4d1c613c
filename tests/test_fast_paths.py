"""The pipeline's fast paths against simple references: numpy lexsort, pandas, per-element Python.

Sort: identity / radix / lexsort fallback in `_sort_events`. Tokens: dense table vs searchsorted lookup.
Bins: one comparison pass per edge vs searchsorted. Categoricals: hashing distinct values vs pd.Categorical.
Bigrams: dense bincount table vs np.unique, both against a Counter.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from behave.data.event_log import EventLog, RawTables
from behave.data.features import state as features_state
from behave.data.features.segments import Segments, count_into, segment_stats
from behave.data.ingestion.validate import _categorical, _sort_events, _stable_order, validate
from behave.data.spec import BucketSpec, DatasetSpec, EventSchema, SequenceSpec, TokenSpec
from behave.data.transforms import buckets, vocabulary
from behave.data.transforms.buckets import NumericBucketer
from behave.data.transforms.sequences import NumericScaler, _signed_log1p
from behave.data.transforms.vocabulary import UNK, Vocabulary

N_SEQUENCES = 70_000  # above 2**16: sequence codes use both 16-bit halves of the radix sort


# --- sorting events -----------------------------------------------------------------------------
def sequence_of_rows(rng: np.random.Generator, n_sequences: int = N_SEQUENCES) -> np.ndarray:
    """(N,) sequence number of each row, 1-3 rows per sequence, grouped by sequence."""
    return np.repeat(np.arange(n_sequences), rng.integers(1, 4, n_sequences))


def rank_within_sequence(seq: np.ndarray) -> np.ndarray:
    """(N,) 0, 1, 2... counting each sequence's rows in row order (with pandas, not the code under test)."""
    return pd.Series(seq).groupby(seq).cumcount().to_numpy()


def sorted_rows(rng):
    """(a) Rows already sorted by sequence then time; half the steps are 0 so times tie within a sequence."""
    seq = sequence_of_rows(rng)
    time = rng.uniform(0, 1e6, seq.max() + 1)[seq] + rank_within_sequence(seq) // 2
    return seq, time


def shuffled_rows(rng):
    """(b) Rows shuffled, but each sequence's rows are in time order in the file (with ties)."""
    seq = rng.permutation(sequence_of_rows(rng))
    return seq, rng.uniform(0, 1e6, seq.max() + 1)[seq] + rank_within_sequence(seq) // 2


def log_export_rows(rng):
    """(c) A log export: rows ordered by time with users interleaved; whole seconds, so many times tie."""
    seq = rng.permutation(sequence_of_rows(rng))
    time = rng.integers(0, 5000, len(seq)).astype(np.float64)
    order = np.argsort(time, kind="stable")
    return seq[order], time[order]


def out_of_order_rows(rng):
    """(d) Rows shuffled with random times: time goes backwards within some sequences."""
    seq = rng.permutation(sequence_of_rows(rng))
    return seq, rng.integers(0, 1000, len(seq)).astype(np.float64)


def grouped_rows_time_backwards(rng):
    """(e) Rows grouped by sequence in id order, but time goes backwards within some sequences."""
    seq = sequence_of_rows(rng)
    return seq, rng.integers(0, 1000, len(seq)).astype(np.float64)


def raw_ids(seq: np.ndarray, kind: str) -> pd.Series:
    """Raw ids that sort like the sequence numbers: sparse ints, or zero-padded strings."""
    return pd.Series(seq * 7 + 3) if kind == "int" else pd.Series([f"u{i:06d}" for i in seq])


def reference_sort(ids: pd.Series, time: np.ndarray):
    uniques, codes = np.unique(ids.to_numpy(), return_inverse=True)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(codes))])
    return np.lexsort((time, codes)), uniques, offsets, codes  # lexsort is stable: ties keep file order


@pytest.mark.parametrize("kind", ["int", "str"])
@pytest.mark.parametrize(
    ("make_rows", "path"),
    [
        (sorted_rows, "identity"),
        (shuffled_rows, "radix"),
        (log_export_rows, "radix"),
        (out_of_order_rows, "lexsort"),
        (grouped_rows_time_backwards, "lexsort"),
    ],
)
def test_sort_events_equals_lexsort_by_sequence_then_time(make_rows, path, kind):
    seq, time = make_rows(np.random.default_rng(0))
    ids = raw_ids(seq, kind)
    expected_order, expected_ids, expected_offsets, codes = reference_sort(ids, time)
    assert len(expected_ids) > 2**16
    by_sequence = np.argsort(codes, kind="stable")
    # The data really takes the path named: sorted input, or a stable sort by sequence alone being enough.
    assert (path == "identity") == np.array_equal(expected_order, np.arange(len(seq)))
    assert (path == "lexsort") != np.array_equal(by_sequence, expected_order)
    # Equal times inside a sequence exist, so the stable tie rule is exercised.
    assert (np.diff(time[expected_order])[np.diff(codes[expected_order]) == 0] == 0).any()

    order, sequence_ids, offsets = _sort_events(ids, time)
    # Rows already in order give no order at all: nothing downstream gathers them.
    assert (order is None) == (path == "identity")
    stable = _stable_order(codes)
    np.testing.assert_array_equal(np.arange(len(seq)) if stable is None else stable, by_sequence)
    np.testing.assert_array_equal(np.arange(len(seq)) if order is None else order, expected_order)
    assert sequence_ids.tolist() == expected_ids.tolist()
    np.testing.assert_array_equal(offsets, expected_offsets)


def test_validate_log_export_matches_a_pandas_stable_sort():
    """End to end: times, numeric and categorical fields (parsed on two threads) follow the pandas order."""
    rng = np.random.default_rng(3)
    seq, time = log_export_rows(rng)
    n = len(seq)
    page = rng.choice(np.array(["home", "cart", " ", "search"], dtype=object), n)
    page[rng.random(n) < 0.05] = None
    level = rng.integers(1, 12, n).astype(np.float64)
    level[rng.random(n) < 0.05] = np.nan
    events = pd.DataFrame(
        {"seq": raw_ids(seq, "str"), "ts": time, "page": page, "level": level, "x": rng.normal(size=n)}
    )
    schema = EventSchema(sequence_id="seq", timestamp="ts", categorical=["page", "level"], numeric=["x"])
    log_, _ = validate(
        RawTables(events, "events.csv"), DatasetSpec(name="t", source=None, schema=schema), False
    )

    expected = events.sort_values(["seq", "ts"], kind="stable")
    sizes = expected.groupby("seq", sort=True).size()
    assert log_.sequence_ids.tolist() == sizes.index.tolist()
    np.testing.assert_array_equal(log_.offsets, np.concatenate([[0], np.cumsum(sizes.to_numpy())]))
    np.testing.assert_array_equal(log_.time, expected["ts"].to_numpy())
    np.testing.assert_array_equal(log_.numeric["x"], expected["x"].to_numpy())
    for column in ("page", "level"):
        cleaned = [clean(v, whole_floats=column == "level") for v in expected[column]]
        assert decoded(log_.categorical[column]) == [None if v is None else str(v) for v in cleaned]


def test_validate_of_rows_already_in_order_copies_the_frames_columns():
    """Rows already by (sequence, time) are not gathered, yet the log still owns every array it holds."""
    rng = np.random.default_rng(4)
    seq, time = sorted_rows(rng)
    events = pd.DataFrame({"seq": seq, "ts": time, "x": rng.normal(size=len(seq))})
    schema = EventSchema(sequence_id="seq", timestamp="ts", numeric=["x"])
    log_, _ = validate(
        RawTables(events, "events.csv"), DatasetSpec(name="t", source=None, schema=schema), False
    )
    np.testing.assert_array_equal(log_.numeric["x"], events["x"].to_numpy())
    np.testing.assert_array_equal(log_.time, events["ts"].to_numpy())
    for column in (log_.numeric["x"], log_.time):
        assert not np.shares_memory(column, events["x"].to_numpy())
        assert not np.shares_memory(column, events["ts"].to_numpy())


# --- categorical fields -------------------------------------------------------------------------
def clean(value, whole_floats: bool):
    """A cell as validation should read it: blank is missing, 3.0 in an all-whole float column is 3."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return int(value) if whole_floats else value


def decoded(cat: pd.Categorical) -> list:
    """Each event's category name, None where missing."""
    names = np.asarray(cat.categories, dtype=object)
    return np.where(cat.codes < 0, None, names[cat.codes]).tolist()


def reference_categorical(values: pd.Series, order: np.ndarray) -> tuple[list[str], np.ndarray]:
    """(string categories, codes in `order`) from a plain pd.Categorical over every cleaned cell."""
    present = values.dropna()
    whole_floats = pd.api.types.is_float_dtype(values) and all(float(v).is_integer() for v in present)
    cleaned = pd.Series([clean(v, whole_floats) for v in values], dtype=object)
    cat = pd.Categorical(cleaned)
    return [str(c) for c in cat.categories], cat.codes[order]


RANDOM = np.random.default_rng(0)
CATEGORICAL_COLUMNS = {
    "strings with blanks": pd.Series(["b", " ", "a", "", None, "a", "\t", "b ", "b"]),
    "str dtype": pd.Series(["b", "  ", "a", None, "a", "c"], dtype="str"),
    "nullable string": pd.Series(["x", pd.NA, " x ", "x", "  "], dtype="string"),
    "ints read as floats": pd.Series([3.0, 7.0, np.nan, 3.0, 10.0, 7.0]),
    "fractional floats": pd.Series([0.5, 2.0, np.nan, 2.0, -1.25]),
    "ints": pd.Series([10, 9, 10, 100, 9]),
    "mixed types": pd.Series(["a", 3, None, "b", 2.5, "  ", "a", 3, np.nan], dtype=object),
    "many values": pd.Series(RANDOM.choice([f"v{i}" for i in range(500)] + [" ", ""], 20_000)),
    "many floats": pd.Series(np.where(RANDOM.random(20_000) < 0.1, np.nan, RANDOM.integers(0, 300, 20_000))),
}


@pytest.mark.parametrize("name", list(CATEGORICAL_COLUMNS))
def test_categorical_equals_a_plain_categorical_of_the_cleaned_cells(name):
    values = CATEGORICAL_COLUMNS[name]
    order = np.random.default_rng(1).permutation(len(values))
    categories, codes = reference_categorical(values, order)
    result = _categorical(values, order)
    assert result.categories.tolist() == categories
    np.testing.assert_array_equal(result.codes, codes)


@pytest.mark.parametrize("order", [np.arange(6), None])
def test_categorical_names_whole_floats_like_ints(order):
    result = _categorical(CATEGORICAL_COLUMNS["ints read as floats"], order)
    assert decoded(result) == ["3", "7", None, "3", "10", "7"]


# --- numeric bins -------------------------------------------------------------------------------
def reference_codes(edges: list[float], values: np.ndarray) -> list[int]:
    """Per value: 0 if missing, else 2 + the number of inner edges at or below it."""
    return [0 if math.isnan(v) else 2 + sum(v >= e for e in edges[1:-1]) for v in values]


def probe_values(edges: list[float]) -> np.ndarray:
    """Every edge, its neighbouring floats, values beyond both ends, NaN and infinities."""
    edges_ = np.asarray(edges)
    near = np.concatenate([edges_, np.nextafter(edges_, -np.inf), np.nextafter(edges_, np.inf)])
    ends = [edges_[0] - 100.0, edges_[-1] + 100.0, np.nan, np.inf, -np.inf, -0.0]
    return np.random.default_rng(2).permutation(np.concatenate([near, ends, np.repeat(np.nan, 3)]))


@pytest.mark.parametrize("n_inner", [0, 1, 3, buckets.FEW_EDGES, buckets.FEW_EDGES + 1, 30])
def test_bucket_codes_count_the_inner_edges_at_or_below_each_value(n_inner):
    edges = np.round(np.cumsum(np.random.default_rng(n_inner).uniform(0.5, 50, n_inner + 2)) - 20, 3).tolist()
    bucketer = NumericBucketer(BucketSpec(n_bins=n_inner + 1), "x", edges)
    values = probe_values(edges)
    codes = bucketer.codes(values)
    assert codes.dtype == np.int64
    assert codes.tolist() == reference_codes(edges, values)
    searchsorted = np.searchsorted(edges[1:-1], values, side="right") + 2
    np.testing.assert_array_equal(codes[~np.isnan(values)], searchsorted[~np.isnan(values)])
    assert set(codes[~np.isnan(values)]) == set(range(2, bucketer.n_bins + 2))  # every bin reached, no other


def test_bucket_codes_are_the_same_on_both_paths(monkeypatch):
    edges = [0.0, 1.0, 2.5, 2.5 + 1e-6, 10.0, 100.0]
    values = np.concatenate([probe_values(edges), np.random.default_rng(4).uniform(-5, 120, 1000)])
    passes = NumericBucketer(BucketSpec(), "x", edges).codes(values)
    monkeypatch.setattr(buckets, "FEW_EDGES", 0)
    np.testing.assert_array_equal(NumericBucketer(BucketSpec(), "x", edges).codes(values), passes)


# --- token lookup -------------------------------------------------------------------------------
def event_log(categorical: dict[str, np.ndarray], numeric: dict[str, np.ndarray]) -> EventLog:
    """All events in one sequence: the vocabulary only reads the event columns."""
    n = len(next(iter({**categorical, **numeric}.values())))
    return EventLog(
        sequence_ids=np.array(["s"]),
        offsets=np.array([0, n]),
        time=np.zeros(n),
        categorical={k: pd.Categorical(v) for k, v in categorical.items()},
        numeric=numeric,
        labels=np.array([0]),
        class_names=["0", "1"],
    )


def random_log(seed: int, n: int, extra_values: int = 0) -> EventLog:
    """`extra_values` > 0 adds page values the training log never has (test data)."""
    rng = np.random.default_rng(seed)
    event = rng.choice(
        np.array(["view", "click", "cart", "buy", "share"], dtype=object), n, p=[0.5, 0.3, 0.1, 0.07, 0.03]
    )
    event[rng.random(n) < 0.02] = None
    page = rng.choice(np.array([f"p{i}" for i in range(40 + extra_values)], dtype=object), n)
    page[rng.random(n) < 0.1] = None
    scroll = rng.exponential(800.0, n)
    scroll[rng.random(n) < 0.1] = np.nan
    return event_log({"event": event, "page": page}, {"scroll": scroll})


def cells(log_: EventLog, name: str) -> list:
    """The field's value on each event, None where missing."""
    if name in log_.numeric:
        return [None if math.isnan(v) else v for v in log_.numeric[name].tolist()]
    return decoded(log_.categorical[name])


def reference_tokens(spec: TokenSpec, train: EventLog, log_: EventLog, edges: dict) -> list[str | None]:
    """Token string of each event by per-event Python; None when a field holds a value unseen in training."""
    columns = {name: cells(log_, name) for name in spec.fields}
    seen = {name: set(cells(train, name)) for name in spec.fields if name in train.categorical}
    bin_labels = {name: NumericBucketer(BucketSpec(), name, e).labels() for name, e in edges.items()}
    tokens = []
    for i in range(log_.n_events):
        pieces, unseen = [], False
        for position, name in enumerate(spec.fields):
            value = columns[name][i]
            if value is None:
                continue
            if name in edges:
                value = bin_labels[name][sum(value >= e for e in edges[name][1:-1])]
            elif value not in seen[name]:
                unseen = True
            pieces.append(value if position == 0 else f"{spec.aliases.get(name, name)}={value}")
        tokens.append(None if unseen else "|".join(pieces) or "<empty>")
    return tokens


def reference_vocabulary(spec: TokenSpec, train_tokens: list[str | None]) -> list[str]:
    counts = Counter(train_tokens)
    kept = sorted((t for t in counts if counts[t] >= spec.min_freq), key=lambda t: (-counts[t], t))
    return ["<pad>", "<unk>"] + kept[: None if spec.max_size is None else spec.max_size - 2]


def reference_ids(tokens: list[str], log_tokens: list[str | None]) -> np.ndarray:
    index = {t: i for i, t in enumerate(tokens)}
    return np.array([index.get(t, UNK) for t in log_tokens])


SPECS = {
    "two fields": TokenSpec(fields=["event", "page"]),
    "with bins, rare to unk": TokenSpec(
        fields=["event", "scroll", "page"],
        aliases={"scroll": "px"},
        buckets={"scroll": BucketSpec("log", 4)},
        min_freq=3,
        max_size=150,
    ),
}


@pytest.mark.parametrize("lookup", ["dense", "searchsorted"])
@pytest.mark.parametrize("spec_name", list(SPECS))
def test_token_ids_match_per_event_python(spec_name, lookup, monkeypatch):
    if lookup == "searchsorted":
        monkeypatch.setattr(vocabulary, "DENSE_LOOKUP_MAX", 0)
    spec = SPECS[spec_name]
    train, test = random_log(0, 6000), random_log(1, 3000, extra_values=5)
    vocab = Vocabulary(spec)
    train_ids = vocab.fit_transform(train)
    edges = {name: b.edges_ for name, b in vocab.bucketers_.items()}
    train_tokens = reference_tokens(spec, train, train, edges)
    tokens = reference_vocabulary(spec, train_tokens)
    assert vocab.tokens_ == tokens
    np.testing.assert_array_equal(train_ids, reference_ids(tokens, train_tokens))
    test_ids = vocab.transform(test)
    np.testing.assert_array_equal(test_ids, reference_ids(tokens, reference_tokens(spec, train, test, edges)))
    assert (test_ids == UNK).any() and (test_ids > UNK).any()


@pytest.mark.parametrize("spec_name", list(SPECS))
def test_fit_transform_equals_fit_then_transform_on_both_lookups(spec_name, monkeypatch):
    train, test = random_log(0, 6000), random_log(1, 3000, extra_values=5)
    dense = Vocabulary(SPECS[spec_name])
    dense_train_ids = dense.fit_transform(train)
    refit = Vocabulary(SPECS[spec_name]).fit(train)
    np.testing.assert_array_equal(dense_train_ids, refit.transform(train))
    assert dense._key_space() <= vocabulary.DENSE_LOOKUP_MAX

    monkeypatch.setattr(vocabulary, "DENSE_LOOKUP_MAX", 0)
    sparse = Vocabulary(SPECS[spec_name])
    np.testing.assert_array_equal(sparse.fit_transform(train), dense_train_ids)
    assert (sparse.tokens_, sparse.frequencies_) == (dense.tokens_, dense.frequencies_)
    np.testing.assert_array_equal(sparse.keys_, dense.keys_)
    np.testing.assert_array_equal(
        sparse.transform(test), refit.transform(test)
    )  # dense table vs searchsorted


def test_key_space_above_the_dense_limit_uses_searchsorted_with_the_same_ids():
    rng = np.random.default_rng(5)
    names = ["a", "b", "c"]
    columns = {
        name: rng.choice(np.array([f"{name}{i}" for i in range(210)], dtype=object), 4000) for name in names
    }
    spec = TokenSpec(fields=names)
    train, test = (
        event_log({k: v[:3000] for k, v in columns.items()}, {}),
        event_log({k: v[3000:] for k, v in columns.items()}, {}),
    )
    vocab = Vocabulary(spec)
    train_ids = vocab.fit_transform(train)
    assert vocab._key_space() > vocabulary.DENSE_LOOKUP_MAX
    train_tokens = reference_tokens(spec, train, train, {})
    tokens = reference_vocabulary(spec, train_tokens)
    assert vocab.tokens_ == tokens
    np.testing.assert_array_equal(train_ids, reference_ids(tokens, train_tokens))
    np.testing.assert_array_equal(
        vocab.transform(test), reference_ids(tokens, reference_tokens(spec, train, test, {}))
    )


# --- sequence inputs ----------------------------------------------------------------------------
def test_signed_log1p_matches_sign_times_log1p():
    values = np.array([-1e9, -3.5, -1.0, -0.0, 0.0, 0.25, 1.0, 1e12, np.inf, -np.inf, np.nan])
    np.testing.assert_array_equal(_signed_log1p(values), np.sign(values) * np.log1p(np.abs(values)))


@pytest.mark.parametrize("transform", ["none", "log1p"])
def test_scaler_leaves_the_log_untouched_and_zeroes_non_finite_inputs(transform):
    rng = np.random.default_rng(6)
    scroll = rng.normal(100.0, 30.0, 500)
    scroll[::7] = np.nan
    train = event_log({}, {"scroll": scroll})
    scaler = NumericScaler(SequenceSpec(numeric_transform={"scroll": transform}), ["scroll"]).fit(train)
    test_values = np.concatenate([scroll[:50], [np.inf, -np.inf, np.nan]])
    test = event_log({}, {"scroll": test_values.copy()})
    inputs = scaler.transform(test)
    np.testing.assert_array_equal(
        test.numeric["scroll"], test_values
    )  # the log's column was not scaled in place
    raw = _signed_log1p(test_values) if transform == "log1p" else test_values
    expected = (raw - scaler.mean_["scroll"]) / scaler.std_["scroll"]
    expected = np.nan_to_num(expected, nan=0.0, posinf=0.0, neginf=0.0)
    np.testing.assert_allclose(inputs[:, scaler.columns_.index("scroll")], expected, rtol=1e-6)


# --- top bigrams --------------------------------------------------------------------------------
@pytest.mark.parametrize("dense", [True, False])
def test_top_bigrams_match_a_counter_of_within_sequence_pairs(dense, monkeypatch):
    monkeypatch.setattr(features_state, "DENSE_PAIR_SPACE", 1 << 22 if dense else 0)
    rng = np.random.default_rng(5)
    n_tokens = 12
    offsets = np.concatenate([[0], np.cumsum(rng.integers(1, 9, 3000))])
    token_ids = rng.integers(1, n_tokens, offsets[-1])
    pairs = Counter(
        (int(a), int(b))
        for start, stop in zip(offsets[:-1], offsets[1:])
        for a, b in zip(token_ids[start : stop - 1], token_ids[start + 1 : stop])
    )
    expected = sorted(pairs, key=lambda pair: (-pairs[pair], pair))[:15]
    found = features_state._top_bigrams(
        features_state.TokenFrequencies.of(token_ids, n_tokens, Segments.from_offsets(offsets)), n_tokens, 15
    )
    assert [tuple(pair) for pair in found] == expected


def test_count_into_adds_per_sequence_counts_into_a_block_of_the_table():
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 9, size=40)
    segments = Segments.from_offsets(np.concatenate([[0], np.cumsum(lengths)]))
    codes = rng.integers(0, 5, size=int(lengths.sum())).astype(np.int32)
    table = np.zeros((40, 8), dtype=np.float32, order="F")
    count_into(table[:, 2:7], codes, segments.narrow_sequence)
    expected = np.zeros((40, 5))
    for sequence, code in zip(segments.sequence, codes):
        expected[sequence, code] += 1
    np.testing.assert_array_equal(table[:, 2:7], expected)
    assert not table[:, [0, 1, 7]].any()  # columns outside the block stay untouched
    with pytest.raises(ValueError, match="column-major block"):
        count_into(np.zeros((40, 5), dtype=np.float32)[:, 1:3], codes, segments.sequence)


@pytest.mark.parametrize("missing", [[], [0, 5, 6]])
def test_segment_stats_match_per_sequence_numpy(missing):
    rng = np.random.default_rng(4)
    lengths = rng.integers(1, 7, size=30)
    segments = Segments.from_offsets(np.concatenate([[0], np.cumsum(lengths)]))
    values = rng.normal(5.0, 2.0, size=int(lengths.sum()))
    values[missing] = np.nan
    stats = segment_stats(values, np.array(missing, dtype=np.int64), segments)
    for s, (start, stop) in enumerate(zip(segments.starts, segments.starts + lengths)):
        present = values[start:stop][~np.isnan(values[start:stop])]
        assert stats.count[s] == len(present)
        if len(present) == 0:
            assert stats.total[s] == stats.min[s] == stats.max[s] == stats.std[s] == 0.0
            continue
        assert stats.total[s] == pytest.approx(present.sum())
        assert stats.min[s] == present.min() and stats.max[s] == present.max()
        assert stats.std[s] == pytest.approx(present.std(), abs=1e-9)
