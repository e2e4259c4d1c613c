"""`task=prefix`: early prediction. How early can the outcome be told from the first k events?

Every sequence gives one row per prefix length k (or per share of its duration), labelled with the
sequence's label. Training uses all prefixes at once (one model for all lengths: the single-bucket
protocol of outcome-oriented process monitoring) or only the lengths in `train_on`; the test part is
scored per prefix length and over all prefix rows.

By default a prefix of length k is cut only from sequences LONGER than k, so a prefix is never a whole
sequence: a complete case can reveal its outcome by how it ends (a final "case rejected" activity), which
is not early prediction. `include_complete: true` scores whole sequences too (e.g. fixed 30-day windows).

Lengths: `lengths` (a list), else the range `min_length..max_length` by `step`; `max_length: null` takes
the `length_percentile` of the training sequences' lengths (the positive class's, for a binary label),
rounded as `length_rounding` says (down, or up as the outcome-prediction benchmark does), capped at
`length_cap`. `fractions` instead cuts each sequence at a share f of its duration: the events
at or before start + f * (end - start).
"""

from __future__ import annotations

import logging
from enum import Enum

import numpy as np

from behave.data.errors import DataError
from behave.data.event_log import EventLog
from behave.data.split import PARTS, Split
from behave.tasks.base import ClassificationTask
from behave.tasks.rows import TaskRows

log = logging.getLogger(__name__)


class LengthRounding(str, Enum):
    """How a fractional percentile of lengths becomes the longest prefix: `floor` (behave's default) or
    `ceil` (the outcome-prediction benchmark's `ceil(quantile(0.9))`, Teinemaa et al. 2019)."""

    floor = "floor"
    ceil = "ceil"


