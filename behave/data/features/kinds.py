"""The kinds of tabular feature columns: what each column is about, declared by whatever writes it.

A feature group (and a task with its own tabular view) names the kind of every column it writes; the task's
cached feature table records them (`task.json`, `feature_kinds`), and explanations sum attributions by them.
The values are the labels the report shows.
"""

from __future__ import annotations

from enum import Enum


class FeatureKind(str, Enum):
    STATIC = "static attributes"
    BIGRAMS = "bigrams"
    RECENCY = "recency: first / last events, last k, recent window"
    SHAPE = "shape and timing"
    TOKENS = "token counts and shares"
    FIELD_COUNTS = "field value counts and shares"
    NUMERIC = "numeric aggregates"
    RATING_AGGREGATES = "user and item rating aggregates"
    ITEM_ATTRIBUTES = "item attributes"
    PERFORMANCE = "successes and failures so far (performance factors)"
    KNOWN = "known fields of the predicted event"


def kinds_of(names: list[str], kind: FeatureKind) -> list[FeatureKind]:
    """The same kind for every one of `names` (a group whose columns are all of one kind)."""
    return [kind] * len(names)


def checked_kinds(kinds: dict[str, str], names: list[str], where: str) -> dict[str, str]:
    """`kinds` for exactly the columns `names`, in their order, each a known kind; else a clear error."""
    unknown = sorted({kind for kind in kinds.values()} - {kind.value for kind in FeatureKind})
    if unknown:
        raise ValueError(f"{where}: unknown feature kinds {unknown}; known: {[k.value for k in FeatureKind]}")
    if list(kinds) != list(names):
        missing = [name for name in names if name not in kinds][:10]
        extra = [name for name in kinds if name not in set(names)][:10]
        raise ValueError(
            f"{where}: declared feature kinds do not match the feature columns "
            f"(columns without a kind: {missing}; kinds without a column: {extra})"
        )
    return dict(kinds)
