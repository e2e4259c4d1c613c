"""The clickstream simulator: determinism, schema, a learnable and order-dependent label, skewed lengths."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from pandas.api.types import is_string_dtype
from scipy.special import logit
from sklearn.metrics import roc_auc_score

from behave.data.event_log import RawTables
from behave.data.sources.simulator.source import ClickstreamSimulator

SMALL = {"n_users": 1500}


@pytest.fixture(scope="module")
def default_tables() -> RawTables:
    return ClickstreamSimulator().load()


@pytest.fixture(scope="module")
def small_tables() -> RawTables:
    return ClickstreamSimulator(**SMALL).load()


def _assert_same(a: RawTables, b: RawTables) -> None:
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.labels, b.labels)
    pd.testing.assert_frame_equal(a.extras, b.extras)


def test_same_seed_gives_identical_tables(small_tables):
    _assert_same(small_tables, ClickstreamSimulator(**SMALL).load())


def test_different_seed_gives_different_tables(small_tables):
    other = ClickstreamSimulator(**SMALL, seed=1).load()
    assert not other.events.equals(small_tables.events)
    assert not np.allclose(other.extras["oracle_prob"], small_tables.extras["oracle_prob"])


def test_event_schema(small_tables):
    events = small_tables.events
    assert list(events.columns) == [
        "user_id",
        "timestamp",
        "session",
        "event_type",
        "page_type",
        "category",
        "portal",
        "scroll_px",
        "dwell_s",
        "planted_effect",  # the truth for checking attributions; no data config reads it
    ]
    assert events["user_id"].dtype == np.int64
    assert events["timestamp"].dtype == "datetime64[ns]"
    assert events["session"].dtype == np.int64
    for column in ["event_type", "page_type", "category", "portal"]:
        assert is_string_dtype(events[column]), column
    for column in ["scroll_px", "dwell_s"]:
        assert events[column].dtype == np.float64, column
    assert set(events["event_type"]) >= {"page_view", "search", "add_to_cart", "remove_from_cart"}
    assert set(events["portal"]) == {"web", "app", "mobile_web"}
    assert events["event_type"].notna().all() and events["portal"].notna().all()
    assert (events["dwell_s"] > 0).all()


def test_page_fields_are_missing_exactly_off_page_views(small_tables):
    events = small_tables.events
    is_page_view = events["event_type"] == "page_view"
    assert (events["scroll_px"].notna() == is_page_view).all()
    assert (events["page_type"].notna() == is_page_view).all()
    assert (events.loc[is_page_view, "scroll_px"] > 0).all()
    # Categories belong to product-related events only: never on home, cart or checkout pages.
    assert events.loc[events["page_type"].isin(["home", "cart", "checkout"]), "category"].isna().all()
    assert events.loc[events["event_type"] == "add_to_cart", "category"].notna().all()


def test_scroll_depth_is_right_skewed(small_tables):
    scroll = small_tables.events["scroll_px"].dropna()
    assert scroll.mean() > scroll.median()
    assert scroll.quantile(0.99) > 3 * scroll.median()


def test_timestamps_strictly_increase_and_sessions_are_gapped(small_tables):
    events = small_tables.events
    seconds_since_previous = events.groupby("user_id")["timestamp"].diff().dt.total_seconds()
    assert (seconds_since_previous.dropna() > 0).all()
    session_step = events.groupby("user_id")["session"].diff().dropna()
    assert session_step.isin([0, 1]).all()
    # Dwell explains time within a session; a new session comes after a break of at least half an hour.
    new_session = session_step == 1
    within = ~new_session
    assert np.allclose(
        seconds_since_previous[within.index[within]], events["dwell_s"].shift(1)[within.index[within]]
    )
    assert (seconds_since_previous[new_session.index[new_session]] >= 1800).all()


def test_remove_from_cart_only_follows_an_add(small_tables):
    events = small_tables.events
    adds = (events["event_type"] == "add_to_cart").groupby(events["user_id"]).cumsum()
    removes = (events["event_type"] == "remove_from_cart").groupby(events["user_id"]).cumsum()
    assert (removes <= adds).all()


def test_labels_and_extras_cover_every_user(small_tables):
    labels, extras = small_tables.labels, small_tables.extras
    assert list(labels.columns) == ["user_id", "purchase_next_week"]
    assert labels["purchase_next_week"].dtype == np.int64
    assert set(labels["purchase_next_week"]) == {0, 1}
    assert np.array_equal(labels["user_id"], np.arange(SMALL["n_users"]))
    assert np.array_equal(extras.index, labels["user_id"])
    assert np.array_equal(np.unique(small_tables.events["user_id"]), labels["user_id"])
    assert extras["oracle_prob"].between(0, 1).all()


def test_oracle_ranks_labels_well_and_hits_positive_rate(default_tables):
    labels = default_tables.labels["purchase_next_week"]
    oracle = default_tables.extras["oracle_prob"]
    assert roc_auc_score(labels, oracle) > 0.85
    assert abs(oracle.mean() - 0.3) < 0.005
    assert abs(labels.mean() - 0.3) < 0.03


@pytest.mark.parametrize("positive_rate", [0.1, 0.5])
def test_positive_rate_knob(positive_rate):
    tables = ClickstreamSimulator(**SMALL, positive_rate=positive_rate).load()
    assert abs(tables.extras["oracle_prob"].mean() - positive_rate) < 0.005
    assert abs(tables.labels["purchase_next_week"].mean() - positive_rate) < 0.05


def _intercept_spread(tables: RawTables, part: str) -> float:
    """Std over users of logit(clean_prob) - part: 0 when that part is the whole logit but the intercept."""
    return float(np.std(logit(tables.extras["clean_prob"]) - tables.extras[part]))


def test_order_strength_changes_only_the_label_model(small_tables):
    no_order = ClickstreamSimulator(**SMALL, order_strength=0.0).load()
    pd.testing.assert_frame_equal(no_order.events, small_tables.events)
    assert (no_order.extras["order_logit"] == 0).all()
    assert small_tables.extras["order_logit"].std() > 1.0
    # Without order effects the oracle's logit is the count logit plus a constant intercept.
    assert _intercept_spread(no_order, "count_logit") < 1e-6
    assert _intercept_spread(small_tables, "count_logit") > 1.0


def test_count_strength_zero_leaves_order_only(small_tables):
    no_counts = ClickstreamSimulator(**SMALL, count_strength=0.0).load()
    assert (no_counts.extras["count_logit"] == 0).all()
    assert _intercept_spread(no_counts, "order_logit") < 1e-6
    assert np.allclose(no_counts.extras["order_logit"], small_tables.extras["order_logit"])


def test_label_noise_is_a_flip_probability():
    noise = 0.2
    clean = ClickstreamSimulator(**SMALL).load()
    noisy = ClickstreamSimulator(**SMALL, label_noise=noise).load()
    # The noisy-label oracle is an affine map of the clean probability, squeezed into [e, 1 - e].
    assert noisy.extras["oracle_prob"].between(noise, 1 - noise).all()
    assert np.allclose(noisy.extras["oracle_prob"], noisy.extras["clean_prob"] * (1 - 2 * noise) + noise)
    clean_auroc = roc_auc_score(clean.labels["purchase_next_week"], clean.extras["oracle_prob"])
    noisy_auroc = roc_auc_score(noisy.labels["purchase_next_week"], noisy.extras["oracle_prob"])
    assert noisy_auroc < clean_auroc - 0.05


def test_length_distribution_is_skewed_and_capped(default_tables):
    lengths = default_tables.events.groupby("user_id").size()
    assert 25 <= lengths.median() <= 35
    assert lengths.mean() > 1.2 * lengths.median()
    assert (lengths > 200).sum() >= 20
    assert lengths.max() <= 512 and lengths.min() >= 3


def test_length_knobs():
    tables = ClickstreamSimulator(n_users=800, median_events=60, max_events=100).load()
    lengths = tables.events.groupby("user_id").size()
    assert lengths.max() == 100
    assert 50 <= lengths.median() <= 70


def test_n_categories_sets_the_vocabulary():
    tables = ClickstreamSimulator(n_users=800, n_categories=40).load()
    assert tables.events["category"].nunique() == 40


def test_fingerprint_lists_every_argument_and_tracks_them():
    simulator = ClickstreamSimulator(n_users=10, order_strength=0.5)
    fingerprint = simulator.fingerprint()
    assert isinstance(fingerprint["version"], int)
    assert fingerprint["n_users"] == 10 and fingerprint["order_strength"] == 0.5
    # The switches appear only when set, so the default log keeps the key it had before them.
    switches = {"next_oracle": True, "first_order": True, "outcome": True, "n_skills": 4, "label_drift": 1.0}
    arguments = set(inspect.signature(ClickstreamSimulator).parameters)
    assert arguments - set(switches) <= set(fingerprint)
    assert not set(switches) & set(fingerprint)
    assert set(switches) <= set(ClickstreamSimulator(n_users=10, **switches).fingerprint())
    assert ClickstreamSimulator(n_users=11).fingerprint() != ClickstreamSimulator(n_users=10).fingerprint()


@pytest.mark.parametrize(
    "bad", [{"label_noise": 0.5}, {"positive_rate": 0.05, "label_noise": 0.1}, {"min_events": 0}]
)
def test_invalid_arguments_are_rejected(bad):
    with pytest.raises(ValueError):
        ClickstreamSimulator(n_users=10, **bad).load()
