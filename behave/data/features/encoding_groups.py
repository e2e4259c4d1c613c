"""The column groups of the outcome-prediction benchmark's encodings (see `encodings.py`).

Each reads the fitted state's levels of a field (its top training values, OTHER, MISSING) and fills its
(S, width) slice in place, as the default builder's groups do; names follow the default builder's where a
column means the same (`f_count[v]`, `x_mean`, `last.f[v]`, `last.x`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from behave.data.features.fields import EventInputs
from behave.data.features.kinds import FeatureKind, kinds_of
from behave.data.features.segments import count_into, segment_stats
from behave.data.ingestion.columns import missing_flag
from behave.data.transforms.levels import Levels, one_hot_into

NUMERIC_STATS = ("count", "sum", "mean", "std", "min", "max")


@dataclass(frozen=True)
class ValueCounts:
    """How often each value of one categorical field occurs in the sequence (aggregation encoding)."""

    field: str
    levels: Levels

    def names(self) -> list[str]:
        return [f"{self.field}_count[{v}]" for v in self.levels.labels]

    def kinds(self) -> list[FeatureKind]:
        return kinds_of(self.names(), FeatureKind.FIELD_COUNTS)

    def fill(self, inputs: EventInputs, out: np.ndarray) -> None:
        codes = self.levels.codes(inputs.log.categorical[self.field])
        count_into(out, codes, inputs.segments.narrow_sequence)


@dataclass(frozen=True)
class NumericAggregates:
    """Count of present values, sum, mean, std, min and max of one numeric field; 0 when none is present."""

    field: str

    def names(self) -> list[str]:
        return [f"{self.field}_{stat}" for stat in NUMERIC_STATS]

    def kinds(self) -> list[FeatureKind]:
        return kinds_of(self.names(), FeatureKind.NUMERIC)

    def fill(self, inputs: EventInputs, out: np.ndarray) -> None:
        values = inputs.log.numeric[self.field]
        stats = segment_stats(values, np.flatnonzero(~np.isfinite(values)), inputs.segments)
        for column, stat in enumerate(
            (stats.count, stats.total, stats.mean, stats.std, stats.min, stats.max)
        ):
            out[:, column] = stat


@dataclass(frozen=True)
class LastValue:
    """One-hot of one categorical field's value at the sequence's last event (last-state encoding)."""

    field: str
    levels: Levels

    def names(self) -> list[str]:
        return [f"last.{self.field}[{v}]" for v in self.levels.labels]

    def kinds(self) -> list[FeatureKind]:
        return kinds_of(self.names(), FeatureKind.RECENCY)

    def fill(self, inputs: EventInputs, out: np.ndarray) -> None:
        codes = self.levels.codes(inputs.log.categorical[self.field])
        one_hot_into(out, codes[inputs.segments.lasts])


@dataclass(frozen=True)
class LastNumber:
    """One numeric field's value at the last event: 0 plus a `_missing` flag (when train had missing ones)."""

    field: str
    has_missing: bool

    def names(self) -> list[str]:
        name = f"last.{self.field}"
        return [name, *([missing_flag(name)] if self.has_missing else [])]

    def kinds(self) -> list[FeatureKind]:
        return kinds_of(self.names(), FeatureKind.RECENCY)

    def fill(self, inputs: EventInputs, out: np.ndarray) -> None:
        values = inputs.log.numeric[self.field][inputs.segments.lasts]
        present = np.isfinite(values)
        out[:, 0] = np.where(present, values, 0.0)
        if self.has_missing:
            out[:, 1] = ~present


def _positions(inputs: EventInputs, positions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The events among each sequence's first `positions`: (M,) event index, its sequence, its position."""
    segments = inputs.segments
    events, sequence = segments.spans(
        segments.starts, segments.starts + np.minimum(segments.lengths, positions)
    )
    return events, sequence, events - segments.starts[sequence]


@dataclass(frozen=True)
class ValueAtPosition:
    """One-hot of one categorical field at each of the first `positions` events (index encoding); a
    position past the sequence's end is all zeros."""

    field: str
    levels: Levels
    positions: int

    def names(self) -> list[str]:
        labels = self.levels.labels
        return [f"event{i + 1}.{self.field}[{v}]" for i in range(self.positions) for v in labels]

    def kinds(self) -> list[FeatureKind]:
        return kinds_of(self.names(), FeatureKind.RECENCY)

    def fill(self, inputs: EventInputs, out: np.ndarray) -> None:
        events, sequence, position = _positions(inputs, self.positions)
        codes = self.levels.codes(inputs.log.categorical[self.field])
        out[:] = 0.0
        out[sequence, position * self.levels.width + codes[events]] = 1.0


@dataclass(frozen=True)
class NumberAtPosition:
    """One numeric field at each of the first `positions` events; a missing value or a position past the
    sequence's end is 0 (the `n_events` column tells the two apart from a real 0), with `_missing` flags
    when train had missing values."""

    field: str
    has_missing: bool
    positions: int

    def names(self) -> list[str]:
        values = [f"event{i + 1}.{self.field}" for i in range(self.positions)]
        return values + ([missing_flag(name) for name in values] if self.has_missing else [])

    def kinds(self) -> list[FeatureKind]:
        return kinds_of(self.names(), FeatureKind.RECENCY)

    def fill(self, inputs: EventInputs, out: np.ndarray) -> None:
        events, sequence, position = _positions(inputs, self.positions)
        values = inputs.log.numeric[self.field][events]
        present = np.isfinite(values)
        out[:] = 0.0
        out[sequence, position] = np.where(present, values, 0.0)
        if self.has_missing:
            out[sequence, self.positions + position] = ~present


@dataclass(frozen=True)
class Length:
    """The number of events in the sequence (a prefix's length)."""

    def names(self) -> list[str]:
        return ["n_events"]

    def kinds(self) -> list[FeatureKind]:
        return [FeatureKind.SHAPE]

    def fill(self, inputs: EventInputs, out: np.ndarray) -> None:
        out[:, 0] = inputs.segments.lengths
