"""The simulator's behaviour tables: event states, intent-dependent transitions, dwell and scroll scales.

A *state* is one kind of emitted event (a page view of some page type, or an action). The walk moves between
states with the transition weights below; column `END` ends the session. Weights are relative (a row is
normalised after intent and propensity adjustments), written as readable dicts and compiled to arrays once.
"""

from __future__ import annotations

import numpy as np

PAGE_TYPES = [
    "home",
    "category",
    "product",
    "search_results",
    "reviews",
    "cart",
    "checkout",
    "help",
    "account",
]
ACTIONS = ["search", "add_to_cart", "remove_from_cart", "add_to_wishlist"]
STATES = PAGE_TYPES + ACTIONS
STATE = {name: code for code, name in enumerate(STATES)}
N_STATES = len(STATES)
END = N_STATES  # extra transition column: the session ends after the current event

EVENT_TYPES = ["page_view", *ACTIONS]
# (K,) event_type code of each state: every page-type state is a page view.
STATE_EVENT_TYPE = np.array([0] * len(PAGE_TYPES) + list(range(1, len(ACTIONS) + 1)), dtype=np.int8)
# (K,) page_type code of each state, -1 for actions.
STATE_PAGE_TYPE = np.array(list(range(len(PAGE_TYPES))) + [-1] * len(ACTIONS), dtype=np.int8)
# States that concern a product category (searches carry the category of the query).
CATEGORY_STATES = ["category", "product", "search_results", "reviews", "search", "add_to_cart"]
CATEGORY_STATES += ["remove_from_cart", "add_to_wishlist"]

INTENTS = ["browser", "researcher", "buyer"]
INTENT_MIX = np.array([0.5, 0.3, 0.2])

PORTALS = ["web", "app", "mobile_web"]
PORTAL_MIX = np.array([0.45, 0.3, 0.25])
# Narrow screens need more pixels for the same content.
PORTAL_SCROLL_FACTOR = np.array([1.0, 1.2, 1.5])

CATEGORY_NAMES = ["electronics", "fashion", "home_garden", "beauty", "sports", "toys", "books", "grocery"]
CATEGORY_NAMES += ["automotive", "health", "pets", "office", "jewelry", "music", "baby", "outdoor"]

_TRANSITIONS = {
    "home": {
        "category": 3,
        "search": 3,
        "product": 1.5,
        "account": 0.5,
        "help": 0.3,
        "cart": 0.3,
        "END": 0.8,
    },
    "category": {"product": 5, "category": 1.5, "search": 1, "home": 0.7, "END": 0.8},
    "product": {"product": 2.5, "reviews": 1.2, "add_to_cart": 1.2, "add_to_wishlist": 0.4, "category": 1.2}
    | {"search": 1.2, "home": 0.4, "cart": 0.3, "help": 0.2, "END": 1.0},
    "search_results": {"product": 5, "search": 1.5, "category": 0.5, "END": 0.6},
    "reviews": {"product": 2, "add_to_cart": 0.8, "search": 0.5, "END": 0.5},
    "cart": {"checkout": 2, "remove_from_cart": 1.5, "product": 1, "home": 0.4, "help": 0.3, "END": 1.2},
    "checkout": {"END": 3, "home": 0.5, "help": 0.5, "account": 0.5, "cart": 0.3},
    "help": {"help": 0.8, "home": 1, "account": 0.5, "cart": 0.3, "END": 2},
    "account": {"home": 1, "help": 0.6, "account": 0.5, "END": 1.5},
    "search": {"search_results": 30, "END": 1},
    "add_to_cart": {"cart": 2, "product": 2, "search": 0.8, "category": 0.5, "checkout": 0.3, "END": 0.6},
    "remove_from_cart": {"cart": 1.5, "product": 1, "home": 0.5, "END": 1.2},
    "add_to_wishlist": {"product": 2, "search": 0.7, "category": 0.7, "END": 0.8},
}
_SESSION_START = {
    "home": 4,
    "search": 2,
    "category": 1.2,
    "product": 1.2,
    "cart": 0.6,
    "account": 0.5,
    "help": 0.5,
}

