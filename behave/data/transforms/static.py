"""Per-sequence (static) attributes, encoded ONCE for both model families and fitted on train only.

Numeric attributes: the neural head gets (value - train mean) / train std, and a 0/1 missing flag when
train had missing values; the tree features get the raw value with the same flag. Categorical attributes:
one-hot over the top `static.max_values` training values, then OTHER, then MISSING (shared `Levels`), for
both families. Because both read this one encoder, a setting of the tabular features can never change
what the neural head sees, and neither family sees a static value the other does not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from behave.data.ingestion.columns import missing_flag
from behave.data.spec import StaticSpec
from behave.data.transforms.levels import Levels, fit_levels, one_hot_into
from behave.data.transforms.scaler import column_moments, mean_and_std, standardise


@dataclass
class NumericStats:
    mean: float
    std: float
    has_missing: bool


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def numeric_values(static: pd.DataFrame, column: str) -> np.ndarray:
    """(S,) float64 values of a numeric attribute, NaN where missing or not finite."""
    values = static[column].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


@dataclass
class StaticEncoder:
    """Fit on the training sequences' static frame, then encode any frame with the same columns."""

    spec: StaticSpec = field(default_factory=StaticSpec)
    numeric_: dict[str, NumericStats] = field(default_factory=dict)
    categorical_: dict[str, Levels] = field(default_factory=dict)

    def fit(self, static: pd.DataFrame) -> StaticEncoder:
        for column in static.columns:
            if _is_numeric(static[column]):
                moments = column_moments(numeric_values(static, column))
                mean, std = mean_and_std([moments])
                self.numeric_[column] = NumericStats(mean, std, has_missing=moments.present < moments.events)
            else:
                self.categorical_[column] = fit_levels(pd.Categorical(static[column]), self.spec.max_values)
        return self

    @property
    def columns(self) -> list[str]:
        """Names of the encoded columns, in `transform` order."""
        names = []
        for column, stats in self.numeric_.items():
            names += [column] + ([missing_flag(column)] if stats.has_missing else [])
        for column, levels in self.categorical_.items():
            names += [f"{column}[{value}]" for value in levels.labels]
        return names

    def transform(self, static: pd.DataFrame) -> np.ndarray:
        """(S, D) float32 inputs for the neural head (D = 0 without static attributes)."""
        out = np.zeros((len(static), len(self.columns)), dtype=np.float32)
        position = 0
        for column, stats in self.numeric_.items():
            values = numeric_values(static, column)
            out[:, position] = standardise(values, stats.mean, stats.std)
            if stats.has_missing:
                out[:, position + 1] = np.isnan(values)
            position += 1 + int(stats.has_missing)
        for column, levels in self.categorical_.items():
            codes = levels.codes(pd.Categorical(static[column]))
            one_hot_into(out[:, position : position + levels.width], codes)
            position += levels.width
        return out

    def state_dict(self) -> dict:
        return {
            "spec": asdict(self.spec),
            "numeric": {c: asdict(s) for c, s in self.numeric_.items()},
            "categorical": {c: asdict(levels) for c, levels in self.categorical_.items()},
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> StaticEncoder:
        return cls(
            spec=StaticSpec(**state["spec"]),
            numeric_={c: NumericStats(**s) for c, s in state["numeric"].items()},
            categorical_={c: Levels(**levels) for c, levels in state["categorical"].items()},
        )
