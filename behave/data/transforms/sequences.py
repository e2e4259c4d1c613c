"""Index sequences for the neural models, stored flat: offsets + (N,) token ids + (N, F) numeric inputs.

Per-event numeric inputs are: log1p(seconds since the previous event of the same sequence, 0 for the
first), then each numeric field (optionally log1p-transformed), each standardised with TRAINING mean and
std, plus a 0/1 "missing" column for fields that had missing values in training. Missing values become 0
after scaling (the training mean), so the model sees "average, and missing" rather than a magic number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from behave.data.event_log import EventLog
from behave.data.ingestion.columns import flagged_column, missing_flag
from behave.data.spec import Keep, NumericTransform, SequenceSpec
from behave.data.transforms.scaler import Moments, column_moments, mean_and_std, standardise

GAP_COLUMN = "log1p_gap_s"


def gaps_seconds(log_: EventLog) -> np.ndarray:
    """(N,) seconds since the previous event of the same sequence; 0 for each sequence's first event."""
    gaps = np.diff(log_.time, prepend=log_.time[:1] if log_.n_events else log_.time)
    gaps[log_.offsets[:-1]] = 0.0
    return np.maximum(gaps, 0.0)


def _signed_log1p(values: np.ndarray) -> np.ndarray:
    out = np.log1p(np.abs(values))
    return np.copysign(out, values, out=out)


@dataclass
class NumericScaler:
    """Per-event numeric inputs with training statistics. `columns_` names the F input columns."""

    spec: SequenceSpec
    fields: list[str]
    columns_: list[str] = field(default_factory=list)
    mean_: dict[str, float] = field(default_factory=dict)
    std_: dict[str, float] = field(default_factory=dict)

    def _raw_columns(self, log_: EventLog) -> dict[str, np.ndarray]:
        columns = {GAP_COLUMN: np.log1p(gaps_seconds(log_))}
        for name in self.fields:
            transform = self.spec.numeric_transform.get(name, NumericTransform.none)
            values = log_.numeric[name]
            columns[name] = _signed_log1p(values) if transform == NumericTransform.log1p else values
        return columns

    def fit(self, train: EventLog) -> NumericScaler:
        return self.fit_moments([self.moments(train)])

    def moments(self, part: EventLog, shifts: dict[str, float] | None = None) -> dict[str, Moments]:
        """`Moments` of each raw input column over `part` (a whole training log, or one part of it).

        Squares are summed around `shifts` (each column's mean over the first part, its own mean when None),
        so parts add up in one pass and a column far from zero (unix times) keeps its precision.
        """
        columns = self._raw_columns(part)
        return {
            name: column_moments(values, None if shifts is None else shifts[name])
            for name, values in columns.items()
        }

    def fit_moments(self, parts: list[dict[str, Moments]]) -> NumericScaler:
        """Means, standard deviations and columns from the `moments` of every part of train (the same
        shifts in all), by the one standardiser's rule (`scaler.mean_and_std`)."""
        self.columns_, self.mean_, self.std_ = [], {}, {}
        for name in parts[0]:
            column = [part[name] for part in parts]
            self.mean_[name], self.std_[name] = mean_and_std(column)
            self.columns_.append(name)
            if sum(m.present for m in column) < sum(m.events for m in column):
                self.columns_.append(missing_flag(name))
        return self

    def transform(self, log_: EventLog) -> np.ndarray:
        """(N, F) float32 inputs in `columns_` order."""
        raw = self._raw_columns(log_)
        out = np.zeros((log_.n_events, len(self.columns_)), dtype=np.float32)
        for j, column in enumerate(self.columns_):
            flagged = flagged_column(column)
            if flagged is not None and column not in raw:
                out[:, j] = np.isnan(raw[flagged])
                continue
            out[:, j] = standardise(raw[column], self.mean_[column], self.std_[column])
        return out

    def state_dict(self) -> dict:
        return {"fields": self.fields, "columns": self.columns_, "mean": self.mean_, "std": self.std_}

    @classmethod
    def from_state_dict(cls, state: dict, spec: SequenceSpec) -> NumericScaler:
        return cls(spec, state["fields"], state["columns"], state["mean"], state["std"])


@dataclass(frozen=True)
class SequenceStore:
    """Every event of one log as the neural models read it, flat and task-free: sequence s owns rows
    offsets[s]:offsets[s + 1]. A task's row (sequence s, cutoff c) reads the first c of them.

    offsets (S+1,) int64; tokens (N,) int32 vocabulary ids; numeric (N, F) float32 per-event inputs;
    fields (N, K) int32 codes of the categorical fields embedded beside the token (K may be 0).
    """

    offsets: np.ndarray
    tokens: np.ndarray
    numeric: np.ndarray
    fields: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def n_sequences(self) -> int:
        return len(self.offsets) - 1

    def window(
        self, sequences: np.ndarray, cutoffs: np.ndarray, max_len: int, keep: Keep = Keep.last
    ) -> tuple[np.ndarray, np.ndarray]:
        """Flat positions (B, T) and lengths (B,) of the kept events, right-padded with -1.

        Row b sees the first `cutoffs[b]` events of sequence `sequences[b]`; of those, `keep='last'` keeps
        the most recent `max_len`, `'first'` the earliest.
        """
        starts = self.offsets[sequences]
        ends = starts + cutoffs
        lengths = np.minimum(cutoffs, max_len)
        if keep == Keep.last:
            starts = ends - lengths
        steps = np.arange(lengths.max() if len(lengths) else 0)
        positions = starts[:, None] + steps[None, :]
        return np.where(steps[None, :] < lengths[:, None], positions, -1), lengths