class PrefixTask(ClassificationTask):
    name = "prefix"

    def __init__(
        self,
        lengths: list[int] | None = None,
        min_length: int = 1,
        max_length: int | None = None,
        step: int = 1,
        fractions: list[float] | None = None,
        include_complete: bool = False,
        train_on: list[float] | None = None,
        length_percentile: float = 90.0,
        length_cap: int = 40,
        length_rounding: str = LengthRounding.floor.value,
    ) -> None:
        self.lengths = None if lengths is None else [_whole(k, "task.lengths") for k in lengths]
        self.min_length = _whole(min_length, "task.min_length")
        self.max_length = None if max_length is None else _whole(max_length, "task.max_length")
        self.step = _whole(step, "task.step")
        self.fractions = None if fractions is None else [float(f) for f in fractions]
        self.include_complete = bool(include_complete)
        self.train_on = None if train_on is None else [float(v) for v in train_on]
        self.length_percentile = float(length_percentile)
        self.length_cap = _whole(length_cap, "task.length_cap")
        self.length_rounding = _rounding(length_rounding)
        self._check()

    def _check(self) -> None:
        if self.lengths is not None and self.fractions is not None:
            raise DataError(
                "task.lengths and task.fractions are both set; a prefix task cuts by one of them."
            )
        if self.lengths is not None and not self.lengths:
            raise DataError("task.lengths is empty; give at least one prefix length (e.g. [5, 10, 20]).")
        if self.fractions is not None:
            bad = [f for f in self.fractions if not 0.0 < f <= 1.0]
            if bad or not self.fractions:
                raise DataError(
                    f"task.fractions must lie in (0, 1] (shares of each sequence's duration), got {bad}."
                )
        if self.max_length is not None and self.max_length < self.min_length:
            raise DataError(
                f"task.max_length ({self.max_length}) is below task.min_length ({self.min_length})."
            )
        if not 0.0 < self.length_percentile <= 100.0:
            raise DataError(f"task.length_percentile must lie in (0, 100], got {self.length_percentile}.")

    @property
    def group_label(self) -> str:
        return "prefix length (share of duration)" if self.fractions is not None else "prefix length (events)"

    @property
    def rows_description(self) -> str:
        return f"one prediction per {self.group_label} of each sequence"

    def fingerprint(self) -> dict:
        return {
            "name": self.name,
            "lengths": self.lengths,
            "min_length": self.min_length,
            "max_length": self.max_length,
            "step": self.step,
            "fractions": self.fractions,
            "include_complete": self.include_complete,
            "train_on": self.train_on,
            "length_percentile": self.length_percentile,
            "length_cap": self.length_cap,
            # Only when not the default, so the cache keys of every earlier prefix task stay as they were.
            **(
                {"length_rounding": self.length_rounding.value}
                if self.length_rounding != LengthRounding.floor
                else {}
            ),
        }

    def rows(self, log_: EventLog, split: Split) -> TaskRows:
        if self.fractions is not None:
            cuts = {f"{f:g}": self._fraction_cutoffs(log_, f) for f in sorted(set(self.fractions))}
            key = "task.fractions"
        else:
            cuts = {str(k): np.full(log_.n_sequences, k) for k in self.resolve_lengths(log_, split)}
            key = "task.lengths"
        parts = split.part_index(log_.n_sequences)
        lengths = log_.lengths
        chunks, names = [], list(cuts)
        for index, (name, cutoffs) in enumerate(cuts.items()):
            keep = cutoffs <= lengths if self.include_complete else cutoffs < lengths
            if not keep.any():
                raise DataError(self._nothing_left(key, name, lengths))
            sequences = np.flatnonzero(keep)
            chunks.append((sequences, cutoffs[sequences], np.full(len(sequences), index)))
        sequence, cutoff, group = (np.concatenate(column) for column in zip(*chunks))
        rows = TaskRows(
            sequence=sequence.astype(np.int64),
            cutoff=cutoff.astype(np.int64),
            label=np.asarray(log_.labels, dtype=np.int64)[sequence],
            part=parts[sequence],
            group=group.astype(np.int64),
            group_names=names,
        )
        return self._training_subset(rows)

    def resolve_lengths(self, log_: EventLog, split: Split) -> list[int]:
        """The prefix lengths to cut (the configured list or range); an error for one no sequence reaches."""
        longest = int(log_.lengths.max())
        reach = longest if self.include_complete else longest - 1
        if self.lengths is not None:
            lengths = sorted(set(self.lengths))
        else:
            top = (
                self.max_length if self.max_length is not None else min(self._default_max(log_, split), reach)
            )
            lengths = list(range(self.min_length, top + 1, self.step))
            if not lengths:
                raise DataError(
                    f"task.min_length ({self.min_length}) leaves no prefix: the longest usable prefix has "
                    f"{top} events."
                )
        beyond = [k for k in lengths if k > reach]
        if beyond:
            key = "task.lengths" if self.lengths is not None else "task.max_length"
            raise DataError(
                f"{key}: prefix length(s) {beyond[:10]} exceed every sequence (the longest has {longest} "
                f"events{'' if self.include_complete else '; a prefix is cut only from longer sequences'})."
            )
        return lengths

    def _default_max(self, log_: EventLog, split: Split) -> int:
        """The length_percentile of training lengths (positive class for binary labels), capped."""
        train = split.train
        lengths = log_.lengths[train]
        if len(log_.class_names) == 2 and (log_.labels[train] == 1).any():
            lengths = lengths[log_.labels[train] == 1]
        percentile = float(np.percentile(lengths, self.length_percentile))
        rounded = np.ceil(percentile) if self.length_rounding == LengthRounding.ceil else np.floor(percentile)
        return max(1, min(self.length_cap, int(rounded)))

    @staticmethod
    def _fraction_cutoffs(log_: EventLog, fraction: float) -> np.ndarray:
        """(S,) events at or before start + fraction * duration, at least 1 per sequence."""
        starts = log_.offsets[:-1]
        threshold = log_.start_time + fraction * (log_.end_time - log_.start_time)
        within = log_.time <= np.repeat(threshold, log_.lengths)
        return np.maximum(np.add.reduceat(within.astype(np.int64), starts), 1)

    def _training_subset(self, rows: TaskRows) -> TaskRows:
        """With `train_on`, train and val keep only those groups; test keeps every group."""
        if self.train_on is None:
            return rows
        wanted = {f"{v:g}" for v in self.train_on}
        unknown = sorted(wanted - set(rows.group_names))
        if unknown:
            raise DataError(
                f"task.train_on names {unknown}, which are not among the evaluated prefixes "
                f"{rows.group_names}."
            )
        chosen = np.isin(np.asarray(rows.group_names, dtype=object), list(wanted))
        test = rows.part == PARTS.index("test")
        return rows.take(np.flatnonzero(test | chosen[rows.group]))

    def _nothing_left(self, key: str, name: str, lengths: np.ndarray) -> str:
        what = (
            "no sequence is longer than this prefix"
            if not self.include_complete
            else "no sequence reaches it"
        )
        hint = (
            "" if self.include_complete else " (set task.include_complete=true to also score whole sequences)"
        )
        longest = int(lengths.max())
        return (
            f"{key}: prefix {name} leaves no rows: {what}; the longest sequence has {longest} events{hint}."
        )


def _rounding(value) -> LengthRounding:
    """The `task.length_rounding` choice, or an error naming the key and the valid values."""
    try:
        return LengthRounding(getattr(value, "value", value))
    except ValueError:
        valid = ", ".join(choice.value for choice in LengthRounding)
        raise DataError(f"task.length_rounding must be one of {valid}, got {value!r}.") from None


def _whole(value, key: str) -> int:
    """A positive integer setting, or an error naming its key."""
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if not numeric or not float(value).is_integer() or int(value) < 1:
        raise DataError(f"{key} must be a positive whole number of events, got {value!r}.")
    return int(value)
