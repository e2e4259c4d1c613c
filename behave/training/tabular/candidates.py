"""Candidates for ranking a large set of next values (task=next, e.g. the next of 1,682 movies), and the
features of each (row, candidate) pair that a learning-to-rank booster scores.

A row's K candidates, in this order of priority, the first K distinct values kept:

    1. its last target values, `previous.1..3` (what the user just did: repeats are common in sessions)
    2. the top values of a Markov order-1 back-off table fitted on training rows (`BackoffTable`)
    3. the top values of popularity over the training rows (the same for every row)

Training rows are scored leave-one-out (`BackoffTable.probabilities(leave_out=...)`): a row's own next
value is not in the counts that describe its candidates, as it is not for a new row; in-sample counts
would make the Markov probability look more reliable than it is. The Markov table alone yields K distinct
values, so every row gets exactly K = min(k, classes) candidates.
A row's running features are too wide to repeat per candidate; a pair is described by:

    markov_prob, markov_rank     the candidate's Markov order-1 probability, and its rank among the row's
                                 top-K Markov values (K: not among them)
    popularity_prob              its training frequency (smoothed; no rank beside it: a global rank
                                 beside a leave-one-out frequency would single out a row's true value)
    is_previous.<j>              1 where it is the row's value j events back
    history_length               events before the row (its cutoff)
    row.<column>                 a few of the row's own columns (e.g. gap_s), the same for its candidates

The count tables are saved as JSON + npz (`BackoffTable.save`), never pickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from behave.data.errors import DataError
from behave.data.inputs import PREVIOUS_IDS, RowInputs, previous_id
from behave.training.backoff_counts import BackoffTable

PREVIOUS = tuple(previous_id(j) for j in range(1, PREVIOUS_IDS + 1))
LAST = previous_id(1)
MARKOV_STEM, POPULARITY_STEM = "candidates_markov", "candidates_popularity"
# Rows whose (rows x classes) Markov probabilities are held in memory at once.
CHUNK_ROWS = 2048


@dataclass(frozen=True)
class RankRows:
    """What candidates are built from, for R rows: `previous` (R, P) class indices of the last P target
    values (-1: none), `history` (R,) events before each row, `row_values` (R, D) the row's own columns,
    `labels` (R,) the true class (-1: unknown)."""

    previous: np.ndarray
    history: np.ndarray
    row_values: np.ndarray
    labels: np.ndarray

    @classmethod
    def of(cls, inputs: RowInputs, row_columns: tuple[str, ...]) -> RankRows:
        previous = [name for name in PREVIOUS if name in inputs.ids]
        if LAST not in previous:
            raise DataError(
                f"the rows carry no ids previous.1 (they have {sorted(inputs.ids) or 'none'}): candidates "
                "are ranked after the last target value, which task=next gives"
            )
        values = np.stack([np.asarray(inputs.ids[name], np.int64) - 1 for name in previous], axis=1)
        if row_columns:
            missing = [name for name in row_columns if name not in inputs.features.columns]
            if missing:
                raise DataError(
                    f"model.row_columns {missing} are not columns of the task's features (e.g. "
                    f"{list(inputs.features.columns[:5])}); name running features such as gap_s"
                )
            row_values = inputs.features[list(row_columns)].to_numpy(dtype=np.float32)
        else:
            row_values = np.zeros((len(inputs), 0), np.float32)
        labels = np.asarray(inputs.labels, np.int64)
        return cls(values, np.asarray(inputs.cutoff, np.float32), row_values, labels)

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, rows: np.ndarray) -> RankRows:
        return RankRows(self.previous[rows], self.history[rows], self.row_values[rows], self.labels[rows])


@dataclass(frozen=True)
class CountModels:
    """The count models candidates come from, fitted on training rows."""

    markov: BackoffTable
    popularity: BackoffTable

    @classmethod
    def fit(cls, rows: RankRows, num_classes: int, smoothing: float) -> CountModels:
        last = {LAST: rows.previous[:, 0] + 1}
        markov = BackoffTable.fit(last, rows.labels, (LAST,), num_classes, smoothing)
        popularity = BackoffTable.fit({}, rows.labels, (), num_classes, smoothing)
        return cls(markov, popularity)

    @property
    def num_classes(self) -> int:
        return self.markov.num_classes

    def save(self, folder: Path) -> None:
        self.markov.save(folder / MARKOV_STEM)
        self.popularity.save(folder / POPULARITY_STEM)

    @classmethod
    def load(cls, folder: Path) -> CountModels:
        return cls(BackoffTable.load(folder / MARKOV_STEM), BackoffTable.load(folder / POPULARITY_STEM))


@dataclass(frozen=True)
class Candidates:
    """`values` (R, K) each row's candidate classes; `features` (R * K, F) a row per pair, row-major."""

    values: np.ndarray
    features: np.ndarray
    feature_names: list[str]

    def hits(self, labels: np.ndarray) -> np.ndarray:
        """(R,) whether each row's true class is among its candidates."""
        return (self.values == np.asarray(labels)[:, None]).any(axis=1)

    def markov_margin(self) -> np.ndarray:
        """(R * K,) each pair's log Markov probability (> 0 by the back-off rule): the score a ranker
        boosts from, so its first rounds refine Markov's order instead of starting from ties."""
        return np.log(self.features[:, self.feature_names.index("markov_prob")])

    def relevance(self, labels: np.ndarray) -> np.ndarray:
        """(R * K,) 1 for the pair of the row's true class, else 0."""
        return (self.values == np.asarray(labels)[:, None]).astype(np.float32).ravel()


