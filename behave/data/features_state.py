"""What `FeatureBuilder.fit` learns from the training log: which tokens, values and bigrams get columns.

Everything here is plain JSON data (lists, dicts, strings, ints), so a fitted builder saves next to
the model and a test log is always encoded with the training log's columns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from behave.data.event_log import EventLog, category_counts
from behave.data.features_segments import Segments

OTHER = "(other)"
MISSING = "(missing)"
# Ids below this are not real tokens: 0 = padding (never in a log), 1 = unknown (counted as "other").
FIRST_REAL_TOKEN = 2
# Bigram counts use a dense (token x token) table up to this many cells (32 MB), np.unique beyond.
DENSE_PAIR_SPACE = 1 << 22


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

    def codes(self, values: pd.Categorical) -> np.ndarray:
        """(N,) int64 column of each value: 0..V-1 top values, V = OTHER, V + 1 = MISSING."""
        n_top = len(self.values)
        column_of_category = pd.Index(self.values).get_indexer(values.categories.astype(str))
        column_of_category[column_of_category < 0] = n_top
        missing_column = n_top + 1 if self.has_missing else n_top
        # Appended last, so pandas' missing code -1 indexes it.
        lookup = np.append(column_of_category, missing_column).astype(np.int64)
        return lookup[values.codes]


@dataclass
class FeatureState:
    """The fitted, JSON-serialisable state of a `FeatureBuilder` (token ids are training vocabulary ids)."""

    n_tokens: int
    token_ids: list[int]
    token_names: list[str]
    categorical: dict[str, Levels]
    numeric_has_missing: dict[str, bool]
    window_field: str | None
    bigrams: list[list[int]]
    bigram_names: list[str]
    static_categorical: dict[str, Levels]
    static_numeric_has_missing: dict[str, bool]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict) -> FeatureState:
        def levels(fields: dict) -> dict[str, Levels]:
            return {name: Levels(**value) for name, value in fields.items()}

        return cls(
            **{
                **state,
                "categorical": levels(state["categorical"]),
                "static_categorical": levels(state["static_categorical"]),
            }
        )


def fit_state(spec, train: EventLog, token_ids: np.ndarray, tokens: list[str]) -> FeatureState:
    """Learn the feature columns from the training log only. `token_ids` (N,) int64, `tokens` id -> string."""
    top_tokens = _top_tokens(token_ids, len(tokens), spec.max_token_features)
    bigrams = _top_bigrams(token_ids, len(tokens), Segments.from_offsets(train.offsets), spec.top_bigrams)
    static_numeric = [c for c in train.static.columns if _is_numeric(train.static[c])]
    static_categorical = [c for c in train.static.columns if c not in static_numeric]
    return FeatureState(
        n_tokens=len(tokens),
        token_ids=top_tokens,
        token_names=[tokens[i] for i in top_tokens],
        categorical={
            name: _fit_levels(values, spec.max_values_per_field) for name, values in train.categorical.items()
        },
        numeric_has_missing={name: bool(np.isnan(v).any()) for name, v in train.numeric.items()},
        window_field=next(iter(train.categorical), None),
        bigrams=bigrams,
        bigram_names=[f"{tokens[a]} -> {tokens[b]}" for a, b in bigrams],
        static_categorical={
            c: _fit_levels(pd.Categorical(train.static[c]), spec.max_values_per_field)
            for c in static_categorical
        },
        static_numeric_has_missing={c: bool(train.static[c].isna().any()) for c in static_numeric},
    )


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def _top_tokens(token_ids: np.ndarray, n_tokens: int, limit: int) -> list[int]:
    """Most frequent real token ids in train, ties broken by id (the vocabulary's own frequency order)."""
    counts = np.bincount(token_ids, minlength=n_tokens)[:n_tokens]
    counts[:FIRST_REAL_TOKEN] = 0
    order = np.argsort(-counts, kind="stable")[:limit]
    return [int(i) for i in order if counts[i] > 0]


def _fit_levels(values: pd.Categorical, limit: int) -> Levels:
    """Top `limit` values by training frequency, ties broken by category order."""
    missing, counts = category_counts(values)
    order = np.argsort(-counts, kind="stable")[:limit]
    names = values.categories.astype(str)
    return Levels(values=[str(names[i]) for i in order if counts[i] > 0], has_missing=bool(missing))


def _top_bigrams(token_ids: np.ndarray, n_tokens: int, segments: Segments, limit: int) -> list[list[int]]:
    """The `limit` most frequent (token, next token) pairs within sequences, ties broken by pair ids."""
    if limit <= 0 or len(token_ids) < 2:
        return []
    keys = token_ids[:-1].astype(np.int64) * n_tokens + token_ids[1:]
    if n_tokens**2 <= DENSE_PAIR_SPACE:
        # Pairs across a sequence boundary go to one extra bin; a bincount is ~3x faster than np.unique.
        keys[segments.is_first[1:]] = n_tokens**2
        counts = np.bincount(keys, minlength=n_tokens**2 + 1)[:-1]
        pairs = np.flatnonzero(counts)
        counts = counts[pairs]
    else:
        pairs, counts = np.unique(keys[~segments.is_first[1:]], return_counts=True)
    top = pairs[np.lexsort((pairs, -counts))[:limit]]
    return [[int(k // n_tokens), int(k % n_tokens)] for k in top]
