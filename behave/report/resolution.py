"""What a paired comparison can tell at its size, and the one rule that turns its interval into a verdict.

Every verdict table of the report (the headline's verdict over seeds or splits, the per-group table, the
per-metric table) asks `decide`; nothing else decides whether a difference gets a winner.

The difference that matters is the report's `--rope` (region of practical equivalence, in the compared
metric's units). A comparison's resolution is the smallest difference it detects with 80% power at this
number of test sequences (or splits): (z 0.975 + z 0.80) standard errors, the standard error read from the
95% interval's half-width. A smaller true difference leaves the interval on 0 more often than one time in
five. When the resolution is coarser than the rope, two outcomes are not honest: a bare "no significant
difference" (the test could easily have missed a difference that matters) and a winner whose interval still
reaches into the rope (the data cannot say whether the gain matters). Both become `too_few`. A winner whose
whole interval clears the rope stays a winner, however wide.
"""

from __future__ import annotations

from enum import Enum

import numpy as np
from scipy.special import ndtri  # the normal quantile, without importing scipy.stats

from behave.tasks.metric_registry import Metric


class Decision(str, Enum):
    winner = "winner"  # significant, and (where the rope is known) not a question of size
    no_difference = "no_difference"  # not significant, at a size that could tell a difference that matters
    too_few = "too_few"  # cannot detect the difference that matters, and the interval does not clear it
    not_compared = "not_compared"  # no interval (the comparison could not be made)


# Standard errors in a 95% interval's half-width, and in the difference detected with 80% power.
_Z_INTERVAL = float(ndtri(0.975))
_Z_DETECTED = _Z_INTERVAL + float(ndtri(0.80))


def resolution(lo: float, hi: float) -> float:
    """The smallest difference a comparison with 95% interval [lo, hi] detects with 80% power: 2.80
    standard errors, 1.43 times the interval's half-width."""
    return (hi - lo) / 2.0 * _Z_DETECTED / _Z_INTERVAL


def clears(lo: float, hi: float, rope: float) -> bool:
    """The whole interval lies beyond the difference that matters, on one side."""
    return lo > rope or hi < -rope


def decide(lo: float, hi: float, significant: bool, rope: float | None) -> Decision:
    """The verdict of an interval [lo, hi] of model - reference: `significant` is the test's answer at 0
    (the interval excludes 0 and an adjusted p-value, where there is one, is below 0.05); `rope` the
    difference that matters (None: unknown, judged on significance alone, as before the rope existed)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return Decision.not_compared
    if rope is not None and resolution(lo, hi) > rope and not (significant and clears(lo, hi, rope)):
        return Decision.too_few
    return Decision.winner if significant else Decision.no_difference


def rope_for(metric: Metric, headline: Metric, rope: float | None) -> float | None:
    """The rope (given in the headline's units) for a comparison of `metric`: the same where both lie in the
    same range (AUROC and accuracy in [0, 1], RMSE and MAE in the label's units); None for a metric on
    another scale (log loss beside accuracy), which is then judged on significance alone."""
    return rope if rope is not None and metric.range == headline.range else None


def rule_sentence(rope: float | None, drawn: str = "test sequences") -> str:
    """How the report reads an interval against the difference that matters, for the text above a verdict
    table; empty without a rope. `drawn`: what the interval resampled (test sequences, or splits)."""
    if rope is None:
        return ""
    return (
        f" The difference that matters (--rope) is {rope:g}: where the smallest difference a comparison "
        f"detects with 80% power (1.43 times its interval's half-width) exceeds {rope:g} and the interval "
        f'does not lie wholly beyond ±{rope:g}, the verdict is "too few {drawn}" with that smallest '
        "difference, never a winner."
    )
