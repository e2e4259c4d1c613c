"""Categorical event fields that are not part of the token, as integer codes for the neural family.

The tree features count every categorical field of the schema; the token covers only `tokens.fields`. So
that both families see the same fields, the other categorical fields reach the neural encoder as codes of
their own (embedded beside the token): by default every categorical field that is not a token field
(`sequences.embed_fields: null`), or a chosen list, or none (`[]`; the data card then says which fields
only the tree features see). Codes are fitted on train only, like everything else:

    0        padding (never produced for a real event)
    1..V     the top `sequences.max_field_values` training values
    V + 1    any other value (unseen in training or rare)
    V + 2    missing (only when train had missing values)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from behave.data.event_log import EventLog
from behave.data.spec import DatasetSpec
from behave.data.transforms.levels import Levels, levels_from_counts


def embedded_fields(spec: DatasetSpec) -> list[str]:
    """The categorical fields the neural family embeds beside the token (the rule lives here only)."""
    chosen = spec.sequences.embed_fields
    if chosen is None:
        return [f for f in spec.schema.categorical if f not in spec.tokens.fields]
    return list(chosen)


@dataclass
class EventFieldCodes:
    """Fit on the training log; `transform` gives (N, K) int32 codes, one column per embedded field."""

    fields: list[str]
    max_values: int = 100
    levels_: dict[str, Levels] = field(default_factory=dict)

    def fit(self, train: EventLog) -> EventFieldCodes:
        counts = {name: train.category_counts(name) for name in self.fields}
        return self.fit_counts({name: train.categorical[name].categories for name in self.fields}, counts)

    def fit_counts(self, categories: dict[str, pd.Index], counts: dict[str, tuple]) -> EventFieldCodes:
        """Fit from each field's categories and training `category_counts` (summed over parts of train)."""
        self.levels_ = {
            name: levels_from_counts(categories[name], self.max_values, counts[name]) for name in self.fields
        }
        return self

    @property
    def sizes(self) -> list[int]:
        """Embedding table rows per field: padding plus every column of its levels."""
        return [levels.width + 1 for levels in self.levels_.values()]

    def transform(self, log_: EventLog) -> np.ndarray:
        out = np.zeros((log_.n_events, len(self.levels_)), dtype=np.int32)
        for j, (name, levels) in enumerate(self.levels_.items()):
            codes = levels.codes(log_.categorical[name], np.int32)
            codes += 1  # in place: an int64 code column and its shifted copy were 160 MB at 10M events
            out[:, j] = codes
        return out

    def state_dict(self) -> dict:
        return {"fields": self.fields, "max_values": self.max_values,
                "levels": {name: asdict(levels) for name, levels in self.levels_.items()}}  # fmt: skip

    @classmethod
    def from_state_dict(cls, state: dict) -> EventFieldCodes:
        levels = {name: Levels(**value) for name, value in state["levels"].items()}
        return cls(fields=list(state["fields"]), max_values=state["max_values"], levels_=levels)
