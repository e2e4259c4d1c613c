"""Back-off count tables: P(class | context) counted on training rows, the count baselines of task=next.

A table is fitted on K context columns (small non-negative ints per row, from `RowInputs.ids`; 0 = none or
unseen in training) and the rows' class labels. Level j (0..K) conditions on the first j columns; level 0
is the class distribution alone. The back-off rule (interpolated, as hierarchical Dirichlet smoothing,
MacKay & Peto 1995), with n the training counts and s = `smoothing` > 0:

    P_-1(y)            = 1 / C                                               uniform
    P_j(y | x_1..x_j)  = (n(x_1..x_j, y) + s * P_j-1(y | x_1..x_j-1)) / (n(x_1..x_j) + s)

A context never seen in training (n = 0) backs off exactly to the shorter one, a rare one is pulled
towards it by s pseudo-counts, a frequent one keeps its own counts. Every level sums to 1 and is positive
wherever the one below is, so no probability is ever 0 and log loss stays finite.

A row's context symbols are joined into one int64 key (mixed radix, each column's radix = 1 + its largest
training value); a symbol past a column's radix was never seen in training, so its context is unseen.

Saved as `<stem>.npz` (arrays only, loaded without pickle) beside `<stem>.json` (columns, classes, smoothing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from behave.data.errors import DataError

# Context keys are int64: the radices of a table's columns must multiply to less than this.
MAX_KEY = 2**62


@dataclass(frozen=True)
class Level:
    """The counts of one context length: `keys` (M,) sorted context keys seen in training, `counts` (M, C)
    rows per context and class, `totals` (M,) rows per context."""

    keys: np.ndarray
    counts: sparse.csr_matrix
    totals: np.ndarray

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """(R,) the level's row of each key, -1 where the context was never seen in training."""
        index = np.searchsorted(self.keys, keys).clip(0, max(len(self.keys) - 1, 0))
        found = (self.keys[index] == keys) if len(self.keys) else np.zeros(len(keys), bool)
        return np.where(found, index, -1)