def feature_names(n_previous: int, row_columns: tuple[str, ...]) -> list[str]:
    return [
        "markov_prob",
        "markov_rank",
        "popularity_prob",
        *(f"is_previous.{j}" for j in range(1, n_previous + 1)),
        "history_length",
        *(f"row.{name}" for name in row_columns),
    ]


def build_candidates(
    models: CountModels,
    rows: RankRows,
    k: int,
    row_columns: tuple[str, ...] = (),
    fitted_rows: bool = False,
) -> Candidates:
    """Each row's min(k, classes) candidates and their pair features (module docstring). `fitted_rows`:
    the rows are the ones the counts were fitted on, each scored with its own count left out."""
    if not isinstance(k, int) or k < 1:
        raise DataError(f"model.candidates must be a whole number >= 1 (values ranked per row), got {k!r}")
    k = min(k, models.num_classes)
    popular = np.argsort(-models.popularity.probabilities({}, 1)[0], kind="stable")
    values, features = [], []
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows.take(np.arange(start, min(start + CHUNK_ROWS, len(rows))))
        own = chunk.labels if fitted_rows else None
        last = {LAST: chunk.previous[:, 0] + 1}
        markov = models.markov.probabilities(last, len(chunk), leave_out=own)
        popularity = models.popularity.probabilities({}, len(chunk), leave_out=own)
        top = np.argpartition(-markov, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(markov, top, 1), 1, "stable"), 1)
        pooled = np.concatenate([chunk.previous, top, np.broadcast_to(popular[:k], top.shape)], axis=1)
        chosen = first_distinct(pooled, k)
        in_top = chosen[:, :, None] == top[:, None, :]
        columns = [
            np.take_along_axis(markov, chosen, 1),
            np.where(in_top.any(axis=2), in_top.argmax(axis=2), k),
            np.take_along_axis(popularity, chosen, 1),
            *(chosen == chunk.previous[:, [j]] for j in range(chunk.previous.shape[1])),
            np.broadcast_to(chunk.history[:, None], chosen.shape),
            *(np.broadcast_to(chunk.row_values[:, [j]], chosen.shape) for j in range(len(row_columns))),
        ]
        values.append(chosen)
        features.append(np.stack(columns, axis=2).astype(np.float32).reshape(-1, len(columns)))
    n_features = len(feature_names(rows.previous.shape[1], row_columns))
    return Candidates(
        np.concatenate(values) if values else np.zeros((0, k), np.int64),
        np.concatenate(features) if features else np.zeros((0, n_features), np.float32),
        feature_names(rows.previous.shape[1], row_columns),
    )


def first_distinct(pooled: np.ndarray, k: int) -> np.ndarray:
    """(R, k) the first k distinct non-negative values of each row of `pooled` (R, M), in order; each row
    must hold at least k."""
    order = np.argsort(pooled, axis=1, kind="stable")  # equal values keep their order: the first leads
    ordered = np.take_along_axis(pooled, order, 1)
    repeat = np.zeros_like(pooled, dtype=bool)
    repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    duplicate = np.empty_like(repeat)
    np.put_along_axis(duplicate, order, repeat, 1)
    keep = (pooled >= 0) & ~duplicate
    first = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(pooled, first, 1)
