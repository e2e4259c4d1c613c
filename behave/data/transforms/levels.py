"""One-hot columns of a categorical input: its top training values, then OTHER, then MISSING.

Shared by the tabular features (per-event categorical fields) and the static attributes that both model
families see, so a value has one column layout wherever it appears.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from behave.data.event_log import category_counts

OTHER = "(other)"
MISSING = "(missing)"


@dataclass
class Levels:
    """Columns of one categorical input: its top training values, then OTHER, then MISSING if train had any.

    Values unseen in fit and (when train had none) missing values fall into OTHER, so a new log never
    creates columns.
    """

    values: list[str]
    has_missing: bool

    @property
    def width(self) -> int:
        return len(self.values) + 1 + int(self.has_missing)

    @property
    def labels(self) -> list[str]:
        return [*self.values, OTHER] + ([MISSING] if self.has_missing else [])

    def codes(self, values: pd.Categorical, dtype=np.int64) -> np.ndarray:
        """(N,) column of each value (`dtype`): 0..V-1 top values, V = OTHER, V + 1 = MISSING."""
        n_top = len(self.values)
        column_of_category = pd.Index(self.values).get_indexer(values.categories.astype(str))
        column_of_category[column_of_category < 0] = n_top
        missing_column = n_top + 1 if self.has_missing else n_top
        # Appended last, so pandas' missing code -1 indexes it.
        lookup = np.append(column_of_category, missing_column).astype(dtype)
        return lookup[values.codes]


def fit_levels(values: pd.Categorical, limit: int, counts: tuple[int, np.ndarray] | None = None) -> Levels:
    """Top `limit` values by training frequency, ties broken by category order. `counts`: the values'
    `category_counts`, when the caller has them already."""
    return levels_from_counts(
        values.categories, limit, counts if counts is not None else category_counts(values)
    )


def levels_from_counts(categories: pd.Index, limit: int, counts: tuple[int, np.ndarray]) -> Levels:
    """Top `limit` of `categories` by their training `counts` (missing values, (C,) counts), ties broken by
    category order: the rule `fit_levels` applies, for counts summed over parts of the training log."""
    missing, counts = counts
    order = np.argsort(-counts, kind="stable")[:limit]
    names = categories.astype(str)
    return Levels(values=[str(names[i]) for i in order if counts[i] > 0], has_missing=bool(missing))


def one_hot_into(out: np.ndarray, codes: np.ndarray) -> None:
    """Write a one-hot of `codes` (S,) into `out` (S, W) in place."""
    out[:] = 0.0
    out[np.arange(len(codes)), codes] = 1.0
