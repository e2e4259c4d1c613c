"""Split sequences ONCE into train/val/test; every model family and every task uses this split.

`stratified`: seeded, stratified by a per-sequence key the task names (the label for classification
tasks), and grouped by `schema.group` when set (a group never lands in two parts; groups are stratified
by their first sequence's key). `kfold`: the same, as k folds, fold `fold` the test part and val drawn
from the others. `time`: sequences (or groups) ordered by start time, the earliest go to
train, the latest to test. `time_strict`: as `time`, then `strict_time_cut` drops every train/val event
after the test period starts, so no training event comes from the future of a test sequence or prefix.
`rolling`: origin j of k tests the j-th of the log's k latest periods (each a `test` share of the sequences
by start time) and trains on every sequence that starts before that period, cut as `time_strict` is; the
sequences after the period belong to no part and `cut_to_split` leaves them out of the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from behave.data.errors import DataError
from behave.data.event_log import EventLog
from behave.data.spec import SplitMethod, SplitSpec

log = logging.getLogger(__name__)
PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """Sequence positions (into the EventLog order) per part, each sorted ascending."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def part(self, name: str) -> np.ndarray:
        return getattr(self, name)

    def part_index(self, n_sequences: int) -> np.ndarray:
        """(S,) int8 index into PARTS of each sequence's part."""
        parts = np.full(n_sequences, -1, dtype=np.int8)
        for index, name in enumerate(PARTS):
            parts[self.part(name)] = index
        return parts

    def sizes(self) -> dict[str, int]:
        return {name: len(self.part(name)) for name in PARTS}

    def to_frame(self, sequence_ids: np.ndarray) -> pd.DataFrame:
        """One row per sequence: (sequence_id, part), the form saved next to the cache."""
        frames = [pd.DataFrame({"sequence_id": sequence_ids[self.part(p)], "part": p}) for p in PARTS]
        return pd.concat(frames, ignore_index=True)


def split_sequences(
    log_: EventLog, spec: SplitSpec, strata: np.ndarray | None = None, group_column: str | None = None
) -> Split:
    """Assign each sequence of `log_` to train, val or test; `strata` (S,) int keys to stratify on;
    `group_column` names the schema's group column in errors."""
    fractions = np.array([spec.train, spec.val, spec.test], dtype=float)
    if (fractions <= 0).any() or not np.isclose(fractions.sum(), 1.0):
        raise DataError(
            f"split fractions must be positive and sum to 1, got train/val/test = {fractions.tolist()}"
        )
    units, unit_of_sequence = _units(log_)
    what = _units_in_words(log_, units, group_column)
    if len(units) < 3:
        raise DataError(
            f"cannot split {what} into train, val and test: each part needs at least one"
            + (
                f" group (all sequences of one '{group_column}' go to one part)"
                if log_.groups is not None
                else ""
            )
            + ". Use more data"
            + (" or drop data.schema.group." if log_.groups is not None else ".")
        )
    keys = np.zeros(log_.n_sequences, np.int64) if strata is None else np.asarray(strata, np.int64)
    if spec.method == SplitMethod.stratified:
        parts = _stratified(units, keys, unit_of_sequence, fractions, spec.seed)
    elif spec.method == SplitMethod.kfold:
        parts = _kfold(units, keys, unit_of_sequence, fractions, spec)
    elif spec.method == SplitMethod.rolling:
        parts = _rolling(units, log_.start_time, unit_of_sequence, spec)
    else:
        parts = _by_time(units, log_.start_time, unit_of_sequence, fractions)
    positions = [np.sort(np.flatnonzero(np.isin(unit_of_sequence, p))) for p in parts]
    split = Split(*positions)
    empty = [name for name, size in split.sizes().items() if size == 0]
    if empty:
        raise DataError(
            f"split part(s) {empty} are empty with {what} and fractions train/val/test = "
            f"{fractions.tolist()}: use more data or larger fractions for those parts."
        )
    return split


def _units_in_words(log_: EventLog, units: np.ndarray, group_column: str | None) -> str:
    if log_.groups is None:
        return f"{log_.n_sequences} sequences"
    return f"{log_.n_sequences} sequences in {len(units)} groups of '{group_column or 'the group column'}'"


def _units(log_: EventLog) -> tuple[np.ndarray, np.ndarray]:
    """What gets assigned: groups when configured, else sequences. (unit ids, unit of each sequence)."""
    if log_.groups is None:
        ids = np.arange(log_.n_sequences)
        return ids, ids
    codes, _ = pd.factorize(log_.groups)
    return np.arange(codes.max() + 1), codes


def _first_label(labels: np.ndarray, unit_of_sequence: np.ndarray, n_units: int) -> np.ndarray:
    """Label of each unit's first sequence (assignment in reverse order leaves the first one standing)."""
    out = np.zeros(n_units, dtype=labels.dtype)
    out[unit_of_sequence[::-1]] = labels[::-1]
    return out


def _earliest_start(start_time: np.ndarray, unit_of_sequence: np.ndarray, n_units: int) -> np.ndarray:
    out = np.full(n_units, np.inf)
    np.minimum.at(out, unit_of_sequence, start_time)
    return out


def _stratified(units, labels, unit_of_sequence, fractions, seed) -> list[np.ndarray]:
    unit_labels = _first_label(labels, unit_of_sequence, len(units))
    rest, test = _draw(units, unit_labels, fractions[2], seed)
    train, val = _draw(rest, unit_labels[rest], fractions[1] / (fractions[0] + fractions[1]), seed + 1)
    return [train, val, test]