# Per intent, multipliers on the weight of moving INTO a state (applied to every row and to session starts).
_INTENT_PULL = {
    "browser": {"category": 1.6, "home": 1.5, "add_to_cart": 0.4, "checkout": 0.3, "cart": 0.6, "END": 1.3},
    "researcher": {"search": 1.5, "reviews": 2, "product": 1.3, "add_to_wishlist": 2.5, "help": 1.3}
    | {"add_to_cart": 0.8, "checkout": 0.6},
    "buyer": {"add_to_cart": 1.8, "cart": 1.5, "checkout": 2, "END": 0.8, "search": 1.1},
}
# Log-weight added per unit of the user's momentary propensity (latent + drift): keen users head for the cart.
_PROPENSITY_PULL = {"add_to_cart": 0.5, "cart": 0.4, "checkout": 0.6, "help": -0.3, "remove_from_cart": -0.2}
_PROPENSITY_PULL |= {"END": -0.2}

# Median dwell seconds per state (lognormal around it).
_DWELL_MEDIAN_S = {"home": 12, "category": 20, "product": 35, "search_results": 15, "reviews": 45, "cart": 20}
_DWELL_MEDIAN_S |= {"checkout": 60, "help": 50, "account": 25, "search": 6, "add_to_cart": 3}
_DWELL_MEDIAN_S |= {"remove_from_cart": 3, "add_to_wishlist": 3}
# Median scroll depth in pixels per page type on the web portal.
_SCROLL_MEDIAN_PX = {"home": 900, "category": 1500, "product": 1100, "search_results": 1200, "reviews": 1800}
_SCROLL_MEDIAN_PX |= {"cart": 350, "checkout": 450, "help": 700, "account": 300}
# Median hours between sessions per intent: buyers come back sooner.
GAP_MEDIAN_H = np.array([40.0, 22.0, 14.0])


def _column_vector(weights: dict[str, float], default: float) -> np.ndarray:
    """(K+1,) array over states plus END."""
    vector = np.full(N_STATES + 1, default)
    for name, value in weights.items():
        vector[END if name == "END" else STATE[name]] = value
    return vector


def transition_log_weights() -> np.ndarray:
    """(I, K, K+1) log transition weights per intent and current state; -inf where a move never happens."""
    base = np.stack([_column_vector(_TRANSITIONS[name], 0.0) for name in STATES])
    pulls = np.stack([_column_vector(_INTENT_PULL[name], 1.0) for name in INTENTS])
    with np.errstate(divide="ignore"):
        return np.log(base[None, :, :] * pulls[:, None, :])


def session_start_log_weights() -> np.ndarray:
    """(I, K+1) log weights of the first state of a session; END is never a start (-inf)."""
    pulls = np.stack([_column_vector(_INTENT_PULL[name], 1.0) for name in INTENTS])
    with np.errstate(divide="ignore"):
        return np.log(_column_vector(_SESSION_START, 0.0)[None, :] * pulls)


def propensity_direction() -> np.ndarray:
    """(K+1,) log-weight change per unit of propensity."""
    return _column_vector(_PROPENSITY_PULL, 0.0)


def dwell_median_s() -> np.ndarray:
    """(K,) median dwell seconds per state."""
    return np.array([_DWELL_MEDIAN_S[name] for name in STATES], dtype=np.float64)


def scroll_median_px() -> np.ndarray:
    """(P,) median scroll pixels per page type."""
    return np.array([_SCROLL_MEDIAN_PX[name] for name in PAGE_TYPES], dtype=np.float64)


def category_names(n_categories: int) -> list[str]:
    """Readable names for the first 16 categories, numbered names beyond."""
    return [
        CATEGORY_NAMES[i] if i < len(CATEGORY_NAMES) else f"category_{i:03d}" for i in range(n_categories)
    ]
