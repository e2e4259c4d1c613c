"""The simulator's known label model: p(purchase next week) = sigmoid(intercept + counts + order).

The logit is a function of the OBSERVED events only (never of the hidden intent or propensity), so a model
that reads the whole sequence can in principle reach the oracle. It has two parts:

- count effects, log1p counts of what the user did, which per-user count features can see;
- order effects, which depend on WHEN things happened and what followed what, invisible to counts.
"""

from __future__ import annotations

import numpy as np

from behave.data.sources.simulator import tables
from behave.data.sources.simulator.render import Rendered
from behave.data.sources.simulator.walk import Walk

COUNT_WEIGHTS = {
    "product": 0.5,
    "add_to_cart": 0.7,
    "checkout": 0.55,
    "help": -0.55,
    "remove_from_cart": -0.35,
    "add_to_wishlist": 0.2,
}
# Recency and local patterns that a sequence model can learn from a few thousand sequences while per-user
# aggregates see them only in part. Version 3 dropped an effect of the ratio of the last two gaps between
# sessions: at the demo's size neither model family learned it (fitted weights under 5% of the true one),
# so it only lowered every model's ceiling and hid the difference between the families.
ORDER_WEIGHTS = {
    "cart_in_last_session": 1.2,
    "abandoned_cart": -2.1,
    "ends_at_checkout": 1.0,
    "ends_at_help": -1.0,
    "recent_deep_search_hit": 2.5,
    "product_view_trend": 1.5,
}
# A product page read this far after a search result counts as a strong signal of purchase intent.
DEEP_SCROLL_PX = 2000.0
_RECENT_SESSIONS = 2


