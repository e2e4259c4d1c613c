"""The embedded default dataset: a synthetic e-commerce clickstream with a known label probability.

Generation, in order (each step has its own random stream, so label knobs never change the events):
1. users: hidden intent (browser / researcher / buyer), latent propensity, drift, preferred portal and
   category, lognormal number of events (`walk.draw_users`);
2. an intent-dependent Markov walk over page views and actions (`walk.walk`);
3. sessions, portals, dwell times, timestamps and scroll depth (`render.render`);
4. the label: p = sigmoid(intercept + count_strength * counts + order_strength * order) from the observed
   events only, intercept set so the positive rate is about `positive_rate` (`label.py`);
5. with `outcome=true`, a skill and a 0/1 outcome per event whose chance rises with practice and falls with
   time away (`outcome.py`).

Per-event switches, all off by default (and then absent from the fingerprint, so the default log and its
cache key stay as they were): `next_oracle` adds the `activity` column (the walk's state, the default next
value) and its per-event oracle (`oracle.py`) in `RawTables.event_extras`; `first_order` makes the walk a
first-order chain; `outcome` adds `skill`, `correct` and the outcome's oracle. `label_drift` d makes the
label law change once, halfway through the log's span of start times (a log for rolling-origin evaluation):
the logit of each user who starts in the second half is scaled by 1 - d (with its own intercept, so the
label share stays), so d = 1 leaves their labels unrelated to their events and d = 2 reverses the law; 0
keeps it stationary.

`label_noise` is a FLIP probability e: the drawn label is flipped with probability e, and `oracle_prob` is
the Bayes-optimal probability of the observed label, p * (1 - 2e) + e.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from behave.data.event_log import RawTables
from behave.data.sources.simulator import label as label_model
from behave.data.sources.simulator import oracle, tables
from behave.data.sources.simulator.outcome import Outcome, draw_outcome
from behave.data.sources.simulator.render import Rendered, render
from behave.data.sources.simulator.walk import Walk, draw_users, walk

# Bump when a change to the generator changes its output for the same arguments (invalidates caches).
VERSION = 3


class ClickstreamSimulator:
    """Synthetic clickstream source. `load()` returns events, labels and the oracle probability per user.

    Knobs: `order_strength` / `count_strength` scale the two parts of the label logit (0 disables a part);
    `label_noise` is a label flip probability; `median_events`, `length_sigma`, `min_events` and `max_events`
    shape the lognormal number of events per user; `n_categories` sets how many product categories appear.
    Per-event switches (see the module docstring): `next_oracle`, `first_order`, `outcome` with `n_skills`.
    """

    def __init__(
        self,
        n_users: int = 6000,
        seed: int = 0,
        order_strength: float = 1.0,
        count_strength: float = 1.0,
        label_noise: float = 0.0,
        positive_rate: float = 0.3,
        median_events: float = 30,
        max_events: int = 512,
        n_categories: int = 8,
        length_sigma: float = 0.9,
        min_events: int = 3,
        start_date: str = "2024-01-01",
        next_oracle: bool = False,
        first_order: bool = False,
        outcome: bool = False,
        n_skills: int = 10,
        label_drift: float = 0.0,
    ) -> None:
        self.n_users = n_users
        self.seed = seed
        self.order_strength = order_strength
        self.count_strength = count_strength
        self.label_noise = label_noise
        self.positive_rate = positive_rate
        self.median_events = median_events
        self.max_events = max_events
        self.n_categories = n_categories
        self.length_sigma = length_sigma
        self.min_events = min_events
        self.start_date = start_date
        self.next_oracle = next_oracle
        self.first_order = first_order
        self.outcome = outcome
        self.n_skills = n_skills
        self.label_drift = label_drift

    def fingerprint(self) -> dict:
        """Every constructor argument plus the generator version: the cache key of this source. The per-event
        switches appear only when set, so logs made before they existed keep their key."""
        switches = {name: getattr(self, name) for name in _SWITCH_DEFAULTS}
        return {
            "name": "ClickstreamSimulator",
            "version": VERSION,
            "n_users": self.n_users,
            "seed": self.seed,
            "order_strength": self.order_strength,
            "count_strength": self.count_strength,
            "label_noise": self.label_noise,
            "positive_rate": self.positive_rate,
            "median_events": self.median_events,
            "max_events": self.max_events,
            "n_categories": self.n_categories,
            "length_sigma": self.length_sigma,
            "min_events": self.min_events,
            "start_date": self.start_date,
        } | {key: value for key, value in switches.items() if value != _SWITCH_DEFAULTS[key]}

    def load(self) -> RawTables:
        """Generate the data. Same arguments, same tables."""
        self._validate()
        # A fifth stream for the outcome: spawning more children leaves the first four as they were.
        users_rng, walk_rng, render_rng, label_rng, outcome_rng = np.random.default_rng(
            np.random.SeedSequence(self.seed)
        ).spawn(5)
        users = draw_users(
            users_rng,
            self.n_users,
            self.n_categories,
            self.median_events,
            self.length_sigma,
            (self.min_events, self.max_events),
        )
        steps = walk(users, walk_rng, self.n_categories, self.first_order, self.next_oracle)
        events = render(steps, users, render_rng)
        extras = self._label_probabilities(steps, events)
        labels = self._draw_labels(extras, label_rng)
        outcome = None
        if self.outcome:
            outcome = draw_outcome(events.user, events.time_s, self.n_skills, outcome_rng)
        return RawTables(
            events=self._events_frame(steps, events).assign(**self._per_event_columns(steps, outcome)),
            events_name=f"simulator(n_users={self.n_users}, seed={self.seed})",
            labels=labels,
            labels_name="simulator labels",
            extras=extras.assign(intent=pd.Categorical.from_codes(users.intent, tables.INTENTS)),
            event_extras=_event_extras(steps, outcome),
        )

    def _per_event_columns(self, steps: Walk, outcome: Outcome | None) -> dict[str, pd.Series]:
        """The observable columns the per-event switches add (none by default)."""
        columns = {}
        if self.next_oracle:
            columns[oracle.NEXT_VALUE_FIELD] = _strings(steps.state.astype(np.int64), tables.STATES)
        if outcome is not None:
            columns["skill"] = _strings(outcome.skill, [f"skill_{i:02d}" for i in range(self.n_skills)])
            columns[oracle.OUTCOME_FIELD] = pd.Series(outcome.correct)
        return columns

    def _validate(self) -> None:
        if not 0.0 <= self.label_noise < 0.5:
            raise ValueError(f"label_noise is a flip probability in [0, 0.5), got {self.label_noise}")
        if not self.label_noise < self.positive_rate < 1.0 - self.label_noise:
            raise ValueError(
                f"positive_rate must lie strictly between label_noise and 1 - label_noise "
                f"({self.label_noise}, {1 - self.label_noise}), got {self.positive_rate}"
            )
        if not 1 <= self.min_events <= self.max_events:
            raise ValueError(f"need 1 <= min_events <= max_events, got {self.min_events}, {self.max_events}")
        if self.n_users < 1 or self.n_categories < 1:
            raise ValueError("n_users and n_categories must be at least 1")
        if self.outcome and self.n_skills < 1:
            raise ValueError(f"n_skills must be at least 1 when outcome is on, got {self.n_skills}")

    def _label_probabilities(self, steps: Walk, events: Rendered) -> pd.DataFrame:
        """Per user: the clean probability, the oracle (noisy-label) probability, and the two logit parts
        (as the law before a `label_drift` change has them: what a model of the log's first half learns)."""
        n_users = len(steps.offsets) - 1
        counts = label_model.count_features(steps, events.user, n_users)
        order = label_model.order_features(steps, events)
        count_logit = self.count_strength * label_model.weighted_sum(counts, label_model.COUNT_WEIGHTS)
        order_logit = self.order_strength * label_model.weighted_sum(order, label_model.ORDER_WEIGHTS)
        logit = count_logit + order_logit
        after_change = self._after_drift(events.time_s[steps.offsets[:-1]])
        logit = np.where(after_change, (1.0 - self.label_drift) * logit, logit)
        # One intercept per side of the change: the positive rate stays `positive_rate` on both, so only the
        # law drifts, not the label share.
        intercept = np.zeros(n_users)
        for side in (after_change, ~after_change):
            if side.any():
                intercept[side] = label_model.calibrate_intercept(
                    logit[side], self.positive_rate, self.label_noise
                )
        clean = label_model.sigmoid(intercept + logit)
        return pd.DataFrame(
            {
                "oracle_prob": label_model.with_flips(clean, self.label_noise),
                "clean_prob": clean,
                "count_logit": count_logit,
                "order_logit": order_logit,
            },
            index=pd.Index(np.arange(n_users, dtype=np.int64), name="user_id"),
        )

    def _after_drift(self, start_s: np.ndarray) -> np.ndarray:
        """(U,) whether a user's label follows the changed law: with `label_drift`, the users who start in
        the second half of the span of start times (a sudden change, which a model of the past cannot
        follow); nobody without it."""
        if self.label_drift == 0.0:
            return np.zeros(len(start_s), dtype=bool)
        return start_s > 0.5 * (start_s.min() + start_s.max())

    def _draw_labels(self, extras: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        clean_draw, flip_draw = rng.random((2, len(extras)))
        label = (clean_draw < extras["clean_prob"].to_numpy()) ^ (flip_draw < self.label_noise)
        return pd.DataFrame(
            {"user_id": extras.index.to_numpy(), "purchase_next_week": label.astype(np.int64)}
        )

    def _events_frame(self, steps: Walk, events: Rendered) -> pd.DataFrame:
        start_ns = pd.Timestamp(self.start_date).as_unit("ns").value
        timestamp_ns = start_ns + np.rint(events.time_s * 1e9).astype(np.int64)
        categories = tables.category_names(self.n_categories)
        return pd.DataFrame(
            {
                "user_id": events.user,
                "timestamp": timestamp_ns.view("datetime64[ns]"),
                "session": events.session,
                "event_type": _strings(tables.STATE_EVENT_TYPE[steps.state], tables.EVENT_TYPES),
                "page_type": _strings(tables.STATE_PAGE_TYPE[steps.state], tables.PAGE_TYPES),
                "category": _strings(steps.category, categories),
                "portal": _strings(events.portal, tables.PORTALS),
                "scroll_px": events.scroll_px,
                "dwell_s": events.dwell_s,
                # The truth behind the label, for checking attributions (behave-explain); no data config
                # lists it, so no model reads it.
                "planted_effect": _strings(
                    label_model.planted_events(steps, events), list(label_model.EVENT_EFFECTS)
                ),
            }
        )


# The per-event switches at their constructor defaults, which the fingerprint leaves out.
_SWITCH_DEFAULTS = {
    "next_oracle": False,
    "first_order": False,
    "outcome": False,
    "n_skills": 10,
    "label_drift": 0.0,
}


def _event_extras(steps: Walk, outcome: Outcome | None) -> pd.DataFrame | None:
    """Per-event oracle columns, one row per event in the events table's order; None when no switch asks."""
    columns = {}
    if steps.next_prob is not None:
        columns |= dict(zip(oracle.next_columns(), steps.next_prob.T))
    if outcome is not None:
        columns[oracle.OUTCOME_PROB] = outcome.probability
    return pd.DataFrame(columns) if columns else None


def _strings(codes: np.ndarray, names: list[str]) -> pd.Series:
    """(N,) pandas string column from integer codes; code -1 becomes NaN."""
    # Arrow's take builds the string column ~5x faster than pandas' categorical-to-str cast at 10M rows.
    values = pc.take(pa.array(names, type=pa.string()), pa.array(codes, mask=codes < 0))
    return pd.Series(values.to_pandas(), dtype="str")
