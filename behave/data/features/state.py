"""What `FeatureBuilder.fit` learns from the training log: which tokens, values and bigrams get columns.

Everything here is plain JSON data (lists, dicts, strings, ints), so a fitted builder saves next to
the model and a test log is always encoded with the training log's columns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from behave.data.event_log import EventLog
from behave.data.features.segments import Segments
from behave.data.transforms.levels import Levels, levels_from_counts
from behave.data.transforms.static import StaticEncoder
from behave.data.transforms.train_parts import add_counts, add_keyed_counts

# Ids below this are not real tokens: 0 = padding (never in a log), 1 = unknown (counted as "other").
FIRST_REAL_TOKEN = 2
# Bigram counts use a dense (token x token) table up to this many cells (32 MB), np.unique beyond.
DENSE_PAIR_SPACE = 1 << 22


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


@dataclass(frozen=True)
class TokenFrequencies:
    """How often each token id, and each (token, next token) pair within a sequence, occurs in (a part of)
    the training log; parts add up with `+`."""

    tokens: np.ndarray  # (n_tokens,) int64
    pairs: np.ndarray  # distinct pair keys a * n_tokens + b, ascending
    pair_counts: np.ndarray

    @classmethod
    def of(cls, token_ids: np.ndarray, n_tokens: int, segments: Segments) -> TokenFrequencies:
        pairs, pair_counts = _pair_counts(token_ids, n_tokens, segments)
        return cls(np.bincount(token_ids, minlength=n_tokens)[:n_tokens], pairs, pair_counts)

    def __add__(self, other: TokenFrequencies) -> TokenFrequencies:
        pairs, counts = add_keyed_counts([(self.pairs, self.pair_counts), (other.pairs, other.pair_counts)])
        return TokenFrequencies(self.tokens + other.tokens, pairs, counts)


@dataclass(frozen=True)
class FieldCounts:
    """Per event field, what the columns are fitted from: each categorical field's categories and training
    `category_counts`, and whether each numeric field had a missing value in training."""

    categories: dict[str, pd.Index]
    categorical: dict[str, tuple[int, np.ndarray]]
    numeric_has_missing: dict[str, bool]

    def __add__(self, other: FieldCounts) -> FieldCounts:
        return FieldCounts(
            self.categories,
            {name: add_counts(counts, other.categorical[name]) for name, counts in self.categorical.items()},
            {
                name: flag or other.numeric_has_missing[name]
                for name, flag in self.numeric_has_missing.items()
            },
        )

    @classmethod
    def of(cls, train: EventLog) -> FieldCounts:
        return cls(
            {name: values.categories for name, values in train.categorical.items()},
            {name: train.category_counts(name) for name in train.categorical},
            {name: bool(np.isnan(v).any()) for name, v in train.numeric.items()},
        )


def fit_state(
    spec, train: EventLog, token_ids: np.ndarray, tokens: list[str], static: StaticEncoder
) -> FeatureState:
    """Learn the feature columns from the training log only. `token_ids` (N,) int64, `tokens` id -> string."""
    counts = TokenFrequencies.of(token_ids, len(tokens), Segments.from_offsets(train.offsets))
    return state_from_counts(spec, FieldCounts.of(train), counts, tokens, static)


def state_from_counts(
    spec, fields: FieldCounts, counts: TokenFrequencies, tokens: list[str], static: StaticEncoder
) -> FeatureState:
    """The feature columns from counts over the training log (or summed over its parts).

    Static attributes take the columns of the pipeline's one `StaticEncoder`, so the tree models see
    exactly the static values the neural head sees.
    """
    top_tokens = _top_tokens(counts.tokens, spec.max_token_features)
    bigrams = _top_bigrams(counts, len(tokens), spec.top_bigrams)
    return FeatureState(
        n_tokens=len(tokens),
        token_ids=top_tokens,
        token_names=[tokens[i] for i in top_tokens],
        categorical={
            name: levels_from_counts(fields.categories[name], spec.max_values_per_field, counted)
            for name, counted in fields.categorical.items()
        },
        numeric_has_missing=dict(fields.numeric_has_missing),
        window_field=next(iter(fields.categorical), None),
        bigrams=bigrams,
        bigram_names=[f"{tokens[a]} -> {tokens[b]}" for a, b in bigrams],
        static_categorical=dict(static.categorical_),
        static_numeric_has_missing={c: stats.has_missing for c, stats in static.numeric_.items()},
    )


def _top_tokens(token_counts: np.ndarray, limit: int) -> list[int]:
    """Most frequent real token ids in train, ties broken by id (the vocabulary's own frequency order)."""
    counts = token_counts.copy()
    counts[:FIRST_REAL_TOKEN] = 0
    order = np.argsort(-counts, kind="stable")[:limit]
    return [int(i) for i in order if counts[i] > 0]


def _pair_counts(token_ids: np.ndarray, n_tokens: int, segments: Segments) -> tuple[np.ndarray, np.ndarray]:
    """(distinct (token, next token) keys within sequences, ascending; their counts)."""
    if len(token_ids) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    keys = token_ids[:-1].astype(np.int64) * n_tokens + token_ids[1:]
    if n_tokens**2 <= DENSE_PAIR_SPACE:
        # Pairs across a sequence boundary go to one extra bin; a bincount is ~3x faster than np.unique.
        keys[segments.is_first[1:]] = n_tokens**2
        counts = np.bincount(keys, minlength=n_tokens**2 + 1)[:-1]
        pairs = np.flatnonzero(counts)
        return pairs.astype(np.int64), counts[pairs]
    return np.unique(keys[~segments.is_first[1:]], return_counts=True)


def _top_bigrams(counts: TokenFrequencies, n_tokens: int, limit: int) -> list[list[int]]:
    """The `limit` most frequent (token, next token) pairs within sequences, ties broken by pair ids."""
    if limit <= 0 or len(counts.pairs) == 0:
        return []
    top = counts.pairs[np.lexsort((counts.pairs, -counts.pair_counts))[:limit]]
    return [[int(k // n_tokens), int(k % n_tokens)] for k in top]
