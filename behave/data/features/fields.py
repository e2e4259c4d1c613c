"""Feature groups built per event field: one group per categorical field and one per numeric field.

A group knows its column names (from the fitted state alone) and fills its (S, width) slice of the
column-major float32 feature matrix in place. See `features.py` for the full column list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from behave.data.event_log import EventLog
from behave.data.features.kinds import FeatureKind
from behave.data.features.segments import Segments, count_into, distinct_count, segment_stats
from behave.data.ingestion.columns import missing_flag
from behave.data.transforms.levels import Levels, one_hot_into


@dataclass(frozen=True)
class EventInputs:
    """What every group reads: the log, its token ids (N,) int64, its sequence layout, and (S,) the index
    of each sequence's first event within spec.last_window_s seconds of its last event."""

    log: EventLog
    token_ids: np.ndarray
    segments: Segments
    window_starts: np.ndarray


class FeatureGroup(Protocol):
    """A block of feature columns: names from the fitted state alone, the kind of each column (what it is
    about, for explanations), values written into `out` (S, width): whole columns of the column-major
    table, zeroed, so counts can be added to them in place."""

    def names(self) -> list[str]: ...

    def kinds(self) -> list[FeatureKind]: ...

    def fill(self, inputs: EventInputs, out: np.ndarray) -> None: ...


def window_label(window_s: float) -> str:
    """`last_1d`, `last_6h`, `last_30min` or `last_90s`: the prefix of the recent-window columns."""
    for unit, seconds in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if window_s >= seconds and window_s % seconds == 0:
            return f"last_{int(window_s // seconds)}{unit}"
    return f"last_{window_s:g}s"


@dataclass(frozen=True)
class CategoricalField:
    """Per-value counts and shares, distinct values, first/last one-hots and last-k counts of one field.

    With `window_s` set (for the first, event-type-like field) it also counts values in the recent window.
    """

    field: str
    levels: Levels
    last_k: int
    window_s: float | None = None

    def names(self) -> list[str]:
        labels, name = self.levels.labels, self.field
        names = [f"{name}_count[{v}]" for v in labels] + [f"{name}_share[{v}]" for v in labels]
        names += [f"distinct.{name}", *[f"first.{name}[{v}]" for v in labels]]
        names += [f"last.{name}[{v}]" for v in labels]
        if self.last_k > 0:
            names += [f"last{self.last_k}.{name}_count[{v}]" for v in labels]
        if self.window_s is not None:
            names += [f"{window_label(self.window_s)}.{name}_count[{v}]" for v in labels]
        return names

    def kinds(self) -> list[FeatureKind]:
        # Counts and shares over the whole sequence, distinct values; then first, last, last k, window.
        n_counts = 2 * self.levels.width + 1
        return [FeatureKind.FIELD_COUNTS] * n_counts + [FeatureKind.RECENCY] * (len(self.names()) - n_counts)

    def fill(self, inputs: EventInputs, out: np.ndarray) -> None:
        segments, width = inputs.segments, self.levels.width
        n_sequences, n_top = segments.n_sequences, len(self.levels.values)
        values = inputs.log.categorical[self.field]
        codes = self.levels.codes(values, np.int32)
        counts = out[:, :width]
        count_into(counts, codes, segments.narrow_sequence)
        np.divide(out[:, :width], segments.lengths[:, None].astype(np.float32), out=out[:, width : 2 * width])
        # Present values without their own column: unseen or rare ones, counted by raw category code.
        rest = (codes == n_top) & (values.codes >= 0)
        distinct = distinct_count(counts[:, :n_top], values.codes, rest, segments.sequence, n_sequences)
        out[:, 2 * width] = distinct
        column = 2 * width + 1
        for events in (segments.starts, segments.lasts):
            one_hot_into(out[:, column : column + width], codes[events])
            column += width
        if self.last_k > 0:
            events, sequence = segments.spans(
                np.maximum(segments.lasts + 1 - self.last_k, segments.starts), segments.lasts + 1
            )
            count_into(out[:, column : column + width], codes[events], sequence)
            column += width
        if self.window_s is not None:
            self._window_counts(inputs, codes, counts, out[:, column:])

    def _window_counts(
        self, inputs: EventInputs, codes: np.ndarray, counts: np.ndarray, out: np.ndarray
    ) -> None:
        """(S, width) counts within the recent window into `out`, from whichever side of the window start is
        smaller: the events inside it, or all `counts` less those before it."""
        segments = inputs.segments
        begin = inputs.window_starts
        n_before = int((begin - segments.starts).sum())
        if 2 * n_before > len(codes):
            events, sequence = segments.spans(begin, segments.lasts + 1)
            count_into(out, codes[events], sequence)
            return
        events, sequence = segments.spans(segments.starts, begin)
        count_into(out, codes[events], sequence)
        np.subtract(counts, out, out=out)


@dataclass(frozen=True)
class NumericField:
    """NaN-aware aggregates of one numeric field plus its first and last value.

    Sequences without any present value get 0 for every statistic (and `_count` 0 says so); a missing
    first/last value is written as 0 with a `_missing` flag when train had missing values.
    """

    field: str
    has_missing: bool

    def names(self) -> list[str]:
        name = self.field
        stats = [f"{name}_{stat}" for stat in ("count", "sum", "mean", "std", "min", "max")]
        ends = [f"first.{name}", f"last.{name}"]
        flags = [missing_flag(f"first.{name}"), missing_flag(f"last.{name}")] if self.has_missing else []
        return stats + ends + flags

    def kinds(self) -> list[FeatureKind]:
        return [FeatureKind.NUMERIC] * 6 + [FeatureKind.RECENCY] * (len(self.names()) - 6)

    def fill(self, inputs: EventInputs, out: np.ndarray) -> None:
        segments = inputs.segments
        values = inputs.log.numeric[self.field]
        # Infinite values are treated as missing so the output stays finite.
        present = np.isfinite(values)
        stats = segment_stats(values, np.flatnonzero(~present), segments)
        for column, stat in enumerate(
            (stats.count, stats.total, stats.mean, stats.std, stats.min, stats.max)
        ):
            out[:, column] = stat
        for column, events in enumerate((segments.starts, segments.lasts), start=6):
            out[:, column] = np.where(present[events], values[events], 0.0)
            if self.has_missing:
                out[:, column + 2] = ~present[events]
