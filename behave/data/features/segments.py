"""Vectorised per-sequence reductions over the shared event order, for the tabular features.

Sequence s owns events `starts[s]:starts[s] + lengths[s]` and every sequence has >= 1 event, so
`np.<ufunc>.reduceat(values, starts)` never meets an empty segment. Count matrices are built
column-major (key = column * S + sequence) because the feature matrix is column-major: each column of
an (S, W) block is then one contiguous stretch, which `count_into` adds to in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Segments:
    """The sequence layout of one log: S sequences over N events. Plain arrays, safe to share across threads.

    offsets   (S+1,) int64, sequence s owns events offsets[s]:offsets[s + 1]
    starts    (S,)   index of each sequence's first event
    lasts     (S,)   index of each sequence's last event
    lengths   (S,)   events per sequence, >= 1
    sequence  (N,)   int64 sequence position of each event
    is_first  (N,)   bool, True on each sequence's first event (where no gap or bigram ends)
    """

    offsets: np.ndarray
    starts: np.ndarray
    lasts: np.ndarray
    lengths: np.ndarray
    sequence: np.ndarray
    is_first: np.ndarray

    @classmethod
    def from_offsets(cls, offsets: np.ndarray) -> Segments:
        offsets = np.asarray(offsets, dtype=np.int64)
        lengths = np.diff(offsets)
        is_first = np.zeros(int(offsets[-1]), dtype=bool)
        is_first[offsets[:-1]] = True
        return cls(
            offsets=offsets,
            starts=offsets[:-1],
            lasts=offsets[1:] - 1,
            lengths=lengths,
            sequence=np.repeat(np.arange(len(lengths), dtype=np.int64), lengths),
            is_first=is_first,
        )

    @property
    def n_sequences(self) -> int:
        return len(self.lengths)

    @cached_property
    def narrow_sequence(self) -> np.ndarray:
        """(N,) `sequence` as int32 (int64 past 2**31 sequences): count keys built from it move half the
        bytes. Computed once per log, on first use (a thread racing for it only computes it twice)."""
        return self.sequence.astype(np.int32 if self.n_sequences < 2**31 else np.int64)

    def spans(self, begin: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Event indices of `begin[s]:stop[s]` for every sequence s (in order), and their sequences.

        `begin`, `stop` (S,) event indices within each sequence; both outputs (M,) int64 with
        M = sum(stop - begin), so work over a few events per sequence (the last k, those outside the
        recent window) never touches the other events.
        """
        taken = stop - begin
        span_starts = np.cumsum(taken) - taken
        events = np.arange(int(taken.sum()), dtype=np.int64) + np.repeat(begin - span_starts, taken)
        return events, np.repeat(np.arange(self.n_sequences, dtype=np.int64), taken)

    def window_starts(self, time: np.ndarray, window_s: float) -> np.ndarray:
        """(S,) index of each sequence's first event at most `window_s` seconds before its last event.

        Times are sorted within a sequence, so this is a bisection run for all sequences at once: about
        log2(longest sequence) steps over S-sized arrays, never a pass over all N events.
        """
        cutoff = time[self.lasts] - window_s
        low, high = self.starts.copy(), self.lasts.copy()  # the last event always qualifies
        for _ in range(int(self.lengths.max()).bit_length()):
            middle = (low + high) // 2
            inside = time[middle] >= cutoff
            high = np.where(inside, middle, high)
            low = np.where(inside, low, middle + 1)
        return low


@dataclass(frozen=True)
class SegmentStats:
    """NaN-free per-sequence statistics over present values; all (S,), 0 where nothing is present."""

    count: np.ndarray
    total: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray


def segment_stats(values: np.ndarray, absent: np.ndarray, segments: Segments) -> SegmentStats:
    """Count, sum, mean, population std, min, max of `values` (N,) per sequence, skipping events `absent`.

    `absent` (M,) int64 event indices (missing values, or each sequence's first event for gaps). Giving
    indices rather than an (N,) mask lets one work buffer serve every statistic with small scatters, where
    masking would cost a full pass per statistic.
    """
    starts = segments.starts
    count = segments.lengths - np.bincount(segments.sequence[absent], minlength=segments.n_sequences)
    safe_count = np.maximum(count, 1)
    if len(absent):
        work = values.copy()
        work[absent] = 0.0
        total = np.add.reduceat(work, starts)
        work[absent] = np.inf
        low = np.minimum.reduceat(work, starts)
        work[absent] = -np.inf
        high = np.maximum.reduceat(work, starts)
    else:  # every value present: reduced where it lies, without a masked copy
        work = np.empty_like(values)
        total = np.add.reduceat(values, starts)
        low = np.minimum.reduceat(values, starts)
        high = np.maximum.reduceat(values, starts)
    mean = total / safe_count
    # One-pass variance around a global shift (the overall mean): no per-event gather of each sequence's
    # mean, and the shift keeps the sum of squares precise for large offsets such as unix times.
    shift = total.sum() / max(int(count.sum()), 1)
    np.subtract(values, shift, out=work)
    work[absent] = 0.0
    np.square(work, out=work)
    variance = np.add.reduceat(work, starts) / safe_count - (mean - shift) ** 2
    # Rounding leaves a tiny variance for constant values; min == max says it is exactly 0.
    std = np.where(low == high, 0.0, np.sqrt(np.maximum(variance, 0.0)))
    empty = count == 0
    for stat in (low, high, std):
        stat[empty] = 0.0
    return SegmentStats(count=count, total=total, mean=mean, std=std, min=low, max=high)


def count_into(out: np.ndarray, codes: np.ndarray, sequence: np.ndarray) -> None:
    """Add the count of each code per sequence to `out` (S, W) float32, column-major, in place.

    `codes` and `sequence` (M,), codes in [0, W). Counts are exact up to 2**24 events per cell (float32).
    """
    n_sequences, width = out.shape
    flat = out.reshape(-1, order="F")
    if not np.shares_memory(flat, out):
        raise ValueError("count_into needs a column-major block (a slice of whole columns of the table)")
    # Code-major keys (column * S + sequence) address the column-major block directly. An unbuffered
    # float32 add into it beat a bincount of the same keys plus the copy of its (S, W) int64 result into
    # the table by 1.9-2.3x at 10M events (the int64 result alone is W * S * 8 bytes: 365 MB for the
    # token counts), and int32 keys where they fit halve the key array's traffic.
    dtype = np.int32 if width * n_sequences < 2**31 else np.int64
    keys = np.multiply(codes, n_sequences, dtype=dtype)
    np.add(keys, sequence, out=keys, casting="unsafe")
    np.add.at(flat, keys, np.float32(1.0))


def distinct_count(
    top_counts: np.ndarray, raw: np.ndarray, rest: np.ndarray, sequence: np.ndarray, n_sequences: int
) -> np.ndarray:
    """(S,) int64 distinct raw values per sequence.

    Values with their own count column (`top_counts` (S, V)) count once where their count is > 0;
    only the `rest` events (N,) bool (present values without a column) are sorted to find the
    distinct (sequence, raw value) pairs, which keeps the sort small when the top values cover most events.
    """
    distinct = np.count_nonzero(top_counts, axis=1).astype(np.int64)
    if not rest.any():
        return distinct
    rest_raw = raw[rest].astype(np.int64)
    radix = int(rest_raw.max()) + 1
    keys = sequence[rest] * radix + rest_raw
    if n_sequences * radix < 2**32:
        keys = keys.astype(np.uint32)  # sorting 32-bit keys is about twice as fast
    keys = np.sort(keys)
    is_new = np.empty(len(keys), dtype=bool)
    is_new[0] = True
    np.not_equal(keys[1:], keys[:-1], out=is_new[1:])
    return distinct + np.bincount(keys[is_new] // radix, minlength=n_sequences)