@dataclass(frozen=True)
class BackoffTable:
    """Fitted back-off counts over `columns` (most important first) for `num_classes` classes."""

    columns: tuple[str, ...]
    num_classes: int
    smoothing: float
    radices: tuple[int, ...]
    levels: tuple[Level, ...]  # levels[j] conditions on columns[:j]

    @classmethod
    def fit(
        cls,
        ids: dict[str, np.ndarray],
        labels: np.ndarray,
        columns: tuple[str, ...],
        num_classes: int,
        smoothing: float,
    ) -> BackoffTable:
        """Count `labels` (R,) after each context of `ids[column]` (R,) on the rows with a known label."""
        if not smoothing > 0:
            raise DataError(
                f"model.smoothing must be > 0 (pseudo-counts of the shorter context), got {smoothing}"
            )
        labels = np.asarray(labels, dtype=np.int64)
        labelled = labels >= 0  # -1: a value no class stands for; it has nothing to count
        if np.any(labels >= num_classes):
            raise DataError(f"labels reach {labels.max()}, past the task's {num_classes} classes")
        symbols = _symbols(ids, columns, len(labels))[labelled]
        labels = labels[labelled]
        radices = tuple(int(symbols[:, j].max(initial=0)) + 1 for j in range(len(columns)))
        if np.prod(np.array(radices, dtype=float)) >= MAX_KEY:
            raise DataError(
                f"contexts over {list(columns)} have too many values to count ({radices}); use fewer"
            )
        levels = []
        for depth in range(len(columns) + 1):
            keys, rows = np.unique(_keys(symbols[:, :depth], radices), return_inverse=True)
            counts = sparse.csr_matrix(
                (np.ones(len(labels)), (rows.ravel(), labels)), shape=(len(keys), num_classes)
            )
            counts.sum_duplicates()
            totals = np.asarray(counts.sum(axis=1)).ravel()
            levels.append(Level(keys, counts, totals))
        return cls(tuple(columns), int(num_classes), float(smoothing), radices, tuple(levels))

    @property
    def n_counts(self) -> int:
        """The counts the table stores (non-zero context x class cells over all levels)."""
        return sum(int(level.counts.nnz) for level in self.levels)

    def probabilities(
        self, ids: dict[str, np.ndarray], n_rows: int, leave_out: np.ndarray | None = None
    ) -> np.ndarray:
        """(R, C) P(class | each row's context), by the back-off rule of the module docstring.

        `leave_out` (R,): the labels of rows that were among the fitted ones (-1: not), whose own count is
        left out of every level, so a training row is scored as an unseen one would be (leave-one-out)."""
        symbols = _symbols(ids, self.columns, n_rows)
        leave_out = np.full(n_rows, -1) if leave_out is None else np.asarray(leave_out, dtype=np.int64)
        own = np.flatnonzero(leave_out >= 0)
        probs = np.full((n_rows, self.num_classes), 1.0 / self.num_classes)
        for depth, level in enumerate(self.levels):
            context = symbols[:, :depth]
            in_range = np.all(context < np.array(self.radices[:depth], dtype=np.int64), axis=1)
            index = np.full(n_rows, -1)
            index[in_range] = level.lookup(_keys(context[in_range], self.radices))
            seen = index >= 0
            probs *= self.smoothing
            probs[seen] += level.counts[index[seen]].toarray()
            totals = np.where(seen, level.totals[index.clip(0)] if len(level.keys) else 0.0, 0.0)
            counted = own[seen[own]]
            probs[counted, leave_out[counted]] -= 1.0
            totals[counted] -= 1.0
            probs /= (totals + self.smoothing)[:, None]
        return probs

    def save(self, stem: Path) -> None:
        arrays: dict[str, np.ndarray] = {"radices": np.array(self.radices, dtype=np.int64)}
        for depth, level in enumerate(self.levels):
            arrays[f"keys_{depth}"] = level.keys
            arrays[f"data_{depth}"] = level.counts.data
            arrays[f"indices_{depth}"] = level.counts.indices
            arrays[f"indptr_{depth}"] = level.counts.indptr
        np.savez_compressed(stem.with_suffix(".npz"), **arrays)
        meta = {"columns": list(self.columns), "num_classes": self.num_classes, "smoothing": self.smoothing}
        stem.with_suffix(".json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, stem: Path) -> BackoffTable:
        meta_file, arrays_file = stem.with_suffix(".json"), stem.with_suffix(".npz")
        if not (meta_file.is_file() and arrays_file.is_file()):
            raise DataError(
                f"{stem.parent}: no {meta_file.name} and {arrays_file.name}; the run folder is incomplete"
            )
        meta = json.loads(meta_file.read_text())
        num_classes = int(meta["num_classes"])
        with np.load(arrays_file, allow_pickle=False) as arrays:
            levels = []
            for depth in range(len(meta["columns"]) + 1):
                keys = arrays[f"keys_{depth}"]
                parts = (arrays[f"data_{depth}"], arrays[f"indices_{depth}"], arrays[f"indptr_{depth}"])
                counts = sparse.csr_matrix(parts, shape=(len(keys), num_classes))
                levels.append(Level(keys, counts, np.asarray(counts.sum(axis=1)).ravel()))
            radices = tuple(int(r) for r in arrays["radices"])
        return cls(tuple(meta["columns"]), num_classes, float(meta["smoothing"]), radices, tuple(levels))


def _symbols(ids: dict[str, np.ndarray], columns: tuple[str, ...], n_rows: int) -> np.ndarray:
    """(R, K) int64 context symbols of each of `n_rows` rows, one column per context column, in order."""
    missing = [name for name in columns if name not in ids]
    if missing:
        raise DataError(
            f"the rows carry no ids {missing} (they have {sorted(ids) or 'none'}): a count baseline reads "
            "its contexts from the task's row ids (task=next gives previous.<j> and known.<field>)"
        )
    values = [np.asarray(ids[name], dtype=np.int64).reshape(-1) for name in columns]
    if any(len(column) != n_rows for column in values):
        raise DataError(f"ids {list(columns)} do not have one value per row ({n_rows} rows)")
    symbols = np.stack(values, axis=1) if values else np.zeros((n_rows, 0), dtype=np.int64)
    if np.any(symbols < 0):
        raise DataError(f"ids {list(columns)} hold negative values; 0 stands for none or unseen")
    return symbols


def _keys(symbols: np.ndarray, radices: tuple[int, ...]) -> np.ndarray:
    """(R,) one int64 key per row of (R, j) symbols, each below its column's radix."""
    keys = np.zeros(len(symbols), dtype=np.int64)
    for j in range(symbols.shape[1]):
        keys = keys * radices[j] + symbols[:, j]
    return keys
