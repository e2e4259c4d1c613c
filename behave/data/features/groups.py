"""Feature groups over whole sequences: shape and timing, tokens, bigrams, static attributes.

Like the per-field groups in `fields.py`, each knows its column names from the fitted state
and fills its (S, width) slice of the feature matrix in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from behave.data.features.fields import EventInputs, window_label
from behave.data.features.kinds import FeatureKind, kinds_of
from behave.data.features.segments import count_into, distinct_count, segment_stats
from behave.data.ingestion.columns import missing_flag
from behave.data.transforms.levels import OTHER, Levels, one_hot_into

SECONDS_PER_DAY = 86400.0
# 1970-01-01 was a Thursday; with Monday = 0 that is weekday 3.
EPOCH_WEEKDAY = 3


@dataclass(frozen=True)
class SequenceShape:
    """Length, duration, gaps between consecutive events, start time (UTC), events in the recent window.

    A one-event sequence has no gaps: its gap statistics are 0 (never NaN), and `n_events` tells it apart.
    """

    window_s: float

    def names(self) -> list[str]:
        gaps = [f"gap_s_{stat}" for stat in ("mean", "std", "min", "max")]
        recent = f"{window_label(self.window_s)}.n_events"
        return ["n_events", "duration_s", *gaps, "start_hour_utc", "start_weekday_utc", recent]

    def kinds(self) -> list[FeatureKind]:
        return [FeatureKind.SHAPE] * 8 + [FeatureKind.RECENCY]  # the last: events in the recent window

    def fill(self, inputs: EventInputs, out: np.ndarray) -> None:
        segments, time = inputs.segments, inputs.log.time
        differences = np.empty_like(time)
        differences[0] = 0.0
        np.subtract(time[1:], time[:-1], out=differences[1:])
        # The difference at a sequence's first event crosses a sequence boundary: it is left out.
        gaps = segment_stats(differences, segments.starts, segments)
        start = time[segments.starts]
        out[:, 0] = segments.lengths
        out[:, 1] = time[segments.lasts] - start
        for column, stat in enumerate((gaps.mean, gaps.std, gaps.min, gaps.max), start=2):
            out[:, column] = stat
        out[:, 6] = np.mod(start, SECONDS_PER_DAY) / 3600.0
        out[:, 7] = np.mod(np.floor_divide(start, SECONDS_PER_DAY) + EPOCH_WEEKDAY, 7)
        out[:, 8] = segments.lasts + 1 - inputs.window_starts


@dataclass(frozen=True)
class TokenCounts:
    """Counts and shares of the top training tokens (rest and unknown in OTHER); distinct tokens."""

    n_tokens: int
    token_ids: list[int]
    token_names: list[str]

    def names(self) -> list[str]:
        labels = [*self.token_names, OTHER]
        return (
            [f"token_count[{t}]" for t in labels]
            + [f"token_share[{t}]" for t in labels]
            + ["distinct_tokens"]
        )

    def kinds(self) -> list[FeatureKind]:
        return kinds_of(self.names(), FeatureKind.TOKENS)

    def fill(self, inputs: EventInputs, out: np.ndarray) -> None:
        segments, n_top = inputs.segments, len(self.token_ids)
        width = n_top + 1
        column_of_token = np.full(self.n_tokens, n_top, dtype=np.int32)
        column_of_token[self.token_ids] = np.arange(n_top)
        codes = column_of_token[inputs.token_ids]
        counts = out[:, :width]
        count_into(counts, codes, segments.narrow_sequence)
        np.divide(out[:, :width], segments.lengths[:, None].astype(np.float32), out=out[:, width : 2 * width])
        out[:, 2 * width] = distinct_count(
            counts[:, :n_top], inputs.token_ids, codes == n_top, segments.sequence, segments.n_sequences
        )


@dataclass(frozen=True)
class Bigrams:
    """Per-sequence counts of the top training (token, next token) pairs; pairs never span two sequences."""

    n_tokens: int
    pairs: list[list[int]]
    pair_names: list[str]

    def names(self) -> list[str]:
        return [f"bigram_count[{name}]" for name in self.pair_names]

    def kinds(self) -> list[FeatureKind]:
        return kinds_of(self.names(), FeatureKind.BIGRAMS)

    def fill(self, inputs: EventInputs, out: np.ndarray) -> None:
        segments = inputs.segments
        if not self.pairs:
            return
        # One small flat table instead of an (n_tokens x n_tokens) one: a token's row offset (rows only for
        # tokens that start a top pair, plus one shared all -1 row), then row offset + next token -> column.
        width, firsts = self.n_tokens, sorted({a for a, _ in self.pairs})
        row_offset = np.full(width, len(firsts) * width, dtype=np.int64)
        row_offset[firsts] = np.arange(len(firsts)) * width
        table = np.full((len(firsts) + 1) * width, -1, dtype=np.int16)
        for index, (a, b) in enumerate(self.pairs):
            table[row_offset[a] + b] = index
        lookup = row_offset[inputs.token_ids[:-1]]
        lookup += inputs.token_ids[1:]
        columns = table[lookup]
        # Event i + 1 closes pair (i, i + 1); a pair closing at a sequence's first event spans two sequences.
        columns[segments.is_first[1:]] = -1
        closing = np.flatnonzero(columns >= 0)
        sequence = segments.sequence[closing + 1]
        count_into(out, columns[closing], sequence)


@dataclass(frozen=True)
class StaticNumeric:
    """Numeric static attributes passed through; a missing value becomes 0 plus a `_missing` flag."""

    has_missing: dict[str, bool]

    def names(self) -> list[str]:
        names = []
        for column, has_missing in self.has_missing.items():
            names += [f"static.{column}"] + ([missing_flag(f"static.{column}")] if has_missing else [])
        return names

    def kinds(self) -> list[FeatureKind]:
        return kinds_of(self.names(), FeatureKind.STATIC)

    def fill(self, inputs: EventInputs, out: np.ndarray) -> None:
        position = 0
        for column, has_missing in self.has_missing.items():
            values = inputs.log.static[column].to_numpy(dtype=np.float64, na_value=np.nan)
            present = np.isfinite(values)
            out[:, position] = np.where(present, values, 0.0)
            if has_missing:
                out[:, position + 1] = ~present
            position += 1 + int(has_missing)


@dataclass(frozen=True)
class StaticCategorical:
    """One-hot of each categorical static attribute over its fitted values (plus OTHER and MISSING)."""

    levels: dict[str, Levels]

    def names(self) -> list[str]:
        return [f"static.{column}[{v}]" for column, levels in self.levels.items() for v in levels.labels]

    def kinds(self) -> list[FeatureKind]:
        return kinds_of(self.names(), FeatureKind.STATIC)

    def fill(self, inputs: EventInputs, out: np.ndarray) -> None:
        position = 0
        for column, levels in self.levels.items():
            codes = levels.codes(pd.Categorical(inputs.log.static[column]))
            one_hot_into(out[:, position : position + levels.width], codes)
            position += levels.width
