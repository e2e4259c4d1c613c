"""What a per-event row predicts (`task=next`): the target of event c, and the fitted class mapping.

Three target kinds (`task.target_kind`):

    value    a categorical field's value at event c (the next activity, the next item): one class per value
             seen in the training rows, most frequent first; beyond `max_classes` values the rarest pool as
             "(other)". A value never seen in training has no class: label -1 (no model can predict it).
    outcome  a numeric 0/1 field's value at event c (was the answer correct): classes "0" and "1".
    time     the time from event c-1 to event c, in `time_unit` (hours by default).

With `end_of_sequence` (value kind only, for logs whose sequences are complete) every sequence has one row
more, after its last event (cutoff = length), labelled END: the last class, fitted as the others (present
when the training rows have such rows).

The classes are fitted on the training rows only, as every other vocabulary of behave, and kept BY NAME
(`class_names`): a new log's category codes differ from the training log's, so a log's values are matched to
the classes by their names (`ValueClasses.by_name`); a value the classes lack is pooled or has no class, as
in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from behave.data.errors import DataError
from behave.data.event_log import EventLog
from behave.data.transforms.levels import OTHER

TARGET_KINDS = ("value", "outcome", "time")
TIME_UNITS = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0}
UNPREDICTABLE = -1  # the label of a row whose value has no class (never seen in training)
END = "(end)"  # the class of a sequence's end (`end_of_sequence`): always the last class, no value of the log


@dataclass(frozen=True)
class ValueClasses:
    """The classes of a categorical target: `class_of_code[k]` is the class of category code k (-1: none).
    The last entry of `class_of_code` is the class of a missing value (code -1 indexes it): none."""

    names: list[str]
    class_of_code: np.ndarray

    def classes(self, codes: np.ndarray) -> np.ndarray:
        return self.class_of_code[codes]

    @property
    def end(self) -> int:
        """The END class's index (the last), or UNPREDICTABLE when the classes have none."""
        return len(self.names) - 1 if self.names and self.names[-1] == END else UNPREDICTABLE

    @classmethod
    def by_name(cls, names: list[str], categories) -> ValueClasses:
        """The classes `names` over a log's `categories`: a value named by a class has it; any other the
        pooled class (when `names` end with it), else none. Fitting ends here too: one rule maps every log."""
        values = names[:-1] if names and names[-1] == END else names  # END is no value of any log
        pooled = bool(values) and values[-1] == OTHER
        kept = pd.Index(values[:-1] if pooled else values)
        lookup = kept.get_indexer(pd.Index(categories).astype(str))
        if pooled:
            lookup[lookup < 0] = len(kept)
        return cls(list(names), np.append(lookup, UNPREDICTABLE).astype(np.int64))


def fit_value_classes(codes: np.ndarray, categories: list[str], max_classes: int) -> ValueClasses:
    """Classes from the training rows' category codes (missing codes -1 never count)."""
    counts = np.bincount(codes[codes >= 0], minlength=len(categories))
    seen = np.flatnonzero(counts)
    order = seen[np.argsort(-counts[seen], kind="stable")]
    pooled = len(order) > max_classes
    kept = order[: max_classes - 1] if pooled else order
    names = [str(categories[k]) for k in kept]
    # Pooled: every other category, seen in training or not, is the (other) class.
    return ValueClasses.by_name([*names, OTHER] if pooled else names, categories)


def with_end(classes: ValueClasses, categories, ended: bool) -> ValueClasses:
    """`classes` with the END class appended when `ended` (the training rows have end rows)."""
    if not ended:
        return classes
    if END in set(pd.Index(categories).astype(str)):
        raise DataError(f"task.end_of_sequence: the target has a value named '{END}', the end's class name")
    return ValueClasses.by_name([*classes.names, END], categories)


def value_codes(log_: EventLog, target: str) -> np.ndarray:
    if target not in log_.categorical:
        raise DataError(
            f"task.target: no categorical event field '{target}' in the data ({list(log_.categorical)}); "
            "task.target_kind=value predicts a categorical field (outcome: a 0/1 numeric field)"
        )
    return np.asarray(log_.categorical[target].codes, dtype=np.int64)


def end_labelled(classes: ValueClasses, codes: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(R,) the class of each row's value `codes`, END where the row is a sequence's end (`end` (R,) bool;
    its code is not read)."""
    return np.where(end, classes.end, classes.classes(np.where(end, -1, codes)))


def outcome_values(log_: EventLog, target: str) -> np.ndarray:
    """(N,) float64 0/1 outcome of every event, NaN where it has none."""
    if target not in log_.numeric:
        raise DataError(
            f"task.target: no numeric event field '{target}' in the data ({list(log_.numeric)}); "
            "task.target_kind=outcome predicts a field holding 0 and 1"
        )
    values = np.asarray(log_.numeric[target], dtype=np.float64)
    bad = ~np.isnan(values) & ~np.isin(values, (0.0, 1.0))
    if bad.any():
        raise DataError(
            f"task.target: field '{target}' must hold 0, 1 or nothing for task.target_kind=outcome; event "
            f"{int(np.flatnonzero(bad)[0])} holds {values[bad][0]!r}"
        )
    return values


def time_to_event(log_: EventLog, events: np.ndarray, unit: str) -> np.ndarray:
    """(R,) time from event e-1 to event e (events are never the first of their sequence), in `unit`."""
    return (log_.time[events] - log_.time[events - 1]) / TIME_UNITS[unit]
