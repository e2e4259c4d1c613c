"""What `FeatureBuilder.fit` learns from the training log: which tokens, values and bigrams get columns.

Everything here is plain JSON data (lists, dicts, strings, ints), so a fitted builder saves next to
the model and a test log is always encoded with the training log's columns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from behave.data.event_log import EventLog
from behave.data.features.segments import Segments
from behave.data.levels import Levels, fit_levels
from behave.data.static import StaticEncoder

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


def fit_state(
    spec, train: EventLog, token_ids: np.ndarray, tokens: list[str], static: StaticEncoder
) -> FeatureState:
    """Learn the feature columns from the training log only. `token_ids` (N,) int64, `tokens` id -> string.

    Static attributes take the columns of the pipeline's one `StaticEncoder`, so the tree models see
    exactly the static values the neural head sees.
    """
    top_tokens = _top_tokens(token_ids, len(tokens), spec.max_token_features)
    bigrams = _top_bigrams(token_ids, len(tokens), Segments.from_offsets(train.offsets), spec.top_bigrams)
    return FeatureState(
        n_tokens=len(tokens),
        token_ids=top_tokens,
        token_names=[tokens[i] for i in top_tokens],
        categorical={
            name: fit_levels(values, spec.max_values_per_field, train.category_counts(name))
            for name, values in train.categorical.items()
        },
        numeric_has_missing={name: bool(np.isnan(v).any()) for name, v in train.numeric.items()},
        window_field=next(iter(train.categorical), None),
        bigrams=bigrams,
        bigram_names=[f"{tokens[a]} -> {tokens[b]}" for a, b in bigrams],
        static_categorical=dict(static.categorical_),
        static_numeric_has_missing={c: stats.has_missing for c, stats in static.numeric_.items()},
    )


def _top_tokens(token_ids: np.ndarray, n_tokens: int, limit: int) -> list[int]:
    """Most frequent real token ids in train, ties broken by id (the vocabulary's own frequency order)."""
    counts = np.bincount(token_ids, minlength=n_tokens)[:n_tokens]
    counts[:FIRST_REAL_TOKEN] = 0
    order = np.argsort(-counts, kind="stable")[:limit]
    return [int(i) for i in order if counts[i] > 0]


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
