"""The simulator's hidden users and their Markov walk over event states.

Every user gets a hidden intent, a latent propensity and a drift (warming up or cooling down over their
history). The walk is generated for all users at once, one step t at a time: users are sorted by length, so
the users still active at step t are a prefix of that order and every step is a handful of array operations.

`first_order=True` swaps in a first-order chain: one transition row per current state (the intent mix at zero
momentum, no cart rule), so the next state depends on the current one only and a k=1 Markov model is
Bayes-optimal. `with_oracle=True` keeps, for every event, the distribution its state was drawn from
(`oracle.next_state_probability`); neither switch draws a random number, so the events stay the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from behave.data.sources.simulator import oracle, tables

_ADD, _REMOVE, _CHECKOUT = (
    tables.STATE["add_to_cart"],
    tables.STATE["remove_from_cart"],
    tables.STATE["checkout"],
)
_CATEGORY_STATE = np.isin(tables.STATES, tables.CATEGORY_STATES)
# Browsing states may move to another category; results follow their query, cart actions the product seen.
_BROWSE_STATE = np.isin(tables.STATES, ["category", "product", "search"])
_CATEGORY_SWITCH_P = 0.2
_MAIN_CATEGORY_P = 0.5


@dataclass(frozen=True)
class Users:
    """Hidden per-user attributes, U users."""

    intent: np.ndarray  # (U,) int64 index into tables.INTENTS
    propensity: np.ndarray  # (U,) float64 latent keenness to buy, N(0, 1)
    drift: np.ndarray  # (U,) float64 change of propensity from first to last event (warming > 0)
    main_category: np.ndarray  # (U,) int64
    portal: np.ndarray  # (U,) int64 preferred portal
    lengths: np.ndarray  # (U,) int64 number of events

    @property
    def offsets(self) -> np.ndarray:
        """(U+1,) int64: user u owns flat events offsets[u]:offsets[u+1]."""
        return np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)

    def momentary_propensity(self, user: np.ndarray, step: np.ndarray) -> np.ndarray:
        """Propensity of `user` at its event `step`: latent value plus drift, from -drift/2 to +drift/2."""
        relative = step / np.maximum(self.lengths[user] - 1, 1)
        return self.propensity[user] + self.drift[user] * (relative - 0.5)


@dataclass(frozen=True)
class Walk:
    """Flat user-major events, N = sum of lengths, user u owns offsets[u]:offsets[u+1] in time order."""

    offsets: np.ndarray  # (U+1,) int64
    state: np.ndarray  # (N,) int8 index into tables.STATES
    category: np.ndarray  # (N,) int32, -1 where the event has no category
    new_session: np.ndarray  # (N,) bool, True on the first event of each session
    # (N, K) float64: the distribution event i's state was drawn from, given everything the walk knew then;
    # None unless the walk was asked for it.
    next_prob: np.ndarray | None = None


def category_popularity(n_categories: int) -> np.ndarray:
    """(C,) Zipf-like popularity: a few big categories and a long tail."""
    weights = 1.0 / np.arange(1, n_categories + 1) ** 0.8
    return weights / weights.sum()


def draw_users(
    rng: np.random.Generator,
    n_users: int,
    n_categories: int,
    median_events: float,
    length_sigma: float,
    length_range: tuple[int, int],
) -> Users:
    """Hidden attributes and lognormal lengths, clipped to length_range = (min_events, max_events)."""
    lengths = np.rint(np.exp(rng.normal(np.log(median_events), length_sigma, n_users)))
    return Users(
        intent=rng.choice(len(tables.INTENTS), n_users, p=tables.INTENT_MIX),
        propensity=rng.normal(0.0, 1.0, n_users),
        drift=rng.normal(0.0, 1.5, n_users),
        main_category=rng.choice(n_categories, n_users, p=category_popularity(n_categories)),
        portal=rng.choice(len(tables.PORTALS), n_users, p=tables.PORTAL_MIX),
        lengths=np.clip(lengths, *length_range).astype(np.int64),
    )


# Momentary propensity is rounded to this grid so that every (intent, state, propensity, cart) row of the
# transition distribution is tabulated once, instead of a softmax per user per step.
_MOMENTUM_GRID = np.linspace(-5.0, 5.0, 101)


def _cdf_table(log_weights: np.ndarray) -> np.ndarray:
    """(..., M, K+1) float32 cumulative distributions over next states for every momentum grid point.

    The last column is +inf so that an inverse-CDF draw never runs past the last state.
    """
    direction = tables.propensity_direction()
    logits = log_weights[..., None, :] + _MOMENTUM_GRID[:, None] * direction
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    cdf = np.cumsum(weights, axis=-1) / weights.sum(axis=-1, keepdims=True)
    cdf[..., -1] = np.inf
    return cdf.astype(np.float32)


def _transition_cdfs() -> np.ndarray:
    """(I, K, M, 2, K+1): per intent, current state, momentum and whether the cart is empty."""
    log_weights = tables.transition_log_weights()
    empty = log_weights.copy()
    # Nothing to remove or pay for in an empty cart.
    empty[..., [_REMOVE, _CHECKOUT]] = -np.inf
    return np.stack([_cdf_table(log_weights), _cdf_table(empty)], axis=-2)


_TRANSITION_CDF = _transition_cdfs()
_SESSION_START_CDF = _cdf_table(tables.session_start_log_weights())  # (I, M, K+1)


def _intent_mix_cdf(log_weights: np.ndarray) -> np.ndarray:
    """(..., K+1) float32 cumulative rows of the intent-mixed distribution at zero momentum; the last column
    is +inf as in `_cdf_table`."""
    weights = np.exp(log_weights)
    mixed = np.tensordot(tables.INTENT_MIX, weights / weights.sum(axis=-1, keepdims=True), axes=1)
    cdf = np.cumsum(mixed, axis=-1) / mixed.sum(axis=-1, keepdims=True)
    cdf[..., -1] = np.inf
    return cdf.astype(np.float32)


def _first_order_cdfs() -> tuple[np.ndarray, np.ndarray]:
    """Transition and session-start tables of the first-order chain, broadcast (not copied) to the shapes of
    the full ones so the walk indexes both kinds alike: every intent, momentum and cart reads the same row."""
    transition = _intent_mix_cdf(tables.transition_log_weights())  # (K, K+1)
    start = _intent_mix_cdf(tables.session_start_log_weights())  # (K+1,)
    return (
        np.broadcast_to(transition[None, :, None, None, :], _TRANSITION_CDF.shape),
        np.broadcast_to(start, _SESSION_START_CDF.shape),
    )


def _draw(cdf_rows: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """(n,) inverse-CDF draw from (n, K+1) cumulative rows."""
    return (uniform[:, None] >= cdf_rows).sum(axis=1)


class _WalkState:
    """Mutable per-user state of the walk, held in length-sorted order so active users are a prefix."""

    def __init__(self, users: Users, order: np.ndarray, popularity: np.ndarray, first_order: bool) -> None:
        self.transition_cdf, self.start_cdf = (
            _first_order_cdfs() if first_order else (_TRANSITION_CDF, _SESSION_START_CDF)
        )
        self.intent = users.intent[order]
        self.propensity = users.propensity[order]
        self.drift = users.drift[order]
        self.last_step = np.maximum(users.lengths[order] - 1, 1).astype(np.float64)
        self.main_category = users.main_category[order]
        self.popularity_cdf = np.cumsum(popularity)
        self.current = np.zeros(len(order), dtype=np.int64)
        self.category = np.full(len(order), -1, dtype=np.int64)
        self.cart = np.zeros(len(order), dtype=np.int64)

    def momentum_bin(self, n: int, step: int) -> np.ndarray:
        """(n,) grid index of the first n users' momentary propensity (see Users.momentary_propensity)."""
        momentum = self.propensity[:n] + self.drift[:n] * (step / self.last_step[:n] - 0.5)
        position = (momentum - _MOMENTUM_GRID[0]) / (_MOMENTUM_GRID[1] - _MOMENTUM_GRID[0])
        return np.clip(np.rint(position), 0, len(_MOMENTUM_GRID) - 1).astype(np.int64)

    def next_rows(self, n: int, step: int) -> tuple[np.ndarray | None, np.ndarray]:
        """(n, K+1) cumulative rows the first n users draw their next state from: the transition row (None
        at step 0, where every user starts a session) and the session-start row, used once a session ends."""
        intent, momentum = self.intent[:n], self.momentum_bin(n, step)
        start = self.start_cdf[intent, momentum]
        if step == 0:
            return None, start
        empty_cart = (self.cart[:n] == 0).astype(np.int64)
        return self.transition_cdf[intent, self.current[:n], momentum, empty_cart], start

    @staticmethod
    def next_states(
        transition: np.ndarray | None, start: np.ndarray, uniform: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n,) next state drawn from `next_rows` and whether a new session starts with it."""
        n = len(start)
        if transition is None:
            ended = np.ones(n, dtype=bool)
            following = np.full(n, tables.END)
        else:
            following = _draw(transition, uniform[0])
            ended = following == tables.END
        # A session that ends is followed by the next session's first event.
        following[ended] = _draw(start[ended], uniform[1][ended])
        return following, ended

    def advance(self, n: int, following: np.ndarray, ended: np.ndarray, uniform: np.ndarray) -> np.ndarray:
        """Move the first n users to `following`; returns (n,) emitted category (-1 = none)."""
        self.current[:n] = following
        self.cart[:n] += (following == _ADD).astype(np.int64) - (following == _REMOVE)
        self.cart[:n][following == _CHECKOUT] = 0
        category = self.category[:n]
        category[ended] = -1
        needs = _CATEGORY_STATE[following]
        switch = needs & ((category < 0) | (_BROWSE_STATE[following] & (uniform[2] < _CATEGORY_SWITCH_P)))
        popular = np.searchsorted(
            self.popularity_cdf, uniform[3][switch] * self.popularity_cdf[-1], side="right"
        )
        own = uniform[4][switch] < _MAIN_CATEGORY_P
        category[switch] = np.where(own, self.main_category[:n][switch], popular)
        self.category[:n] = category
        return np.where(needs, category, -1)


def walk(
    users: Users,
    rng: np.random.Generator,
    n_categories: int,
    first_order: bool = False,
    with_oracle: bool = False,
) -> Walk:
    """Run every user's walk in parallel, one step at a time. Cost grows with total events, not users."""
    order = np.argsort(-users.lengths, kind="stable")
    sorted_lengths = users.lengths[order]
    offsets = users.offsets
    starts = offsets[:-1][order]
    n_events = int(offsets[-1])
    state = np.empty(n_events, dtype=np.int8)
    category = np.empty(n_events, dtype=np.int32)
    new_session = np.empty(n_events, dtype=bool)
    next_prob = np.empty((n_events, tables.N_STATES)) if with_oracle else None
    walker = _WalkState(users, order, category_popularity(n_categories), first_order)
    n_active = np.searchsorted(-sorted_lengths, -np.arange(int(sorted_lengths.max())), side="left")
    for step, n in enumerate(n_active):
        uniform = rng.random((5, n))
        transition, start = walker.next_rows(n, step)
        following, ended = walker.next_states(transition, start, uniform)
        emitted_category = walker.advance(n, following, ended, uniform)
        where = starts[:n] + step
        if next_prob is not None:
            next_prob[where] = oracle.next_state_probability(transition, start)
        state[where] = following
        category[where] = emitted_category
        new_session[where] = ended
    return Walk(offsets, state, category, new_session, next_prob)
