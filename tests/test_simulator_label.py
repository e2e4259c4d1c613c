"""The simulator's order effects on hand-built histories: each fires exactly on the pattern it names."""

from __future__ import annotations

import numpy as np
import pytest

from behave.data.sources.simulator import label as label_model
from behave.data.sources.simulator.render import Rendered
from behave.data.sources.simulator.tables import STATE
from behave.data.sources.simulator.walk import Walk

DEEP, SHALLOW = 2500.0, 300.0


def histories(*users: list[tuple[int, str, float]]) -> tuple[Walk, Rendered]:
    """Walk and rendering of users given as [(session, state, scroll_px), ...] in time order."""
    lengths = [len(events) for events in users]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat = [event for events in users for event in events]
    user = np.repeat(np.arange(len(users)), lengths)
    session = np.array([s for s, _, _ in flat], dtype=np.int64)
    new_session = np.ones(len(flat), dtype=bool)
    new_session[1:] = (session[1:] != session[:-1]) | (user[1:] != user[:-1])
    sessions_per_user = [max(s for s, _, _ in events) + 1 for events in users]
    walk = Walk(
        offsets=offsets,
        state=np.array([STATE[name] for _, name, _ in flat], dtype=np.int8),
        category=np.zeros(len(flat), dtype=np.int32),
        new_session=new_session,
    )
    rendered = Rendered(
        user=user,
        session=session,
        time_s=np.arange(len(flat), dtype=np.float64) * 60.0,
        dwell_s=np.full(len(flat), 30.0),
        portal=np.zeros(len(flat), dtype=np.int64),
        scroll_px=np.array([px for _, _, px in flat]),
        session_start_s=np.zeros(sum(sessions_per_user)),
        session_offsets=np.concatenate([[0], np.cumsum(sessions_per_user)]).astype(np.int64),
    )
    return walk, rendered


def order_features(*users):
    return label_model.order_features(*histories(*users))


def test_every_weighted_order_effect_is_computed():
    features = order_features([(0, "home", SHALLOW)])
    assert set(features) == set(label_model.ORDER_WEIGHTS)


def test_deep_search_hit_needs_results_then_a_deep_product_page_in_a_recent_session():
    hit = [(0, "search", np.nan), (0, "search_results", SHALLOW), (0, "product", DEEP)]
    shallow = [(0, "search", np.nan), (0, "search_results", SHALLOW), (0, "product", SHALLOW)]
    not_after_results = [(0, "category", SHALLOW), (0, "product", DEEP)]
    too_old = [*hit, (1, "home", SHALLOW), (2, "home", SHALLOW)]
    across_sessions = [(0, "search_results", SHALLOW), (1, "product", DEEP)]
    features = order_features(hit, shallow, not_after_results, too_old, across_sessions)
    assert features["recent_deep_search_hit"].tolist() == [1, 0, 0, 0, 0]


def test_abandoned_cart_is_a_removal_after_the_last_add():
    abandoned = [(0, "add_to_cart", np.nan), (0, "cart", SHALLOW), (0, "remove_from_cart", np.nan)]
    re_added = [*abandoned, (1, "add_to_cart", np.nan)]
    features = order_features(abandoned, re_added, [(0, "home", SHALLOW)])
    assert features["abandoned_cart"].tolist() == [1, 0, 0]


def test_cart_in_last_session_and_where_the_history_ends():
    old_cart = [(0, "add_to_cart", np.nan), (1, "product", SHALLOW), (1, "help", SHALLOW)]
    fresh_cart = [(0, "home", SHALLOW), (1, "add_to_cart", np.nan), (1, "checkout", SHALLOW)]
    # The last PAGE decides where the history ends: an action after it does not move the end.
    action_last = [(0, "cart", SHALLOW), (0, "remove_from_cart", np.nan)]
    features = order_features(old_cart, fresh_cart, action_last)
    assert features["cart_in_last_session"].tolist() == [0, 1, 0]
    assert features["ends_at_help"].tolist() == [1, 0, 0]
    assert features["ends_at_checkout"].tolist() == [0, 1, 1]


@pytest.mark.parametrize(
    ("states", "trend"),
    [
        (["product", "home", "home", "home", "home"], -1.0),
        (["home", "home", "home", "home", "product"], 1.0),
        (["product", "home", "home", "home", "product"], 0.0),
        (["home", "home", "home"], 0.0),
    ],
)
def test_product_view_trend_is_the_mean_relative_position_of_product_views(states, trend):
    features = order_features([(0, state, SHALLOW) for state in states])
    assert features["product_view_trend"][0] == pytest.approx(trend)
