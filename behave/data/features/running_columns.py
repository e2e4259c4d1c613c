"""The column arithmetic of the running features (`running.py`), for one chunk of rows.

A chunk holds the events its rows read (each row's sequence from its start up to the chunk's last row in
it), in a local order. Every count is an exclusive running sum over those events, read at the row's own
event minus its value at the sequence's start: the events strictly before the row's own, in its sequence.
The running sum of a value also locates its last occurrence: if g occurrences lie before the row's event,
the last is the g-th, so recency costs a gather from the occurrences' positions and no second scan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ChunkEvents:
    """`time`, `token_ids` (n,) of the chunk's events; `tokens` (n,) each one's token column (top tokens,
    then OTHER); `fields` field -> (n,) level codes; `outcome` (n,) 0/1/NaN or None. `row_event` (R,) each
    row's own event, `row_start` (R,) its sequence's first event, both local indices."""

    time: np.ndarray
    token_ids: np.ndarray
    tokens: np.ndarray
    fields: dict[str, np.ndarray]
    outcome: np.ndarray | None
    row_event: np.ndarray
    row_start: np.ndarray

    def _sums(self) -> np.ndarray:
        n = len(self.time) + 1
        buffer = np.empty(n, dtype=np.int32 if n < np.iinfo(np.int32).max else np.int64)
        buffer[0] = 0
        return buffer

    def count_into(self, out: np.ndarray, mask: np.ndarray, sums: np.ndarray) -> np.ndarray:
        """Write each row's history count of `mask` into `out` (R,); returns the running sum read at each
        row's event (how many events of the chunk before it hold `mask`)."""
        np.cumsum(mask, dtype=sums.dtype, out=sums[1:])
        upto = sums[self.row_event]
        np.subtract(upto, sums[self.row_start], out=out)
        return upto

    def shape(self, out: np.ndarray, time_known: bool) -> None:
        """position, gap_s, elapsed_s into out (R, 3)."""
        has_last = self.row_event > self.row_start
        now = self.time[self.row_event] if time_known else self.time[np.maximum(self.row_event - 1, 0)]
        previous = self.row_event - 1 if time_known else self.row_event - 2
        has_previous = has_last if time_known else previous >= self.row_start
        out[:, 0] = self.row_event - self.row_start
        out[:, 1] = np.where(has_previous, now - self.time[np.maximum(previous, 0)], np.nan)
        out[:, 2] = np.where(has_last | time_known, now - self.time[self.row_start], np.nan)

    def counts(
        self, out: np.ndarray, codes: np.ndarray, recency: np.ndarray | None, time_known: bool
    ) -> None:
        """Counts so far of each column value of `codes` into out (R, width); with `recency` (R, 2 x top
        values), events and seconds since each top value's last occurrence (NaN where it never occurred)."""
        sums = self._sums()
        n_top = 0 if recency is None else recency.shape[1] // 2
        reference = None
        if n_top:
            reference = self.time[self.row_event if time_known else np.maximum(self.row_event - 1, 0)]
        for value in range(out.shape[1]):
            mask = codes == value
            upto = self.count_into(out[:, value], mask, sums)
            if value < n_top:
                self._recency(recency[:, 2 * value : 2 * value + 2], mask, upto, out[:, value], reference)

    def _recency(self, out, mask, upto, count, reference) -> None:
        occurrences = np.flatnonzero(mask)
        if not len(occurrences):
            out[:] = np.nan
            return
        # Where none lies before the row, index -1 reads some occurrence: overwritten with NaN below.
        np.subtract(upto, 1, out=upto)
        last = occurrences[upto]
        never = count == 0
        np.subtract(self.row_event, last, out=out[:, 0])
        np.subtract(reference, self.time[last], out=out[:, 1])
        np.copyto(out[:, 0], np.nan, where=never)
        np.copyto(out[:, 1], np.nan, where=never)

    def performance(self, out: np.ndarray, known: list[tuple[np.ndarray, int]]) -> None:
        """Successes and failures so far into out (R, ...): overall, then per known field (codes, width)
        per value and on the row's own value."""
        sums = self._sums()
        success, failure = self.outcome == 1.0, self.outcome == 0.0
        self.count_into(out[:, 0], success, sums)
        self.count_into(out[:, 1], failure, sums)
        column, rows = 2, np.arange(len(self.row_event))
        for codes, width in known:
            for outcome in (success, failure):
                for value in range(width):
                    self.count_into(out[:, column + value], outcome & (codes == value), sums)
                # Event t's own value of a known field is readable: its count so far is the one that matters
                # (none for a live row's event, whose value is unknown: code -1).
                current = codes[self.row_event]
                if current.min(initial=0) < 0:
                    out[:, column + width] = np.where(current >= 0, out[rows, column + current], np.nan)
                else:
                    out[:, column + width] = out[rows, column + current]
                column += width + 1

    def last(self, codes: np.ndarray, back: int, dtype: pd.CategoricalDtype) -> pd.Categorical:
        """The value `back` events before each row's own event, as a categorical; missing before the start."""
        event = self.row_event - back
        values = np.where(event >= self.row_start, codes[np.maximum(event, 0)], -1)
        return pd.Categorical.from_codes(values, dtype=dtype)


