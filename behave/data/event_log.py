"""The two data contracts between sources, validation and the rest of the pipeline.

`RawTables` is what a source returns (raw pandas tables plus names for error messages).
`EventLog` is what validation returns: every event in ONE sort order (sequence, then time), held as
columns over all N events, with sequence s owning events `offsets[s]:offsets[s + 1]`. Sequences,
tabular features and splits all index into this one order, so nothing is ever re-sorted or re-grouped.

    sequence_ids  (S,)    raw sequence ids, sorted
    offsets       (S+1,)  int64, offsets[0] == 0, offsets[-1] == N
    time          (N,)    float64 unix seconds
    categorical   field -> pd.Categorical (N,), code -1 = missing
    numeric       field -> float64 (N,), NaN = missing
    labels        (S,)    int64 class index (binary: 1 = positive); `NO_LABELS` for a log without a
                          sequence label (`data.label.column: null`), which any use of it reports
    event_extras  name -> float64 (N,) per-event facts the source knows and models must not see (the
                          simulator's oracle); no pipeline step reads them, and `cut`/`select` keep them
                          aligned with the events. Logs prepared out of core carry none.

The source's oracle of a field travels in event_extras under names `oracle_column` gives:
`oracle:<field>=<value>` for each value of a categorical field (P(event e's value = value | its past)),
`oracle:<field>` for a 0/1 numeric field (P(event e's value = 1 | its past)). `EventLog.oracle` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from behave.data.errors import DataError


class Unlabelled:
    """The labels of a log without a sequence label. Any read of them (indexing, `np.asarray`, a length) is
    an error naming the config key, so a path that needs a label never runs on made-up ones."""

    def _refuse(self, *args, **kwargs):
        raise DataError(
            "this log has no sequence label (data.label.column is null), and something read it: a task that "
            "reads the sequence label (e.g. task=sequence) needs data.label.column set."
        )

    __getitem__ = __array__ = __len__ = __iter__ = _refuse

    def __repr__(self) -> str:
        return "NO_LABELS"


NO_LABELS = Unlabelled()


@dataclass(frozen=True)
class RawTables:
    """Raw tables as a source read them. `*_name` is the file path (or a description) for error messages."""

    events: pd.DataFrame
    events_name: str
    labels: pd.DataFrame | None = None
    labels_name: str | None = None
    # Per-sequence extras the source knows but models must not see (the simulator's true probability),
    # indexed by raw sequence id.
    extras: pd.DataFrame | None = None
    # Per-event extras models must not see (the simulator's per-event oracle), one row per row of `events`
    # in the same order.
    event_extras: pd.DataFrame | None = None


@dataclass(frozen=True)
class ParquetLog:
    """What a source returns for a log to prepare out of core (`out_of_core.py`): the Parquet events (a file
    or a folder of files) to read in slices, the label table (one row per sequence, read whole), the memory
    cap, and the categorical fields stored as strings."""

    events: Path
    labels: pd.DataFrame | None
    labels_name: str | None
    memory_cap_bytes: int
    string_fields: list[str]


ORACLE_PREFIX = "oracle:"


def oracle_column(field_name: str, value: str | None = None) -> str:
    """The event_extras column of a source's oracle: P(`field_name` = `value`) of a categorical field, or
    P(`field_name` = 1) of a 0/1 numeric field (`value` None)."""
    return f"{ORACLE_PREFIX}{field_name}" if value is None else f"{ORACLE_PREFIX}{field_name}={value}"


@dataclass(frozen=True)
class Oracle:
    """A source's distribution of one field's value at every event of a log, given the events before it.

    values       a categorical field: its value names, the columns of `probability`; a 0/1 field: ["0", "1"]
    probability  categorical: (N, V) float64, rows sum to 1; a 0/1 field: (N,) float64 P(value 1)
    """

    values: list[str]
    probability: np.ndarray

    @property
    def binary(self) -> bool:
        return self.probability.ndim == 1


@dataclass(frozen=True)
class EventLog:
    """Validated events and labels in one shared sort order. See the module docstring for shapes."""

    sequence_ids: np.ndarray
    offsets: np.ndarray
    time: np.ndarray
    categorical: dict[str, pd.Categorical]
    numeric: dict[str, np.ndarray]
    labels: np.ndarray | Unlabelled
    class_names: list[str]
    groups: np.ndarray | None = None
    # Per-sequence static attributes (S rows, positional index), and source extras aligned the same way.
    static: pd.DataFrame = field(default_factory=pd.DataFrame)
    extras: pd.DataFrame = field(default_factory=pd.DataFrame)
    event_extras: dict[str, np.ndarray] = field(default_factory=dict)
    # Counts per categorical field, computed once: fitting asks for the same field's counts from the
    # vocabulary, the feature levels and the embedded-field levels (a pass over all events each time).
    _counts: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def category_counts(self, name: str) -> tuple[int, np.ndarray]:
        """(missing values, (C,) count of each category) of categorical field `name`."""
        if name not in self._counts:
            self._counts[name] = category_counts(self.categorical[name])
        return self._counts[name]

    def oracle(self, field_name: str) -> Oracle | None:
        """The source's oracle of `field_name` from event_extras (see the module docstring); None when the
        source gave none (every real log)."""
        binary = self.event_extras.get(oracle_column(field_name))
        if binary is not None:
            return Oracle(["0", "1"], np.asarray(binary, dtype=np.float64))
        prefix = oracle_column(field_name, "")
        names = [name for name in self.event_extras if name.startswith(prefix)]
        if not names:
            return None
        probability = np.stack([np.asarray(self.event_extras[name], np.float64) for name in names], axis=1)
        return Oracle([name[len(prefix) :] for name in names], probability)

    @property
    def labelled(self) -> bool:
        """Whether the log has a sequence label (else `labels` is `NO_LABELS`)."""
        return not isinstance(self.labels, Unlabelled)

    @property
    def n_sequences(self) -> int:
        return len(self.sequence_ids)

    @property
    def n_events(self) -> int:
        return int(self.offsets[-1])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def start_time(self) -> np.ndarray:
        """(S,) time of each sequence's first event."""
        return self.time[self.offsets[:-1]]

    @property
    def end_time(self) -> np.ndarray:
        """(S,) time of each sequence's last event."""
        return self.time[self.offsets[1:] - 1]

    def sequence_of_event(self) -> np.ndarray:
        """(N,) int64 position of each event's sequence."""
        return np.repeat(np.arange(self.n_sequences, dtype=np.int64), self.lengths)

    def event_positions(self, sequences: np.ndarray, cutoffs: np.ndarray | None = None) -> np.ndarray:
        """Event indices of the given sequence positions (their first `cutoffs` events when given), in
        their order, without a Python loop."""
        sequences = np.asarray(sequences, dtype=np.int64)
        starts = self.offsets[sequences]
        lengths = self.offsets[sequences + 1] - starts if cutoffs is None else np.asarray(cutoffs, np.int64)
        # For each output event: its sequence's start plus its rank within the sequence.
        new_offsets = np.concatenate([[0], np.cumsum(lengths)])
        rank = np.arange(new_offsets[-1], dtype=np.int64) - np.repeat(new_offsets[:-1], lengths)
        return np.repeat(starts, lengths) + rank

    def select(self, sequences: np.ndarray) -> EventLog:
        """A log holding only the given sequence positions (kept in the given order)."""
        sequences = np.asarray(sequences, dtype=np.int64)
        return self.cut(sequences, self.lengths[sequences])

    def cut(self, sequences: np.ndarray, cutoffs: np.ndarray) -> EventLog:
        """A log of R rows: row r holds the first `cutoffs[r]` events of sequence `sequences[r]`.

        A sequence may appear in several rows (its prefixes of several lengths); every per-sequence field
        (id, label, group, static attributes, extras) is repeated with it. This is how a task's rows see
        only the events up to their cutoff, for the feature builder and the index sequences alike.
        """
        sequences = np.asarray(sequences, dtype=np.int64)
        lengths = np.asarray(cutoffs, dtype=np.int64)
        if len(lengths) and (lengths.min() < 1 or (lengths > self.lengths[sequences]).any()):
            raise ValueError("cutoffs must lie in 1..length of their sequence")
        whole = len(sequences) == self.n_sequences and np.array_equal(lengths, self.lengths)
        if whole and np.array_equal(sequences, np.arange(self.n_sequences)):
            return self
        events = self.events_of(sequences, lengths)
        return replace(
            self,
            sequence_ids=self.sequence_ids[sequences],
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            time=self.time[events],
            categorical={k: v[events] for k, v in self.categorical.items()},
            numeric={k: v[events] for k, v in self.numeric.items()},
            labels=self.labels[sequences] if self.labelled else self.labels,
            groups=None if self.groups is None else self.groups[sequences],
            static=self._rows(self.static, sequences),
            extras=self._rows(self.extras, sequences),
            event_extras={k: v[events] for k, v in self.event_extras.items()},
        )

    def events_of(self, sequences: np.ndarray, cutoffs: np.ndarray) -> slice | np.ndarray:
        """What `event_positions` gives, as one slice when the rows are consecutive whole sequences (a chunk
        of a task over whole sequences): indexing then takes views, never copies."""
        sequences = np.asarray(sequences, dtype=np.int64)
        if len(sequences):
            first, last = int(sequences[0]), int(sequences[-1])
            if (
                last - first + 1 == len(sequences)
                and np.array_equal(sequences, np.arange(first, last + 1))
                and np.array_equal(
                    cutoffs, self.offsets[first + 1 : last + 2] - self.offsets[first : last + 1]
                )
            ):
                return slice(int(self.offsets[first]), int(self.offsets[last + 1]))
        return self.event_positions(sequences, cutoffs)

    def _rows(self, frame: pd.DataFrame, sequences: np.ndarray) -> pd.DataFrame:
        """Per-sequence rows of `frame`; a frame left at its empty default stays empty."""
        if len(frame) != self.n_sequences:
            return frame
        return frame.iloc[sequences].reset_index(drop=True)


def category_counts(values: pd.Categorical) -> tuple[int, np.ndarray]:
    """(number of missing values, (C,) int64 count of each category), in one pass over the codes."""
    codes, n_categories = values.codes, len(values.categories)
    if codes.dtype.itemsize <= 2:
        # Missing (-1) reads as the top unsigned value, past every category: no shifted int64 copy.
        unsigned = codes.view(np.uint8 if codes.dtype.itemsize == 1 else np.uint16)
        counts = np.bincount(unsigned, minlength=n_categories)
        top = np.iinfo(unsigned.dtype).max
        return int(counts[top]) if len(counts) > top else 0, counts[:n_categories].astype(np.int64)
    counts = np.bincount(codes.astype(np.int64) + 1, minlength=n_categories + 1)
    return int(counts[0]), counts[1:]
