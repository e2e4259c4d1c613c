"""Bins for numeric fields that take part in tokens ("scrolled 800-1600 px"), edges fitted on train only.

Values below the first or above the last training edge fall into the end bins, so new data never
creates a bin. Missing values get code 0; bin b gets code b + 2 (code 1 is reserved for "unseen", which
numeric fields never produce), matching the categorical codes used to build composite tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from behave.data.errors import DataError
from behave.data.spec import BucketMethod, BucketSpec

FEW_EDGES = 8


def _format_number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.3g}"


@dataclass
class NumericBucketer:
    spec: BucketSpec
    field: str
    edges_: list[float] = field(default_factory=list)

    def fit(self, values: np.ndarray) -> NumericBucketer:
        present = values[~np.isnan(values)]
        if len(present) == 0:
            raise DataError(f"numeric token field '{self.field}' has no values in the training split to bin.")
        n_bins = max(1, self.spec.n_bins)
        if self.spec.method == BucketMethod.log:
            edges = self._log_edges(present, n_bins)
        else:
            # `present` is a copy already: quantile may reorder it rather than copy it again.
            edges = np.quantile(present, np.linspace(0.0, 1.0, n_bins + 1), overwrite_input=True)
        edges = np.unique(np.round(edges, 6))
        self.edges_ = (edges if len(edges) > 1 else np.repeat(edges, 2)).tolist()
        return self

    def _log_edges(self, present: np.ndarray, n_bins: int) -> np.ndarray:
        low, high = present.min(), present.max()
        if low < 0:
            raise DataError(
                f"tokens.buckets.{self.field}: log bins need non-negative values, but training values of "
                f"'{self.field}' go down to {low:g}; use method 'quantile'."
            )
        smallest_positive = present[present > 0].min() if (present > 0).any() else 1.0
        high = max(high, smallest_positive)
        if low < smallest_positive:  # zeros present: [0, smallest positive) is the first of the n_bins
            return np.concatenate([[low], np.geomspace(smallest_positive, high, n_bins)])
        return np.geomspace(smallest_positive, high, n_bins + 1)

    @property
    def n_bins(self) -> int:
        return len(self.edges_) - 1

    def codes(self, values: np.ndarray, dtype=np.int64) -> np.ndarray:
        """(N,) integer codes: 0 = missing, b + 2 = bin b (b = number of inner edges <= value)."""
        inner = self.edges_[1:-1]
        if len(inner) <= FEW_EDGES:
            # For the usual handful of bins, one comparison pass per edge beats a binary search per value.
            # Counted in int8 (codes stay <= FEW_EDGES + 2): each pass moves a quarter of int32's bytes.
            small = np.full(len(values), 2, dtype=np.int8)
            for edge in inner:
                small += values >= edge
            codes = small.astype(dtype)
        else:
            codes = np.searchsorted(np.asarray(inner), values, side="right").astype(dtype) + 2
        codes[np.isnan(values)] = 0
        return codes

    def labels(self) -> list[str]:
        """Bin labels such as '800-1600', index = bin."""
        edges = self.edges_
        return [f"{_format_number(lo)}-{_format_number(hi)}" for lo, hi in zip(edges[:-1], edges[1:])]
