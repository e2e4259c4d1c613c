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
from behave.data.spec import Keep, NumericTransform, SequenceSpec

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
    _present: dict[str, int] = field(default_factory=dict, repr=False)  # between the two passes of a fit

    def _raw_columns(self, log_: EventLog) -> dict[str, np.ndarray]:
        columns = {GAP_COLUMN: np.log1p(gaps_seconds(log_))}
        for name in self.fields:
            transform = self.spec.numeric_transform.get(name, NumericTransform.none)
            values = log_.numeric[name]
            columns[name] = _signed_log1p(values) if transform == NumericTransform.log1p else values
        return columns

    def fit(self, train: EventLog) -> NumericScaler:
        raw = self._raw_columns(train)  # computed once for both passes
        self.fit_sums([_sums(raw)])
        return self.fit_spreads([_deviations(raw, self.mean_)])

    # A fit in two passes over the parts of train (one part in memory): sums give the means, then squared
    # deviations from them give the standard deviations. With one part this is numpy's mean and std exactly.
    def sums(self, part: EventLog) -> dict[str, tuple[int, int, float]]:
        """(events, present values, sum of present values) of each raw input column over `part`."""
        return _sums(self._raw_columns(part))

    def fit_sums(self, parts: list[dict[str, tuple[int, int, float]]]) -> NumericScaler:
        """Means and columns from the `sums` of every part of train (std is set by `fit_spreads`)."""
        self.columns_, self.mean_, self._present = [], {}, {}
        for name in parts[0]:
            events = sum(part[name][0] for part in parts)
            present = sum(part[name][1] for part in parts)
            total = sum(part[name][2] for part in parts) if len(parts) > 1 else parts[0][name][2]
            self.mean_[name] = total / present if present else 0.0
            self._present[name] = present
            self.columns_.append(name)
            if present < events:
                self.columns_.append(f"{name}_missing")
        return self

    def deviations(self, part: EventLog) -> dict[str, float]:
        """Sum of squared deviations from the fitted means of each raw input column over `part`."""
        return _deviations(self._raw_columns(part), self.mean_)

    def fit_spreads(self, parts: list[dict[str, float]]) -> NumericScaler:
        for name, present in self._present.items():
            squares = sum(part[name] for part in parts) if len(parts) > 1 else parts[0][name]
            std = float(np.sqrt(squares / present)) if present else 1.0
            self.std_[name] = std if std > 1e-12 else 1.0
        return self

    def transform(self, log_: EventLog) -> np.ndarray:
        """(N, F) float32 inputs in `columns_` order."""
        raw = self._raw_columns(log_)
        out = np.zeros((log_.n_events, len(self.columns_)), dtype=np.float32)
        for j, column in enumerate(self.columns_):
            if column.endswith("_missing") and column not in raw:
                out[:, j] = np.isnan(raw[column.removesuffix("_missing")])
                continue
            scaled = raw[column] - self.mean_[column]  # a new array: the log's own column stays untouched
            scaled /= self.std_[column]
            scaled[~np.isfinite(scaled)] = 0.0
            out[:, j] = scaled
        return out

    def state_dict(self) -> dict:
        return {"fields": self.fields, "columns": self.columns_, "mean": self.mean_, "std": self.std_}

    @classmethod
    def from_state_dict(cls, state: dict, spec: SequenceSpec) -> NumericScaler:
        return cls(spec, state["fields"], state["columns"], state["mean"], state["std"])


def _sums(raw: dict[str, np.ndarray]) -> dict[str, tuple[int, int, float]]:
    sums = {}
    for name, values in raw.items():
        present = values[~np.isnan(values)]
        sums[name] = (len(values), len(present), float(present.sum()))
    return sums


def _deviations(raw: dict[str, np.ndarray], mean: dict[str, float]) -> dict[str, float]:
    out = {}
    for name, values in raw.items():
        centred = values[~np.isnan(values)] - mean[name]
        out[name] = float(np.multiply(centred, centred, out=centred).sum())
    return out


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
