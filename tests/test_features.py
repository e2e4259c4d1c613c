"""Tabular features: values against hand-computed numbers, train-only fitting, state round trip, no NaN."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from behave.data.event_log import EventLog
from behave.data.features.builder import FeatureBuilder
from behave.data.spec import FeatureSpec

T0 = 1_700_000_000.0  # a realistic unix time, so float precision of time features is exercised
TOKENS = ["<pad>", "<unk>", "a", "b", "c", "d"]
SPEC = FeatureSpec(max_token_features=2, max_values_per_field=2, last_k=2, last_window_s=40.0, top_bigrams=2)
# Three sequences: 4 events, 1 event, 3 events. None = missing.
SEQUENCES = [
    {
        "time": [0, 10, 30, 70],
        "event_type": ["view", "view", "cart", "buy"],
        "page": ["home", "product", "product", None],
        "px": [100.0, None, 300.0, 500.0],
        "token": [2, 3, 4, 5],
    },
    {"time": [1000], "event_type": ["view"], "page": ["home"], "px": [None], "token": [4]},
    {
        "time": [2000, 2005, 2100],
        "event_type": ["view", "cart", "cart"],
        "page": ["product", "product", "home"],
        "px": [50.0, 50.0, 200.0],
        "token": [4, 4, 4],
    },
]
STATIC = pd.DataFrame({"age": [30.0, np.nan, 50.0], "country": pd.Categorical(["de", "fr", "de"])})


def make_log(sequences: list[dict], static: pd.DataFrame | None = None) -> tuple[EventLog, np.ndarray]:
    """An EventLog built by hand from per-sequence event lists, and its token ids."""

    def column(name: str) -> list:
        return [value for sequence in sequences for value in sequence[name]]

    lengths = [len(sequence["time"]) for sequence in sequences]
    no_columns = pd.DataFrame(index=pd.RangeIndex(len(sequences)))  # S rows, so EventLog.select works
    log = EventLog(
        sequence_ids=np.array([f"s{i}" for i in range(len(sequences))]),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        time=T0 + np.array(column("time"), dtype=np.float64),
        categorical={name: pd.Categorical(column(name)) for name in ("event_type", "page")},
        numeric={"px": np.array([np.nan if v is None else v for v in column("px")], dtype=np.float64)},
        labels=np.arange(len(sequences)) % 2,
        class_names=["negative", "positive"],
        static=no_columns if static is None else static,
        extras=no_columns,
    )
    return log, np.array(column("token"), dtype=np.int64)


@pytest.fixture(scope="module")
def fitted() -> tuple[FeatureBuilder, pd.DataFrame]:
    log, token_ids = make_log(SEQUENCES, STATIC)
    builder = FeatureBuilder(SPEC).fit(log, token_ids, TOKENS)
    return builder, builder.transform(log, token_ids)


def column(frame: pd.DataFrame, name: str) -> list[float]:
    return frame[name].tolist()


def test_output_is_float32_finite_with_positional_index(fitted):
    builder, frame = fitted
    assert frame.shape == (3, len(builder.feature_names))
    assert list(frame.columns) == builder.feature_names
    assert (frame.dtypes == np.float32).all()
    assert np.isfinite(frame.to_numpy()).all()
    assert list(frame.index) == [0, 1, 2]


def test_length_duration_and_gap_statistics(fitted):
    _, frame = fitted
    assert column(frame, "n_events") == [4, 1, 3]
    assert column(frame, "duration_s") == [70, 0, 100]
    # A one-event sequence has no gaps: all gap statistics are 0, never NaN.
    np.testing.assert_allclose(column(frame, "gap_s_mean"), [70 / 3, 0, 50], rtol=1e-6)
    np.testing.assert_allclose(
        column(frame, "gap_s_std"), [np.std([10, 20, 40]), 0, np.std([5, 95])], rtol=1e-5
    )
    assert column(frame, "gap_s_min") == [10, 0, 5]
    assert column(frame, "gap_s_max") == [40, 0, 95]


def test_start_hour_and_weekday_are_utc(fitted):
    _, frame = fitted
    start = datetime.fromtimestamp(T0 + 1000, tz=timezone.utc)
    assert frame["start_hour_utc"][1] == pytest.approx(start.hour + start.minute / 60 + start.second / 3600)
    assert frame["start_weekday_utc"][1] == start.weekday()


def test_token_columns_counts_shares_and_distinct(fitted):
    builder, frame = fitted
    # c is the most frequent token (5x); a, b, d tie at 1x and the lowest id (a) wins the second column.
    token_counts = [name for name in builder.feature_names if name.startswith("token_count[")]
    assert token_counts == ["token_count[c]", "token_count[a]", "token_count[(other)]"]
    assert column(frame, "token_count[c]") == [1, 1, 3]
    assert column(frame, "token_count[a]") == [1, 0, 0]
    assert column(frame, "token_count[(other)]") == [2, 0, 0]
    assert column(frame, "token_share[(other)]") == [0.5, 0, 0]
    assert column(frame, "token_share[c]") == [0.25, 1, 1]
    assert column(frame, "distinct_tokens") == [4, 1, 1]


def test_categorical_counts_shares_distinct_and_missing_column(fitted):
    builder, frame = fitted
    # event_type had no missing values in train, so it gets no missing column; page had one.
    assert "event_type_count[(missing)]" not in builder.feature_names
    assert column(frame, "event_type_count[view]") == [2, 1, 1]
    assert column(frame, "event_type_count[cart]") == [1, 0, 2]
    assert column(frame, "event_type_count[(other)]") == [1, 0, 0]
    np.testing.assert_allclose(column(frame, "event_type_share[cart]"), [0.25, 0, 2 / 3], rtol=1e-6)
    assert column(frame, "page_count[product]") == [2, 0, 2]
    assert column(frame, "page_count[(missing)]") == [1, 0, 0]
    # Distinct present values; a missing value is not a value.
    assert column(frame, "distinct.event_type") == [3, 1, 2]
    assert column(frame, "distinct.page") == [2, 1, 2]


def test_first_and_last_event_one_hots(fitted):
    _, frame = fitted
    assert column(frame, "first.event_type[view]") == [1, 1, 1]
    assert column(frame, "last.event_type[(other)]") == [1, 0, 0]
    assert column(frame, "last.event_type[cart]") == [0, 0, 1]
    assert column(frame, "first.page[home]") == [1, 1, 0]
    assert column(frame, "last.page[(missing)]") == [1, 0, 0]


def test_numeric_aggregates_skip_missing_values(fitted):
    _, frame = fitted
    assert column(frame, "px_count") == [3, 0, 3]
    assert column(frame, "px_sum") == [900, 0, 300]
    assert column(frame, "px_mean") == [300, 0, 100]
    np.testing.assert_allclose(
        column(frame, "px_std"), [np.std([100, 300, 500]), 0, np.std([50, 50, 200])], rtol=1e-5
    )
    assert column(frame, "px_min") == [100, 0, 50]
    assert column(frame, "px_max") == [500, 0, 200]
    assert column(frame, "first.px") == [100, 0, 50]
    assert column(frame, "first.px_missing") == [0, 1, 0]
    assert column(frame, "last.px") == [500, 0, 200]


def test_std_stays_exact_far_from_zero():
    # Values near 1e9 (unix-time-like): a naive sum-of-squares variance would be pure rounding noise here.
    base = {"event_type": ["view"] * 3, "page": ["home"] * 3, "token": [2] * 3, "time": [0, 1, 2]}
    constant, spread = {**base, "px": [1e9 + 0.1] * 3}, {**base, "px": [1e9, 1e9 + 1, 1e9 + 2]}
    log, token_ids = make_log([constant, spread])
    frame = FeatureBuilder(SPEC).fit(log, token_ids, TOKENS).transform(log, token_ids)
    assert frame["px_std"][0] == 0
    assert frame["px_std"][1] == pytest.approx(np.std([0, 1, 2]), rel=1e-6)


def test_last_k_events_and_recent_window(fitted):
    _, frame = fitted
    # Last 2 events: s0 (cart, buy), s1 (view), s2 (cart, cart).
    assert column(frame, "last2.event_type_count[cart]") == [1, 0, 2]
    assert column(frame, "last2.event_type_count[(other)]") == [1, 0, 0]
    assert column(frame, "last2.page_count[product]") == [1, 0, 1]
    # Within 40 s before the last event (inclusive): s0 t=30, 70; s1 its only event; s2 t=2100 only.
    assert column(frame, "last_40s.n_events") == [2, 1, 1]
    assert column(frame, "last_40s.event_type_count[cart]") == [1, 0, 1]
    assert column(frame, "last_40s.event_type_count[view]") == [0, 1, 0]


def test_top_bigrams_are_counted_within_sequences_only(fitted):
    builder, frame = fitted
    # (c, c) occurs twice in s2; (a, b), (b, c), (c, d) once each, the lowest ids win the tie.
    bigrams = [name for name in builder.feature_names if name.startswith("bigram_count[")]
    assert bigrams == ["bigram_count[c -> c]", "bigram_count[a -> b]"]
    # s1's c followed by s2's first c crosses a sequence boundary and must not count.
    assert column(frame, "bigram_count[c -> c]") == [0, 0, 2]
    assert column(frame, "bigram_count[a -> b]") == [1, 0, 0]


def test_static_attributes_pass_through_and_one_hot(fitted):
    _, frame = fitted
    assert column(frame, "static.age") == [30, 0, 50]
    assert column(frame, "static.age_missing") == [0, 1, 0]
    assert column(frame, "static.country[de]") == [1, 0, 1]
    assert column(frame, "static.country[fr]") == [0, 1, 0]


def test_unseen_values_count_as_other_and_never_add_columns():
    train, train_tokens = make_log(SEQUENCES[:1], STATIC.iloc[:1].reset_index(drop=True))
    builder = FeatureBuilder(SPEC).fit(train, train_tokens, TOKENS)
    unseen = [
        {
            "time": [0, 5],
            "event_type": ["refund", None],  # an unseen value, and missing where train had no missing
            "page": ["checkout", "home"],
            "px": [1.0, 2.0],
            "token": [1, 2],  # 1 = unknown to the vocabulary
        }
    ]
    log, token_ids = make_log(unseen, pd.DataFrame({"age": [40.0], "country": pd.Categorical(["us"])}))
    frame = builder.transform(log, token_ids)
    assert list(frame.columns) == builder.feature_names
    assert frame["event_type_count[(other)]"][0] == 2
    assert frame["event_type_count[view]"][0] == 0
    assert frame["page_count[(other)]"][0] == 1
    assert frame["page_count[home]"][0] == 1
    assert frame["token_count[(other)]"][0] == 1
    assert frame["static.country[(other)]"][0] == 1
    assert not any("refund" in name or "checkout" in name or "us]" in name for name in frame.columns)
    assert np.isfinite(frame.to_numpy()).all()


def test_categories_are_matched_by_value_not_by_code(fitted):
    builder, frame = fitted
    log, token_ids = make_log(SEQUENCES, STATIC)
    reordered = {
        name: values.reorder_categories(values.categories[::-1]) for name, values in log.categorical.items()
    }
    again = builder.transform(replace(log, categorical=reordered), token_ids)
    pd.testing.assert_frame_equal(again, frame)


def test_state_dict_round_trips_through_json(fitted):
    builder, frame = fitted
    log, token_ids = make_log(SEQUENCES, STATIC)
    restored = FeatureBuilder.from_state_dict(json.loads(json.dumps(builder.state_dict())))
    assert restored.feature_names == builder.feature_names
    pd.testing.assert_frame_equal(restored.transform(log, token_ids), frame)


def test_threads_do_not_change_the_output(fitted):
    builder, frame = fitted
    log, token_ids = make_log(SEQUENCES, STATIC)
    serial = FeatureBuilder.from_state_dict(builder.state_dict())
    serial.n_threads = 1
    pd.testing.assert_frame_equal(serial.transform(log, token_ids), frame)


def test_empty_log_gives_the_fitted_columns(fitted):
    builder, _ = fitted
    log, token_ids = make_log(SEQUENCES, STATIC)
    frame = builder.transform(log.select(np.array([], dtype=np.int64)), token_ids[:0])
    assert frame.shape == (0, len(builder.feature_names))


def test_log_without_fields_or_static_attributes():
    no_columns = pd.DataFrame(index=pd.RangeIndex(1))
    log = EventLog(
        sequence_ids=np.array(["only"]),
        offsets=np.array([0, 2]),
        time=np.array([T0, T0 + 3]),
        categorical={},
        numeric={},
        labels=np.array([1]),
        class_names=["negative", "positive"],
        static=no_columns,
        extras=no_columns,
    )
    token_ids = np.array([2, 1])
    frame = FeatureBuilder(SPEC).fit(log, token_ids, TOKENS).transform(log, token_ids)
    assert frame["gap_s_mean"][0] == 3
    assert frame["last_40s.n_events"][0] == 2
    # The unknown token (id 1) has no column of its own: it counts as other.
    assert frame["token_count[(other)]"][0] == 1
    assert frame["bigram_count[a -> <unk>]"][0] == 1


def test_misuse_fails_loudly(fitted):
    builder, _ = fitted
    log, token_ids = make_log(SEQUENCES, STATIC)
    with pytest.raises(RuntimeError, match="not fitted"):
        FeatureBuilder(SPEC).transform(log, token_ids)
    with pytest.raises(ValueError, match="one id per event"):
        builder.transform(log, token_ids[:-1])
    with pytest.raises(ValueError, match="vocabulary"):
        builder.transform(log, np.where(token_ids == 5, len(TOKENS), token_ids))
    with pytest.raises(KeyError, match="page"):
        builder.transform(
            replace(log, categorical={"event_type": log.categorical["event_type"]}),
            token_ids,
        )


def random_log(n_sequences: int, seed: int) -> tuple[EventLog, np.ndarray]:
    rng = np.random.default_rng(seed)
    sequences = []
    for _ in range(n_sequences):
        n = int(rng.integers(1, 12))
        px = rng.choice([np.nan, 0.0, 10.0, 250.0, 1e4], n)
        sequences.append(
            {
                "time": np.sort(rng.integers(0, 200_000, n)).tolist(),
                "event_type": rng.choice(["view", "cart", "buy", "search", "exit"], n).tolist(),
                "page": [None if v == "none" else v for v in rng.choice(["home", "list", "pdp", "none"], n)],
                "px": [None if np.isnan(v) else v for v in px],
                "token": rng.integers(1, len(TOKENS), n).tolist(),
            }
        )
    return make_log(sequences)


def reference_features(log: EventLog, token_ids: np.ndarray, builder: FeatureBuilder) -> pd.DataFrame:
    """The same features computed the slow, obvious way: one Python loop per sequence."""
    state, rows = builder.state_, []
    tokens = {i: TOKENS[i] for i in state.token_ids}
    for s in range(log.n_sequences):
        events = slice(log.offsets[s], log.offsets[s + 1])
        time, token = log.time[events], token_ids[events]
        kind, px = np.asarray(log.categorical["event_type"][events], dtype=object), log.numeric["px"][events]
        gaps, present = np.diff(time), px[~np.isnan(px)]
        last_k = kind[-SPEC.last_k :]
        in_window = kind[time >= time[-1] - SPEC.last_window_s]
        pairs = list(zip(token[:-1], token[1:]))
        row = {
            "n_events": len(time),
            "duration_s": time[-1] - time[0],
            "gap_s_std": gaps.std() if len(gaps) else 0.0,
            "gap_s_min": gaps.min() if len(gaps) else 0.0,
            "px_count": len(present),
            "px_mean": present.mean() if len(present) else 0.0,
            "px_std": present.std() if len(present) else 0.0,
            "px_max": present.max() if len(present) else 0.0,
            "last.px": 0.0 if np.isnan(px[-1]) else px[-1],
            "distinct_tokens": len(set(token)),
            "distinct.page": len({v for v in log.categorical["page"][events] if isinstance(v, str)}),
            "last_40s.n_events": len(in_window),
        }
        row |= {f"token_count[{name}]": np.sum(token == i) for i, name in tokens.items()}
        row |= {
            f"bigram_count[{n}]": pairs.count(tuple(p)) for p, n in zip(state.bigrams, state.bigram_names)
        }
        for value in state.categorical["event_type"].values:
            row[f"event_type_count[{value}]"] = np.sum(kind == value)
            row[f"last2.event_type_count[{value}]"] = np.sum(last_k == value)
            row[f"last_40s.event_type_count[{value}]"] = np.sum(in_window == value)
            row[f"first.event_type[{value}]"] = kind[0] == value
        rows.append(row)
    return pd.DataFrame(rows).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1])
def test_vectorised_features_match_a_per_sequence_reference(seed):
    log, token_ids = random_log(300, seed)
    builder = FeatureBuilder(SPEC).fit(log.select(np.arange(200)), token_ids[: log.offsets[200]], TOKENS)
    frame = builder.transform(log, token_ids)
    expected = reference_features(log, token_ids, builder)
    assert np.isfinite(frame.to_numpy()).all()
    pd.testing.assert_frame_equal(frame[expected.columns], expected, rtol=1e-5)