def chunk_events(log, token_ids, sequence, position, top_tokens, n_tokens, levels, outcome) -> ChunkEvents:
    """The events of a chunk of rows given in event order (so each sequence is one run of rows, whose last
    row reads the most events), with codes in the narrowest integer type.

    A live row (position == its sequence's length: the event after the last, not in the log) gets a slot of
    its own after its sequence's events, holding nothing known: time NaN, field codes -1, outcome NaN. Every
    count is exclusive, so the slot reaches no row; only the live row's own reads (its known fields, its
    time with `time_known`) see it, as unknown."""
    run_starts = np.flatnonzero(np.r_[True, sequence[1:] != sequence[:-1]])
    run_ends = np.r_[run_starts[1:], len(sequence)]
    run_sequence = sequence[run_starts]
    slots = position[run_ends - 1] + 1  # each run's events, and a live row's slot
    held = np.minimum(slots, log.lengths[run_sequence])
    events = log.events_of(run_sequence, held)
    row_start = np.repeat(np.r_[0, np.cumsum(slots)[:-1]], run_ends - run_starts)
    gather = _Gather(events, slots, held)
    column_of_token = np.full(n_tokens, len(top_tokens), dtype=_narrow(len(top_tokens) + 1))
    column_of_token[top_tokens] = np.arange(len(top_tokens))
    chunk_ids = gather(token_ids, 0)
    return ChunkEvents(
        time=gather(log.time, np.nan),
        token_ids=chunk_ids,
        tokens=column_of_token[chunk_ids],
        fields={
            f: gather(lv.codes(log.categorical[f][events]).astype(_narrow(lv.width)), -1, taken=True)
            for f, lv in levels.items()
        },
        outcome=None if outcome is None else gather(log.numeric[outcome], np.nan),
        row_event=row_start + position,
        row_start=row_start,
    )


class _Gather:
    """Reads per-event arrays into the chunk's slots: `events` (the log's events, run by run) fill the first
    `held` slots of each run's `slots`; a run's one slot beyond its sequence (a live row's) gets `fill`."""

    def __init__(self, events, slots: np.ndarray, held: np.ndarray) -> None:
        self.events = events
        self.n_slots = int(slots.sum())
        self.held_slots = None  # every slot holds an event: read straight through
        if np.any(held < slots):
            first_slot = np.r_[0, np.cumsum(slots)[:-1]]
            rank = np.arange(int(held.sum())) - np.repeat(np.r_[0, np.cumsum(held)[:-1]], held)
            self.held_slots = np.repeat(first_slot, held) + rank

    def __call__(self, values: np.ndarray, fill, taken: bool = False) -> np.ndarray:
        """`values` per event of the log (or, `taken`, already read at `events`) into the slots."""
        read = values if taken else values[self.events]
        if self.held_slots is None:
            return read
        out = np.full(self.n_slots, fill, dtype=read.dtype)
        out[self.held_slots] = read
        return out


def _narrow(width: int) -> type:
    """The narrowest integer type of codes 0..width - 1 (less memory traffic in the per-value comparisons)."""
    return np.int16 if width < np.iinfo(np.int16).max else np.int32
