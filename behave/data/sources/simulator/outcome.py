"""A per-event binary outcome with a planted dependence on history, in the style of knowledge tracing.

Every event practises one `skill` (a user dwells on a skill for a while, then moves to another, popular
skills more often), and is done right (`correct` = 1) with probability

    p = sigmoid(BASE + ability_u - difficulty_s + LEARN * log1p(practice) - FORGET * log1p(hours_away))

where practice counts the user's earlier events on skill s and hours_away is the time since the last of
them (0 at the first practice). Practice raises success, time away lowers it; p is exposed per event as the
oracle. It knows the user's hidden ability, which a model sees only through past outcomes, so it is a
ceiling. The outcome has its own random stream: switching it on leaves every other column unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_BASE = -0.3
_LEARN = 0.6
_FORGET = 0.35
_ABILITY_SD = 1.0
_DIFFICULTY_RANGE = (-1.0, 1.0)
# Chance that an event stays on the user's previous skill, so practice builds up in runs.
_STAY_P = 0.7


@dataclass(frozen=True)
class Outcome:
    """Per event, N events in the walk's flat user-major order."""

    skill: np.ndarray  # (N,) int64 index of the skill practised
    practice: np.ndarray  # (N,) int64 earlier events of the same user on the same skill
    hours_away: np.ndarray  # (N,) float64 hours since the user last practised the skill, 0 if never
    probability: np.ndarray  # (N,) float64 true P(correct = 1) given the history and the hidden ability
    correct: np.ndarray  # (N,) int64 0/1


def skill_difficulty(n_skills: int) -> np.ndarray:
    """(K,) difficulty of each skill, evenly spread so some skills are easy and some hard."""
    return np.linspace(*_DIFFICULTY_RANGE, n_skills)


def success_probability(
    ability: np.ndarray, difficulty: np.ndarray, practice: np.ndarray, hours_away: np.ndarray
) -> np.ndarray:
    """The planted rule, elementwise."""
    logit = _BASE + ability - difficulty + _LEARN * np.log1p(practice) - _FORGET * np.log1p(hours_away)
    return 1.0 / (1.0 + np.exp(-logit))


def _skills(user: np.ndarray, n_skills: int, rng: np.random.Generator) -> np.ndarray:
    """(N,) skill per event: a fresh Zipf-like draw, or (with chance _STAY_P) the user's previous skill."""
    popularity = 1.0 / np.arange(1, n_skills + 1) ** 0.7
    fresh = rng.choice(n_skills, len(user), p=popularity / popularity.sum())
    first = np.concatenate([[True], user[1:] != user[:-1]])
    draws_fresh = first | (rng.random(len(user)) >= _STAY_P)
    # Each event takes the skill of the latest fresh draw at or before it (a user's first event is fresh).
    source = np.maximum.accumulate(np.where(draws_fresh, np.arange(len(user)), 0))
    return fresh[source]


def _practice(user: np.ndarray, skill: np.ndarray, time_s: np.ndarray, n_skills: int):
    """(N,) earlier events of the same (user, skill) and (N,) hours since the last one (0 if none)."""
    key = user * n_skills + skill
    order = np.argsort(key, kind="stable")  # events of one (user, skill) stay in time order
    sorted_key = key[order]
    group_first = np.concatenate([[True], sorted_key[1:] != sorted_key[:-1]])
    group_start = np.maximum.accumulate(np.where(group_first, np.arange(len(key)), 0))
    practice = np.empty(len(key), dtype=np.int64)
    practice[order] = np.arange(len(key)) - group_start
    sorted_time = time_s[order]
    gap = np.concatenate([[0.0], np.diff(sorted_time)])
    hours_away = np.empty(len(key))
    hours_away[order] = np.where(group_first, 0.0, gap / 3600.0)
    return practice, hours_away


def draw_outcome(user: np.ndarray, time_s: np.ndarray, n_skills: int, rng: np.random.Generator) -> Outcome:
    """Skills, practice, true success probability and drawn outcome of every event; `user` (N,) is the
    walk's sorted user index and `time_s` (N,) the rendered event times, increasing within each user."""
    n_users = int(user.max()) + 1 if len(user) else 0
    ability = rng.normal(0.0, _ABILITY_SD, n_users)
    skill = _skills(user, n_skills, rng)
    practice, hours_away = _practice(user, skill, time_s, n_skills)
    probability = success_probability(ability[user], skill_difficulty(n_skills)[skill], practice, hours_away)
    correct = (rng.random(len(user)) < probability).astype(np.int64)
    return Outcome(skill, practice, hours_away, probability, correct)
