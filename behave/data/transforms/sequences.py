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
from behave.data.ingestion.columns import missing_flag
from behave.data.spec import Keep, NumericTransform, SequenceSpec
from behave.data.transforms.scaler import Moments, column_moments, mean_and_std, standardise

GAP_COLUMN = "log1p_gap_s"


def gaps_seconds(log_: EventLog, out: np.ndarray | None = None) -> np.ndarray:
    """(N,) seconds since the previous event of the same sequence; 0 for each sequence's first event.
    Written into `out` (N,) float64 when given."""
    time = log_.time
    gaps = np.empty_like(time) if out is None else out
    gaps[:1] = 0.0
    np.subtract(time[1:], time[:-1], out=gaps[1:])
    gaps[log_.offsets[:-1]] = 0.0
    return np.maximum(gaps, 0.0, out=gaps)


def _signed_log1p(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    out = np.abs(values, out=out)
    np.log1p(out, out=out)
    return np.copysign(out, values, out=out)


@dataclass
class NumericScaler:
    """Per-event numeric inputs with training statistics. `columns_` names the F input columns."""

    spec: SequenceSpec
    fields: list[str]
    columns_: list[str] = field(default_factory=list)
    mean_: dict[str, float] = field(default_factory=dict)
    std_: dict[str, float] = field(default_factory=dict)

    def _raw_column(self, log_: EventLog, name: str, work: np.ndarray) -> np.ndarray:
        """Raw input column `name` of `log_` (before scaling): computed into `work` (N,) float64, or the log's
        own column, untouched, where it needs no transform. One buffer serves every column: a fresh array
        per step costs a page fault per 4 KB at 10M events, about as much as the arithmetic."""
        if name == GAP_COLUMN:
            return np.log1p(gaps_seconds(log_, work), out=work)
        transform = self.spec.numeric_transform.get(name, NumericTransform.none)
        values = log_.numeric[name]
        return _signed_log1p(values, work) if transform == NumericTransform.log1p else values

    @property
    def _raw_names(self) -> list[str]:
        return [GAP_COLUMN, *self.fields]

    def fit(self, train: EventLog) -> NumericScaler:
        return self.fit_moments([self.moments(train)])

    def moments(self, part: EventLog, shifts: dict[str, float] | None = None) -> dict[str, Moments]:
        """`Moments` of each raw input column over `part` (a whole training log, or one part of it).

        Squares are summed around `shifts` (each column's mean over the first part, its own mean when None),
        so parts add up in one pass and a column far from zero (unix times) keeps its precision.
        """
        work = np.empty(part.n_events)
        return {
            name: column_moments(self._raw_column(part, name, work), None if shifts is None else shifts[name])
            for name in self._raw_names
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
        out = np.zeros((log_.n_events, len(self.columns_)), dtype=np.float32)
        work = np.empty(log_.n_events)
        position = {column: j for j, column in enumerate(self.columns_)}
        for name in self._raw_names:
            raw = self._raw_column(log_, name, work)
            flag = position.get(missing_flag(name))
            if flag is not None:
                out[:, flag] = np.isnan(raw)
            out[:, position[name]] = standardise(raw, self.mean_[name], self.std_[name], out=work)
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
