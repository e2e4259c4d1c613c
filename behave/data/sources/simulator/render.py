"""Turn a walk into observable columns: sessions, portals, dwell times, timestamps and scroll depth.

All per-event or per-session, vectorised over flat arrays: sessions are runs of events that start at a
`new_session` flag, so segment sums are `np.add.reduceat` and within-segment sums are cumulative sums minus
the value at the segment's start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from behave.data.sources.simulator import tables
from behave.data.sources.simulator.walk import Users, Walk

_DWELL_SIGMA = 0.8
_MIN_DWELL_S = 0.5
_GAP_SIGMA = 1.0
_MIN_GAP_H = 0.5
_SCROLL_SIGMA = 0.7
_MAX_SCROLL_PX = 30000.0
# Engaged users read product pages further down.
_PRODUCT_SCROLL_PER_PROPENSITY = 0.3
_RESEARCHER_PRODUCT_DWELL = 1.3
_SAME_PORTAL_P = 0.8
_FIRST_SESSION_SPREAD_DAYS = 60.0


@dataclass(frozen=True)
class Rendered:
    """Observable per-event columns, N events in the walk's flat order."""

    user: np.ndarray  # (N,) int64
    session: np.ndarray  # (N,) int64 session number within the user, from 0
    time_s: np.ndarray  # (N,) float64 seconds since the start date, strictly increasing within a user
    dwell_s: np.ndarray  # (N,) float64
    portal: np.ndarray  # (N,) int64 index into tables.PORTALS
    scroll_px: np.ndarray  # (N,) float64, NaN on non-page-view events
    session_start_s: np.ndarray  # (S,) float64 start time of every session, user-major
    session_offsets: np.ndarray  # (U+1,) int64: user u owns sessions session_offsets[u]:session_offsets[u+1]


def _within_segment_exclusive_cumsum(values: np.ndarray, segment_first: np.ndarray, segment: np.ndarray):
    """(N,) sum of the earlier values of each element's segment."""
    exclusive = np.cumsum(values) - values
    return exclusive - exclusive[segment_first][segment]


def _dwell(walk: Walk, users: Users, user: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    median = tables.dwell_median_s()[walk.state]
    researcher_product = (walk.state == tables.STATE["product"]) & (
        users.intent[user] == tables.INTENTS.index("researcher")
    )
    median = np.where(researcher_product, median * _RESEARCHER_PRODUCT_DWELL, median)
    dwell = median * np.exp(rng.normal(0.0, _DWELL_SIGMA, len(median)))
    return np.maximum(np.round(dwell, 3), _MIN_DWELL_S)


def _session_starts(
    users: Users, session_user: np.ndarray, session_step: np.ndarray, duration: np.ndarray, rng
) -> np.ndarray:
    """(S,) start seconds: first session uniform over the spread, then previous end plus a lognormal gap."""
    momentum_change = users.drift[session_user] * (
        session_step / np.maximum(users.lengths[session_user] - 1, 1)
    )
    # Warming users come back sooner, cooling users later.
    median_h = tables.GAP_MEDIAN_H[users.intent[session_user]] * np.exp(-0.5 * momentum_change)
    gap_s = 3600.0 * np.maximum(median_h * np.exp(rng.normal(0.0, _GAP_SIGMA, len(session_user))), _MIN_GAP_H)
    is_first = np.concatenate([[True], session_user[1:] != session_user[:-1]])
    increment = gap_s
    increment[1:] += duration[:-1]
    increment[is_first] = 0.0
    first_index = np.flatnonzero(is_first)
    first_start = rng.uniform(0.0, _FIRST_SESSION_SPREAD_DAYS * 86400.0, len(first_index))
    segment = np.cumsum(is_first) - 1
    cumulative = np.cumsum(increment)
    return first_start[segment] + cumulative - cumulative[first_index][segment]


def _scroll(walk: Walk, users: Users, user, step, portal, rng) -> np.ndarray:
    page = tables.STATE_PAGE_TYPE[walk.state]
    is_page_view = page >= 0
    median = tables.scroll_median_px()[np.maximum(page, 0)] * tables.PORTAL_SCROLL_FACTOR[portal]
    is_product = walk.state == tables.STATE["product"]
    keenness = np.where(
        is_product, _PRODUCT_SCROLL_PER_PROPENSITY * users.momentary_propensity(user, step), 0.0
    )
    pixels = np.rint(median * np.exp(keenness + rng.normal(0.0, _SCROLL_SIGMA, len(median))))
    return np.where(is_page_view, np.minimum(pixels, _MAX_SCROLL_PX), np.nan)


def render(walk: Walk, users: Users, rng: np.random.Generator) -> Rendered:
    """Sessions, timing and scroll for every event of the walk."""
    n_users = len(users.lengths)
    user = np.repeat(np.arange(n_users, dtype=np.int64), users.lengths)
    step = np.arange(len(user), dtype=np.int64) - walk.offsets[:-1][user]
    global_session = np.cumsum(walk.new_session) - 1
    session_first = np.flatnonzero(walk.new_session)
    session_user = user[session_first]
    session_offsets = np.searchsorted(session_user, np.arange(n_users + 1)).astype(np.int64)
    session_portal = np.where(
        rng.random(len(session_first)) < _SAME_PORTAL_P,
        users.portal[session_user],
        rng.choice(len(tables.PORTALS), len(session_first), p=tables.PORTAL_MIX),
    )
    dwell = _dwell(walk, users, user, rng)
    duration = np.add.reduceat(dwell, session_first)
    session_start = _session_starts(users, session_user, step[session_first], duration, rng)
    within = _within_segment_exclusive_cumsum(dwell, session_first, global_session)
    portal = session_portal[global_session]
    return Rendered(
        user=user,
        session=global_session - session_offsets[user],
        time_s=session_start[global_session] + within,
        dwell_s=dwell,
        portal=portal,
        scroll_px=_scroll(walk, users, user, step, portal, rng),
        session_start_s=session_start,
        session_offsets=session_offsets,
    )