def _last_index(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(U,) flat index of each user's last event where mask holds, -1 if none (users are never empty)."""
    index = np.where(mask, np.arange(len(mask)), -1)
    return np.maximum.reduceat(index, offsets[:-1])


def count_features(walk: Walk, user: np.ndarray, n_users: int) -> dict[str, np.ndarray]:
    """name -> (U,) log1p count of events in that state."""
    return {
        name: np.log1p(np.bincount(user, weights=walk.state == tables.STATE[name], minlength=n_users))
        for name in COUNT_WEIGHTS
    }


def _last_page_in(walk: Walk, pages: list[str]) -> np.ndarray:
    """(U,) the user's last page view (the end of the latest visit) was one of `pages`."""
    last_page = _last_index(tables.STATE_PAGE_TYPE[walk.state] >= 0, walk.offsets)
    codes = [tables.STATE[page] for page in pages]
    return (last_page >= 0) & np.isin(walk.state[last_page], codes)


def _product_view_trend(walk: Walk, user: np.ndarray, n_users: int) -> np.ndarray:
    """(U,) mean position of product views in [-1, 1] (-1 = first event, +1 = last); 0 without any."""
    lengths = np.diff(walk.offsets)
    position = 2.0 * (np.arange(len(user)) - walk.offsets[:-1][user]) / np.maximum(lengths[user] - 1, 1) - 1.0
    is_product = walk.state == tables.STATE["product"]
    total = np.bincount(user, weights=np.where(is_product, position, 0.0), minlength=n_users)
    count = np.bincount(user, weights=is_product, minlength=n_users)
    return np.divide(total, count, out=np.zeros(n_users), where=count > 0)


def _recent_deep_search_hit(walk: Walk, events: Rendered, n_users: int) -> np.ndarray:
    """(U,) a search result page followed directly by a deeply read product page, in the last sessions."""
    state, user = walk.state, events.user
    follows_result = np.concatenate([[False], state[:-1] == tables.STATE["search_results"]])
    same_session = np.concatenate([[False], ~walk.new_session[1:]])
    hit = follows_result & same_session & (state == tables.STATE["product"])
    hit &= events.scroll_px >= DEEP_SCROLL_PX
    last_session = np.diff(events.session_offsets) - 1
    hit &= events.session > last_session[user] - _RECENT_SESSIONS
    return np.bincount(user, weights=hit, minlength=n_users) > 0


def order_features(walk: Walk, events: Rendered) -> dict[str, np.ndarray]:
    """name -> (U,) float order/recency feature; each is 0 or 1, or in [-1, 1]."""
    user, n_users = events.user, len(walk.offsets) - 1
    last_session = np.diff(events.session_offsets) - 1
    is_add = walk.state == tables.STATE["add_to_cart"]
    in_last = events.session == last_session[user]
    last_add = _last_index(is_add, walk.offsets)
    last_remove = _last_index(walk.state == tables.STATE["remove_from_cart"], walk.offsets)
    features = {
        "cart_in_last_session": np.bincount(user, weights=is_add & in_last, minlength=n_users) > 0,
        "abandoned_cart": (last_add >= 0) & (last_remove > last_add),
        "ends_at_checkout": _last_page_in(walk, ["cart", "checkout"]),
        "ends_at_help": _last_page_in(walk, ["help", "account"]),
        "recent_deep_search_hit": _recent_deep_search_hit(walk, events, n_users),
        "product_view_trend": _product_view_trend(walk, user, n_users),
    }
    return {name: value.astype(np.float64) for name, value in features.items()}


# Order effects whose trigger is a set of events (product_view_trend is spread over every product view).
EVENT_EFFECTS = (
    "recent_deep_search_hit",
    "abandoned_cart",
    "cart_in_last_session",
    "ends_at_checkout",
    "ends_at_help",
)


def planted_events(walk: Walk, events: Rendered) -> np.ndarray:
    """(N,) index into EVENT_EFFECTS of the planted order effect each event triggers, -1 for none: the
    events behind a fired effect, against which a model's attributions can be checked (first listed wins)."""
    user, state = events.user, walk.state
    last_session = np.diff(events.session_offsets) - 1
    n = len(state)
    last_add = _last_index(state == tables.STATE["add_to_cart"], walk.offsets)
    last_remove = _last_index(state == tables.STATE["remove_from_cart"], walk.offsets)
    last_page = _last_index(tables.STATE_PAGE_TYPE[state] >= 0, walk.offsets)
    marks = {name: np.zeros(n, dtype=bool) for name in EVENT_EFFECTS}
    follows_result = np.concatenate([[False], state[:-1] == tables.STATE["search_results"]])
    same_session = np.concatenate([[False], ~walk.new_session[1:]])
    hit = (
        follows_result
        & same_session
        & (state == tables.STATE["product"])
        & (events.scroll_px >= DEEP_SCROLL_PX)
    )
    marks["recent_deep_search_hit"] = hit & (events.session > last_session[user] - _RECENT_SESSIONS)
    abandoned = (last_add >= 0) & (last_remove > last_add)
    marks["abandoned_cart"][last_remove[abandoned]] = True
    marks["cart_in_last_session"] = (state == tables.STATE["add_to_cart"]) & (
        events.session == last_session[user]
    )
    for name, pages in (("ends_at_checkout", ["cart", "checkout"]), ("ends_at_help", ["help", "account"])):
        ends = (last_page >= 0) & np.isin(state[np.maximum(last_page, 0)], [tables.STATE[p] for p in pages])
        marks[name][last_page[ends]] = True
    out = np.full(n, -1, dtype=np.int64)
    for index in reversed(range(len(EVENT_EFFECTS))):
        out[marks[EVENT_EFFECTS[index]]] = index
    return out


def weighted_sum(features: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    return sum(weights[name] * features[name] for name in weights)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def calibrate_intercept(logit: np.ndarray, positive_rate: float, label_noise: float) -> float:
    """Intercept b with mean(noisy probability of sigmoid(b + logit)) == positive_rate, by bisection."""
    low, high = -30.0, 30.0
    for _ in range(80):
        middle = 0.5 * (low + high)
        rate = np.mean(with_flips(sigmoid(middle + logit), label_noise))
        low, high = (middle, high) if rate < positive_rate else (low, middle)
    return 0.5 * (low + high)


def with_flips(probability: np.ndarray, label_noise: float) -> np.ndarray:
    """P(observed label = 1) when the true label is flipped with probability label_noise."""
    return probability * (1.0 - 2.0 * label_noise) + label_noise
