"""The one standardiser: (value - training mean) / training std for every numeric input of the neural
models (per-event fields and gaps, `sequences.NumericScaler`; static attributes, `static.StaticEncoder`).

The statistics come from `Moments` of the training values, which parts of a log larger than memory add up
in one pass (`fit_parts`); of one whole column they are numpy's mean and (population) std of its present
values, bit for bit except where the spread is below ~1e-8 of the mean (a unix time that hardly moves):
there the centred correction (`offset` below), which numpy's std leaves out, keeps the std more exact.
A std under 1e-12 (a constant column) becomes 1, and a value that is missing, or not finite after scaling,
becomes 0 (the model reads the missing-value flag instead).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_STD = 1e-12


@dataclass(frozen=True)
class Moments:
    """Of one raw input column over some events: events, present values, their sum, and the sum and sum of
    squares of (value - shift)."""

    events: int
    present: int
    total: float
    shift: float
    centred: float
    squares: float


def column_moments(values: np.ndarray, shift: float | None = None) -> Moments:
    """`Moments` of `values` (NaN = missing), squares summed around `shift` (their own mean when None), so
    parts add up and a column far from zero (unix times) keeps its precision."""
    present = values[~np.isnan(values)]
    total = float(present.sum())
    shift = shift if shift is not None else (total / len(present) if len(present) else 0.0)
    centred = np.subtract(present, shift, out=present)  # `present` is a copy already: reused
    centred_total = float(centred.sum())
    squares = float(np.multiply(centred, centred, out=centred).sum())
    return Moments(len(values), len(present), total, shift, centred_total, squares)


def mean_and_std(parts: list[Moments]) -> tuple[float, float]:
    """Training mean and std of a column from the `Moments` of every part of train (the same shift in all)."""
    present = sum(m.present for m in parts)
    total = parts[0].total if len(parts) == 1 else sum(m.total for m in parts)
    squares = parts[0].squares if len(parts) == 1 else sum(m.squares for m in parts)
    offset = sum(m.centred for m in parts) / present if present else 0.0  # mean - shift
    mean = total / present if present else 0.0
    std = float(np.sqrt(max(squares / present - offset * offset, 0.0))) if present else 1.0
    return mean, (std if std > MIN_STD else 1.0)


def standardise(values: np.ndarray, mean: float, std: float, out: np.ndarray | None = None) -> np.ndarray:
    """(values - mean) / std as a float64 array (`out` when given, which may be `values` itself, else a new
    one); missing (NaN) and non-finite results are 0."""
    scaled = np.subtract(values, mean, out=out)
    scaled /= std
    scaled[~np.isfinite(scaled)] = 0.0
    return scaled