def permutation_fold(n: int, folds: int, fold: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) bool: the members of fold `fold` (1-based) of a k-fold of n items, each item's fold its place in
    a random permutation modulo k (folds differ in size by at most one). The rating task's k-fold over
    ratings; sequences use `_kfold` (scikit-learn's, stratified by label). Both stay as they are: each
    defines folds that published results were computed on."""
    return (rng.permutation(n) % folds) == fold - 1


def _kfold(units, labels, unit_of_sequence, fractions, spec: SplitSpec) -> list[np.ndarray]:
    """Fold `spec.fold` (1-based) of a seeded, stratified k-fold over units is test; val from the rest."""
    if not 2 <= spec.folds <= len(units) or not 1 <= spec.fold <= spec.folds:
        raise DataError(
            f"data.split: kfold needs 2 <= folds <= {len(units)} (the units to split) and "
            f"1 <= fold <= folds, got folds={spec.folds}, fold={spec.fold}"
        )
    unit_labels = _first_label(labels, unit_of_sequence, len(units))
    counts = np.bincount(unit_labels)
    if counts[counts > 0].min() >= spec.folds:
        folds = StratifiedKFold(spec.folds, shuffle=True, random_state=spec.seed).split(units, unit_labels)
    else:
        log.warning("a class has fewer sequences/groups than folds: k-fold without stratification")
        folds = KFold(spec.folds, shuffle=True, random_state=spec.seed).split(units)
    rest, test = list(folds)[spec.fold - 1]
    train, val = _draw(
        units[rest], unit_labels[rest], fractions[1] / (fractions[0] + fractions[1]), spec.seed + 1
    )
    return [train, val, units[test]]


def _draw(units, unit_labels, fraction, seed):
    """Stratified when every class has at least 2 units, else a plain seeded shuffle (with a warning)."""
    counts = np.bincount(unit_labels)
    stratify = unit_labels if counts[counts > 0].min() >= 2 else None
    if stratify is None:
        log.warning("a class has fewer than 2 sequences/groups: splitting without stratification")
    try:
        keep, draw = train_test_split(units, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError:
        raise DataError(
            f"cannot draw a share of {fraction:.3f} from {len(units)} sequences or groups with at least one "
            "on each side: use more data or other split fractions."
        ) from None
    return keep, draw


def _by_time(units, start_time, unit_of_sequence, fractions) -> list[np.ndarray]:
    unit_start = _earliest_start(start_time, unit_of_sequence, len(units))
    ordered = units[np.argsort(unit_start, kind="stable")]
    cuts = np.round(np.cumsum(fractions)[:2] * len(ordered)).astype(int)
    return np.split(ordered, cuts)


def rolling_periods(n_units: int, spec: SplitSpec) -> np.ndarray:
    """(origins + 1,) boundaries into the units ordered by start time: period j (1-based) is
    [bounds[j - 1], bounds[j]); the last period ends at the log's end, so origin `origins` tests what the
    `time` split tests."""
    if spec.origins < 2 or not 1 <= spec.origin <= spec.origins or spec.origins * spec.test >= 1:
        raise DataError(
            "data.split: rolling needs origins >= 2, 1 <= origin <= origins and origins * test < 1 (some "
            f"sequences before the first period to train on), got origins={spec.origins}, "
            f"origin={spec.origin}, test={spec.test}"
        )
    from_end = spec.origins - np.arange(spec.origins + 1)
    return np.round((1.0 - spec.test * from_end) * n_units).astype(int)


def _rolling(units, start_time, unit_of_sequence, spec: SplitSpec) -> list[np.ndarray]:
    """The origin's period is test; the units that start before it train, the latest val / (train + val)
    of them validate (as in the `time` split)."""
    unit_start = _earliest_start(start_time, unit_of_sequence, len(units))
    ordered = units[np.argsort(unit_start, kind="stable")]
    bounds = rolling_periods(len(ordered), spec)
    start, stop = bounds[spec.origin - 1], bounds[spec.origin]
    train_end = int(np.round(start * spec.train / (spec.train + spec.val)))
    return [ordered[:train_end], ordered[train_end:start], ordered[start:stop]]


def cut_to_split(log_: EventLog, split: Split, spec: SplitSpec) -> tuple[EventLog, Split, int]:
    """The log as the split's method leaves it for fitting: sequences in no part (after a rolling origin's
    period) left out, and, for the methods that cut at the test start, train/val events after it dropped.
    Returns the log, the split re-indexed into it and the number of train/val events dropped."""
    kept = np.sort(np.concatenate([split.part(name) for name in PARTS]))
    if len(kept) < log_.n_sequences:
        log_ = log_.select(kept)
        split = Split(*(np.searchsorted(kept, split.part(name)) for name in PARTS))
    if not spec.method.cuts_at_test_start:
        return log_, split, 0
    cut, dropped = strict_time_cut(log_, split)
    return cut, split, dropped


def strict_time_cut(log_: EventLog, split: Split) -> tuple[EventLog, int]:
    """Drop the events of train/val sequences that come after the test period starts (its earliest start).

    Returns the cut log (same sequences, same order) and the number of events dropped. Each sequence keeps
    at least its first event, because train/val sequences start no later than the test period.
    """
    test_start = float(log_.start_time[split.test].min())
    cutoffs = log_.lengths.copy()
    earlier = np.concatenate([split.train, split.val])
    within = log_.time <= test_start
    kept = np.add.reduceat(within.astype(np.int64), log_.offsets[:-1]) if log_.n_events else cutoffs
    cutoffs[earlier] = np.maximum(kept[earlier], 1)
    dropped = int(log_.n_events - cutoffs.sum())
    return log_.cut(np.arange(log_.n_sequences), cutoffs), dropped
