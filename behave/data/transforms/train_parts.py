"""The training log in parts: one way of fitting the pipeline whether train fits in memory or not.

Fitting needs counts and sums over every training event. In memory the training log is a single part; out
of core (`out_of_core.py`) the training sequences of each partition are one part, read again for each
pass. Every fitted piece computes statistics of one part that add up across parts, and fits from their sum,
so both paths run the same rules on the same numbers (sums of floats may differ in their last bits, since
they are added part by part).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

import numpy as np

from behave.data.event_log import EventLog


class TrainParts(Protocol):
    """The training log in parts of whole sequences. Each call iterates over (part number, part) from the
    start (a pass; passes may visit parts in any order); an array one pass computes for a part (its token
    keys) can be kept for a later pass."""

    def __call__(self) -> Iterator[tuple[int, EventLog]]: ...

    def keep(self, part: int, name: str, values: np.ndarray) -> None: ...

    def kept(self, part: int, name: str) -> np.ndarray | None: ...


class SinglePart:
    """The training log in memory: one part, kept arrays stay in memory."""

    def __init__(self, train: EventLog) -> None:
        self.train, self.arrays = train, {}

    def __call__(self) -> Iterator[tuple[int, EventLog]]:
        return iter([(0, self.train)])

    def keep(self, part: int, name: str, values: np.ndarray) -> None:
        self.arrays[part, name] = values

    def kept(self, part: int, name: str) -> np.ndarray | None:
        return self.arrays.get((part, name))


def add_counts(total: tuple[int, np.ndarray] | None, part: tuple[int, np.ndarray]) -> tuple[int, np.ndarray]:
    """Sum of two `category_counts` results (missing values, (C,) counts) over the same categories."""
    if total is None:
        return part
    return total[0] + part[0], total[1] + part[1]


def add_keyed_counts(pieces: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(distinct keys ascending, summed counts) of several (keys, counts) pairs, keys distinct within each."""
    pieces = list(pieces)
    if len(pieces) == 1:
        return pieces[0]
    keys = np.concatenate([k for k, _ in pieces])
    counts = np.concatenate([c for _, c in pieces])
    unique, inverse = np.unique(keys, return_inverse=True)
    return unique, np.bincount(inverse, weights=counts, minlength=len(unique)).astype(np.int64)
