"""The simulator's per-event oracle: for every event, the distribution its next value was drawn from.

The next value is the event's `activity`: the walk's state, i.e. the page type of a page view or the action
taken (13 values). It is what the walk draws at every step; `event_type` and `page_type` are functions of it,
so their oracles are marginals of this one (`marginal`). The distribution of event t is exactly the one its
state was drawn from: the transition row of the walk's state after event t-1 (its intent, momentary
propensity, cart and current state), mixed with the session-start row by the chance that the session ended.
It knows the user's hidden intent, propensity and drift, which a model sees only through the history, so
on the default walk it is a ceiling; on the first-order chain it is a function of event t-1 alone.

Per-event oracle columns travel in `RawTables.event_extras`, one row per row of `RawTables.events`, named
as `event_log.oracle_column` says (so `EventLog.oracle` finds them after validation):
`oracle:activity=<value>` for each activity, and `oracle:correct` (P(correct = 1)) when the outcome is
simulated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from behave.data.event_log import oracle_column
from behave.data.sources.simulator import tables

NEXT_VALUE_FIELD = "activity"
OUTCOME_FIELD = "correct"
OUTCOME_PROB = oracle_column(OUTCOME_FIELD)


def row_probabilities(cdf_rows: np.ndarray) -> np.ndarray:
    """(n, K+1) float64 probability of each column of (n, K+1) cumulative rows under the walk's inverse-CDF
    draw (`walk._draw`), whose last column is +inf: column j is drawn when cdf[j-1] <= u < cdf[j]."""
    finite = cdf_rows[:, :-1].astype(np.float64)
    upper = np.concatenate([finite, np.ones((len(finite), 1))], axis=1)
    lower = np.concatenate([np.zeros((len(finite), 1)), finite], axis=1)
    return upper - lower


def next_state_probability(transition: np.ndarray | None, start: np.ndarray) -> np.ndarray:
    """(n, K) distribution of the next state: the transition row's states, plus its END share times the
    session-start row (a session start never draws END: its weight is zero and its last finite cdf is 1).
    `transition` is None at step 0, where every user starts a session."""
    start_prob = row_probabilities(start)[:, : tables.N_STATES]
    if transition is None:
        return start_prob
    moves = row_probabilities(transition)
    return moves[:, : tables.N_STATES] + moves[:, tables.END, None] * start_prob


def next_columns() -> list[str]:
    """The event_extras columns of the next-activity oracle, in `tables.STATES` order."""
    return [oracle_column(NEXT_VALUE_FIELD, name) for name in tables.STATES]


def next_distribution(event_extras: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """(the values of `activity`, (N, K) oracle probabilities) read back from a source's event_extras."""
    columns = next_columns()
    missing = [name for name in columns if name not in event_extras]
    if missing:
        raise KeyError(f"event_extras lacks the next-activity oracle columns {missing}: set next_oracle=true")
    return list(tables.STATES), event_extras[columns].to_numpy()


def marginal(probability: np.ndarray, value_of_state: np.ndarray, n_values: int) -> np.ndarray:
    """(N, V) oracle of a field that is a function of the state, e.g. `tables.STATE_EVENT_TYPE` (V = 5)."""
    out = np.zeros((len(probability), n_values))
    for state, value in enumerate(value_of_state):
        out[:, value] += probability[:, state]
    return out


def scores(probability: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """The oracle's accuracy (its most likely value is the true one) and log loss (nats) over N events."""
    p_true = probability[np.arange(len(truth)), truth]
    return {
        "accuracy": float(np.mean(probability.argmax(axis=1) == truth)),
        "log_loss": float(-np.mean(np.log(np.maximum(p_true, 1e-300)))),
    }


def scores_by_position(probability: np.ndarray, truth: np.ndarray, position: np.ndarray) -> pd.DataFrame:
    """Per event position within its sequence (0 = first event): n events, the oracle's accuracy and log
    loss; the ceiling a per-event model is plotted against by history length."""
    hit = probability.argmax(axis=1) == truth
    loss = -np.log(np.maximum(probability[np.arange(len(truth)), truth], 1e-300))
    frame = pd.DataFrame({"position": position, "accuracy": hit, "log_loss": loss})
    grouped = frame.groupby("position")
    return grouped.mean().assign(n=grouped.size()).reset_index()


def next_ceiling(events: pd.DataFrame, event_extras: pd.DataFrame) -> tuple[dict[str, float], pd.DataFrame]:
    """The next-activity oracle's (accuracy and log loss over all events, the same per position) on a
    simulated log, from the source's own tables (user-major, time-ordered, as the simulator returns them)."""
    values, probability = next_distribution(event_extras)
    truth = pd.Categorical(events[NEXT_VALUE_FIELD], categories=values).codes.astype(np.int64)
    user = events["user_id"].to_numpy()
    position = np.arange(len(user)) - np.searchsorted(user, user)
    return scores(probability, truth), scores_by_position(probability, truth, position)
