"""Feature sets for the tabular family (`features=<name>`, conf/features/): which columns a row gets.

`default` is the pipeline's own builder (every group in `builder.py`). The others are the sequence encodings
of the outcome-prediction benchmark (Teinemaa et al., "Outcome-oriented predictive process monitoring:
review and benchmark", ACM TKDD 2019), built from the same fitted state (the training values of each field,
learned on train only) and the same events of each row:

| set          | columns                                                                          |
| ------------ | -------------------------------------------------------------------------------- |
| `aggregate`  | per categorical field the count of each value; per numeric field count, sum,     |
|              | mean, std, min, max of its values; the static attributes                         |
| `last_state` | the last event's value of every field; the static attributes                     |
| `index`      | every field's value at each of the first `positions` events (all zeros past the  |
|              | row's end), the row's length; the static attributes                              |

Each set says in `leaves_out` what of the row's events it does not encode; the task card records it, so a
reader knows what the trees did not see that the sequence models did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from behave.data.errors import DataError
from behave.data.features.encoding_groups import (
    LastNumber,
    LastValue,
    Length,
    NumberAtPosition,
    NumericAggregates,
    ValueAtPosition,
    ValueCounts,
)
from behave.data.features.fields import FeatureGroup
from behave.data.features.groups import StaticCategorical, StaticNumeric
from behave.data.features.state import FeatureState

# The benchmark's cap on prefix lengths: an index encoding past it would encode events no row of the
# benchmark's protocol has.
BENCHMARK_LENGTH_CAP = 40


class FeatureSet(Protocol):
    """A choice of columns from the builder's fitted state; `groups` None keeps the builder's own."""

    name: ClassVar[str]

    def groups(self, state: FeatureState) -> list[FeatureGroup] | None: ...

    def leaves_out(self) -> str | None: ...

    def settings(self) -> dict: ...


def _static(state: FeatureState) -> list[FeatureGroup]:
    return [
        StaticNumeric(has_missing=state.static_numeric_has_missing),
        StaticCategorical(levels=state.static_categorical),
    ]


@dataclass(frozen=True)
class DefaultFeatures:
    """The pipeline's own feature builder, every group of `builder.py`."""

    name: ClassVar[str] = "default"

    def groups(self, state: FeatureState) -> None:
        return None

    def leaves_out(self) -> None:
        return None

    def settings(self) -> dict:
        return {}


@dataclass(frozen=True)
class AggregateFeatures:
    """Aggregation encoding: value counts and numeric aggregates per row, plus the static attributes."""

    name: ClassVar[str] = "aggregate"

    def groups(self, state: FeatureState) -> list[FeatureGroup]:
        return [
            *[ValueCounts(field, levels) for field, levels in state.categorical.items()],
            *[NumericAggregates(field) for field in state.numeric_has_missing],
            *_static(state),
        ]

    def leaves_out(self) -> str:
        return "the order of events, their times and gaps, which value came last"

    def settings(self) -> dict:
        return {}


@dataclass(frozen=True)
class LastStateFeatures:
    """Last-state encoding: the last event's field values, plus the static attributes."""

    name: ClassVar[str] = "last_state"

    def groups(self, state: FeatureState) -> list[FeatureGroup]:
        return [
            *[LastValue(field, levels) for field, levels in state.categorical.items()],
            *[LastNumber(field, has_missing) for field, has_missing in state.numeric_has_missing.items()],
            *_static(state),
        ]

    def leaves_out(self) -> str:
        return "every event before the last, the row's length, times and gaps"

    def settings(self) -> dict:
        return {}


@dataclass(frozen=True)
class IndexFeatures:
    """Index encoding: each field's value at positions 1..`positions`, the length, the static attributes."""

    name: ClassVar[str] = "index"
    positions: int = BENCHMARK_LENGTH_CAP

    def __post_init__(self) -> None:
        if isinstance(self.positions, bool) or not isinstance(self.positions, int) or self.positions < 1:
            raise DataError(f"features.positions must be a positive whole number, got {self.positions!r}.")

    def groups(self, state: FeatureState) -> list[FeatureGroup]:
        return [
            Length(),
            *[ValueAtPosition(field, levels, self.positions) for field, levels in state.categorical.items()],
            *[
                NumberAtPosition(field, has_missing, self.positions)
                for field, has_missing in state.numeric_has_missing.items()
            ],
            *_static(state),
        ]

    def leaves_out(self) -> str:
        return f"events after the first {self.positions}, event times and gaps"

    def settings(self) -> dict:
        return {"positions": self.positions}


# Every feature set by the name a saved pipeline records: a run folder may come from someone else, so what it
# names is looked up here and never imported from the file (the trust rule of behave-predict).
FEATURE_SETS: dict[str, type] = {
    kind.name: kind for kind in (DefaultFeatures, AggregateFeatures, LastStateFeatures, IndexFeatures)
}


def feature_set_record(feature_set: FeatureSet) -> dict:
    """What a saved pipeline (and a task's cache key) records of the set: its name and settings."""
    return {"name": feature_set.name, **feature_set.settings()}


def feature_set_from_record(record: dict) -> FeatureSet:
    """The set a saved pipeline recorded (`feature_set_record`); a DataError for a name behave lacks."""
    settings = dict(record)
    name = settings.pop("name", None)
    if name not in FEATURE_SETS:
        raise DataError(
            f"the saved pipeline names an unknown feature set {name!r}; known: {sorted(FEATURE_SETS)}"
        )
    return FEATURE_SETS[name](**settings)


def is_default(feature_set: FeatureSet | None) -> bool:
    """Whether the set keeps the builder's own columns: then nothing about the run or its caches changes."""
    return feature_set is None or isinstance(feature_set, DefaultFeatures)
