"""The simulator's per-event outcome: practice raises success on a skill, time away lowers it, and the
exposed probability is the one each outcome was drawn with."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from behave.data.event_log import RawTables
from behave.data.sources.simulator import oracle
from behave.data.sources.simulator.outcome import success_probability
from behave.data.sources.simulator.source import ClickstreamSimulator


@pytest.fixture(scope="module")
def outcome_log() -> RawTables:
    return ClickstreamSimulator(n_users=1500, seed=2, outcome=True).load()


def _practice_and_hours(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """From the observable columns: earlier events of the user on the skill, hours since the last."""
    by_skill = events.assign(t=events["timestamp"].astype("int64") / 1e9).groupby(["user_id", "skill"])
    practice = by_skill.cumcount().to_numpy()
    hours = (events["timestamp"].astype("int64") / 1e9 - by_skill["t"].shift()).to_numpy() / 3600.0
    return practice, hours


def test_outcome_columns_and_oracle(outcome_log):
    events = outcome_log.events
    assert set(events["correct"].unique()) == {0, 1}
    assert events["skill"].nunique() == 10 and events["skill"].notna().all()
    probability = outcome_log.event_extras[oracle.OUTCOME_PROB].to_numpy()
    assert len(probability) == len(events) and ((probability > 0) & (probability < 1)).all()


def test_success_rate_rises_with_practice(outcome_log):
    practice, _ = _practice_and_hours(outcome_log.events)
    rates = outcome_log.events["correct"].groupby(np.digitize(practice, [1, 3, 6, 12])).mean()
    assert len(rates) == 5
    assert np.all(np.diff(rates.to_numpy()) > 0.03)


def test_success_rate_falls_with_time_away(outcome_log):
    practice, hours = _practice_and_hours(outcome_log.events)
    correct = outcome_log.events["correct"].to_numpy()
    early = (practice >= 1) & (practice <= 5)
    assert correct[early & (hours < 0.5)].mean() > correct[early & (hours > 12)].mean() + 0.1


def test_oracle_is_calibrated_and_ranks_outcomes(outcome_log):
    correct = outcome_log.events["correct"].to_numpy()
    probability = outcome_log.event_extras[oracle.OUTCOME_PROB].to_numpy()
    decile = np.digitize(probability, np.quantile(probability, np.linspace(0.1, 0.9, 9)))
    observed = pd.Series(correct).groupby(decile).mean()
    expected = pd.Series(probability).groupby(decile).mean()
    assert np.max(np.abs(observed - expected)) < 0.03
    # The ceiling a knowledge-tracing model is measured against (seed 2): about 0.81.
    assert 0.75 < roc_auc_score(correct, probability) < 0.88


def test_planted_rule_directions():
    practice = np.array([0, 1, 10, 10])
    hours = np.array([0.0, 0.0, 0.0, 48.0])
    p = success_probability(np.zeros(4), np.zeros(4), practice, hours)
    assert p[0] < p[1] < p[2] and p[3] < p[2]


def test_n_skills_is_checked():
    with pytest.raises(ValueError, match="n_skills"):
        ClickstreamSimulator(n_users=10, outcome=True, n_skills=0).load()
