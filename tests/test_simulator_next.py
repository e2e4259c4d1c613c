"""The simulator's per-event oracle: the next-activity distribution each event was drawn from, the first-order
chain variant, and the default log left exactly as it was."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from behave.data.event_log import RawTables
from behave.data.sources.simulator import oracle, tables
from behave.data.sources.simulator.source import ClickstreamSimulator

N_USERS = 2000


def _load(**switches) -> RawTables:
    return ClickstreamSimulator(n_users=N_USERS, seed=1, next_oracle=True, **switches).load()


@pytest.fixture(scope="module")
def walk_log() -> RawTables:
    return _load()


@pytest.fixture(scope="module")
def chain_log() -> RawTables:
    return _load(first_order=True)


def _truth(raw: RawTables) -> tuple[np.ndarray, np.ndarray]:
    """((N, K) oracle, (N,) index of each event's true activity)."""
    values, probability = oracle.next_distribution(raw.event_extras)
    truth = raw.events[oracle.NEXT_VALUE_FIELD].map({v: i for i, v in enumerate(values)}).to_numpy()
    return probability, truth


def _previous(raw: RawTables, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((N,) whether the event is its user's first, (N,) the previous event's activity, 0 on first events)."""
    user = raw.events["user_id"].to_numpy()
    first = np.concatenate([[True], user[1:] != user[:-1]])
    return first, np.concatenate([[0], truth[:-1]])


@pytest.mark.parametrize("fixture", ["walk_log", "chain_log"])
def test_oracle_is_a_distribution_per_event(fixture, request):
    raw = request.getfixturevalue(fixture)
    probability, truth = _truth(raw)
    assert len(raw.event_extras) == len(raw.events)
    assert (probability >= 0).all()
    np.testing.assert_allclose(probability.sum(axis=1), 1.0, atol=1e-9)
    # The value that happened always had a positive chance.
    assert (probability[np.arange(len(truth)), truth] > 0).all()


@pytest.mark.parametrize("fixture", ["walk_log", "chain_log"])
def test_oracle_matches_what_was_drawn(fixture, request):
    """Per (previous activity, next activity) cell, the count of events equals the sum of their oracle
    probabilities up to sampling noise: the oracle is the distribution the walk drew from, not near it."""
    raw = request.getfixturevalue(fixture)
    probability, truth = _truth(raw)
    first, previous = _previous(raw, truth)
    z_scores = []
    for before in range(-1, tables.N_STATES):
        rows = first if before < 0 else ~first & (previous == before)
        for value in range(tables.N_STATES):
            p = probability[rows, value]
            variance = (p * (1 - p)).sum()
            if variance > 1.0:
                z_scores.append(((truth[rows] == value).sum() - p.sum()) / np.sqrt(variance))
    assert len(z_scores) > 50
    assert np.max(np.abs(z_scores)) < 4.5


def test_first_order_oracle_depends_only_on_the_previous_event(chain_log, walk_log):
    def spread_per_previous(raw):
        probability, truth = _truth(raw)
        first, previous = _previous(raw, truth)
        groups = [probability[first]]
        groups += [probability[~first & (previous == k)] for k in range(tables.N_STATES)]
        return max(float(np.ptp(rows, axis=0).max()) for rows in groups if len(rows))

    assert spread_per_previous(chain_log) == 0.0
    # The default walk's next event also depends on hidden intent, propensity and the cart.
    assert spread_per_previous(walk_log) > 0.1


def test_markov_one_reaches_the_oracle_on_the_chain_only(chain_log, walk_log):
    """Next-activity accuracy of a k=1 transition count model fitted on half the users, on the other half:
    equal to the oracle's on the chain, below it on the default walk."""

    def accuracies(raw):
        probability, truth = _truth(raw)
        first, previous = _previous(raw, truth)
        train = raw.events["user_id"].to_numpy() < N_USERS // 2
        counts = np.zeros((tables.N_STATES, tables.N_STATES))
        np.add.at(counts, (previous[train & ~first], truth[train & ~first]), 1)
        test = ~train & ~first
        markov = np.mean(counts.argmax(axis=1)[previous[test]] == truth[test])
        return markov, oracle.scores(probability[test], truth[test])["accuracy"]

    markov, ceiling = accuracies(chain_log)
    assert markov == pytest.approx(ceiling, abs=0.002)
    markov, ceiling = accuracies(walk_log)
    assert ceiling > markov + 0.005


def test_oracle_scores_and_their_values_per_position(walk_log):
    probability, truth = _truth(walk_log)
    overall, table = oracle.next_ceiling(walk_log.events, walk_log.event_extras)
    assert overall == oracle.scores(probability, truth)
    assert overall["accuracy"] == pytest.approx(np.mean(probability.argmax(axis=1) == truth))
    # The ceiling of the default walk, seed 1: most likely activity right about half the time.
    assert 0.45 < overall["accuracy"] < 0.55 and 1.2 < overall["log_loss"] < 1.5
    assert list(table.columns) == ["position", "accuracy", "log_loss", "n"]
    assert table["n"].sum() == len(truth) and table["n"].iloc[0] == N_USERS
    assert np.average(table["accuracy"], weights=table["n"]) == pytest.approx(overall["accuracy"])
    assert np.average(table["log_loss"], weights=table["n"]) == pytest.approx(overall["log_loss"])


def test_event_type_oracle_is_the_marginal(walk_log):
    probability, _ = _truth(walk_log)
    event_type = oracle.marginal(probability, tables.STATE_EVENT_TYPE, len(tables.EVENT_TYPES))
    np.testing.assert_allclose(event_type.sum(axis=1), 1.0)
    observed = walk_log.events["event_type"].map({v: i for i, v in enumerate(tables.EVENT_TYPES)}).to_numpy()
    counts = np.bincount(observed, minlength=len(tables.EVENT_TYPES))
    spread = np.sqrt((event_type * (1 - event_type)).sum(axis=0))
    assert np.all(np.abs(counts - event_type.sum(axis=0)) < 4.5 * spread)


def test_activity_column_is_what_event_type_and_page_type_say(walk_log):
    events = walk_log.events
    expected = events["page_type"].where(events["event_type"] == "page_view", events["event_type"])
    assert (events["activity"] == expected).all()


def test_missing_oracle_columns_name_the_switch():
    with pytest.raises(KeyError, match="next_oracle"):
        oracle.next_distribution(pd.DataFrame({"x": [1.0]}))


def _digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()).hexdigest()


# These digests pin the default simulated log (n_users=300, seed=7) as the generator made it before the
# per-event switches existed: with every switch off, the events, labels and per-user extras must stay
# bit-identical. Change them only with a VERSION bump in source.py, for a deliberate change of the log.
DEFAULT_EVENTS = "02f05dce5763a3fa0f6c2ec8c4b29e5b33e9f08b64f793b48deca7109522cf25"
DEFAULT_LABELS = "f7835a50c5fd16f5abee76b21a58af4916fe5dbd2e4f1320cf8d7c9337a7e043"
DEFAULT_EXTRAS = "03d88add89d312dbf58f652c7de20351a8542a6b8dbc89f2a4fe4568b59a16cb"


def test_default_log_is_unchanged():
    raw = ClickstreamSimulator(n_users=300, seed=7).load()
    assert (_digest(raw.events), _digest(raw.labels), _digest(raw.extras)) == (
        DEFAULT_EVENTS,
        DEFAULT_LABELS,
        DEFAULT_EXTRAS,
    )
    assert raw.event_extras is None


@pytest.mark.parametrize("switches", [{"next_oracle": True}, {"outcome": True}])
def test_switches_only_add_columns(switches):
    default = ClickstreamSimulator(n_users=300, seed=7).load()
    switched = ClickstreamSimulator(n_users=300, seed=7, **switches).load()
    pd.testing.assert_frame_equal(switched.events[default.events.columns], default.events)
    pd.testing.assert_frame_equal(switched.labels, default.labels)
    pd.testing.assert_frame_equal(switched.extras, default.extras)


def test_first_order_changes_the_walk():
    default = ClickstreamSimulator(n_users=300, seed=7).load()
    chain = ClickstreamSimulator(n_users=300, seed=7, first_order=True).load()
    assert not chain.events["page_type"].equals(default.events["page_type"])
