"""The inner folds that selection by cross-validation fits on: the train and val parts together, cut by
sequence, the test part never in any of them.

    stratified / kfold   k folds of the train+val units (groups of `schema.group` when set, else sequences),
                         stratified by the task's strata (the label, as `behave/data/split.py` does); fold j
                         validates on its units and trains on the other k - 1 folds
    time / time_strict   forward chaining (`SplitMethod.in_time_order`, rolling origins too): units in
    / rolling            start-time order are cut into k + 1 blocks; fold j trains on blocks 0..j-1 and
                         validates on block j, never on the past. With a strict cut (time_strict,
                         rolling), the training rows of fold j also lose every event after block j's
                         earliest start (the split's own strict cut, at the fold's validation period)

Example (time, k = 3, eight sequences by start time a..h): blocks [a b] [c d] [e f] [g h]; fold 1 trains on
a b and validates on c d, fold 2 trains on a-d and validates on e f, fold 3 trains on a-f, validates on g h.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

from behave.data.errors import DataError
from behave.data.split import PARTS
from behave.tasks.dataset import TaskDataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InnerFold:
    """Sequence positions (into the EventLog) that train and that validate; `time_cut`: under a strict time
    split, the start of the validation period, after which the training rows see no event."""

    train: np.ndarray
    val: np.ndarray
    time_cut: float | None = None


def inner_folds(data: TaskDataset, folds: int, seed: int) -> list[InnerFold]:
    """`folds` inner folds over the train and val parts' sequences (forward chaining for a time split)."""
    split = data.base.split
    sequences = np.sort(np.concatenate([split.train, split.val]))
    test_rows = data.rows.part == PARTS.index("test")
    if np.isin(data.rows.sequence[test_rows], sequences).any():  # e.g. ratings split per rating
        raise DataError(
            f"selection=inner_cv cuts folds by sequence, and task={data.task.name} puts rows of one sequence "
            "in test and in train/val: use selection=holdout"
        )
    unit = _unit_of(data, sequences)
    n_units = int(unit.max()) + 1
    method = data.spec.split.method
    needed = folds + 1 if method.in_time_order else folds
    if folds < 2 or n_units < needed:
        raise DataError(
            f"selection.folds={folds}: inner cross-validation needs at least 2 folds and {needed} "
            f"sequences or groups in train+val, which has {n_units}"
        )
    if method.in_time_order:
        start = np.full(n_units, np.inf)
        np.minimum.at(start, unit, data.base.log.start_time[sequences])
        blocks = np.array_split(np.argsort(start, kind="stable"), folds + 1)
        strict = method.cuts_at_test_start
        chained = []
        for j in range(1, folds + 1):
            val = sequences[np.isin(unit, blocks[j])]
            cut = float(data.base.log.start_time[val].min()) if strict else None
            chained.append(InnerFold(sequences[np.isin(unit, np.concatenate(blocks[:j]))], val, cut))
        return chained
    keys = _unit_strata(data, sequences, unit, n_units)
    counts = np.bincount(keys)
    if counts[counts > 0].min() >= folds:
        cutter = StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(n_units), keys)
    else:
        log.warning("a class has fewer sequences/groups than selection.folds: inner folds without strata")
        cutter = KFold(folds, shuffle=True, random_state=seed).split(np.zeros(n_units))
    return [
        InnerFold(sequences[np.isin(unit, train)], sequences[np.isin(unit, val)]) for train, val in cutter
    ]


def _unit_of(data: TaskDataset, sequences: np.ndarray) -> np.ndarray:
    """(len(sequences),) the unit each sequence is assigned with: its group when the schema has one."""
    groups = data.base.log.groups
    if groups is None:
        return np.arange(len(sequences))
    codes, _ = pd.factorize(np.asarray(groups)[sequences])
    return codes


def _unit_strata(data: TaskDataset, sequences: np.ndarray, unit: np.ndarray, n_units: int) -> np.ndarray:
    """Each unit's stratum: its first sequence's (the task's strata, e.g. the label); all 0 without."""
    strata = data.task.strata(data.base.log)
    if strata is None:
        return np.zeros(n_units, dtype=np.int64)
    keys = np.zeros(n_units, dtype=np.int64)
    keys[unit[::-1]] = np.asarray(strata, dtype=np.int64)[sequences][::-1]
    return keys


def fold_view(data: TaskDataset, fold: InnerFold) -> TaskDataset:
    """The fold's rows only (its train and val parts; no test row), for a recipe to fit as it fits a run."""
    rows = data.rows
    outside_test = rows.part != PARTS.index("test")
    in_train = np.isin(rows.sequence, fold.train) & outside_test
    in_val = np.isin(rows.sequence, fold.val) & outside_test
    keep = np.flatnonzero(in_train | in_val)
    part = np.where(in_train[keep], PARTS.index("train"), PARTS.index("val"))
    if fold.time_cut is None:
        return data.view(keep, part)
    cutoff = rows.cutoff[keep].copy()
    training = part == PARTS.index("train")
    seen = _events_until(data, fold.time_cut)[rows.sequence[keep]]
    cutoff[training] = np.maximum(np.minimum(cutoff[training], seen[training]), 1)
    # Prefix rows of one sequence cut to the same length would count that sequence twice: keep one.
    _, first = np.unique(np.stack([rows.sequence[keep], cutoff]), axis=1, return_index=True)
    unique = np.sort(first)
    return data.view(keep[unique], part[unique], cutoff[unique])


def _events_until(data: TaskDataset, time_cut: float) -> np.ndarray:
    """(S,) how many of each sequence's events happen no later than `time_cut`."""
    log_ = data.base.log
    within = (np.asarray(log_.time) <= time_cut).astype(np.int64)
    return np.add.reduceat(within, log_.offsets[:-1])
