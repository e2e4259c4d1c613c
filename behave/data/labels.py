"""Raw label values -> class indices, with errors for unknown values and single-class labels.

Binary: class 1 is `label.positive` (compared as strings, so 1, "1" and "yes" all work); when no positive
value is configured, labels must be 0/1 or False/True. Multiclass: classes in `label.classes` order,
else sorted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from behave.data.errors import DataError
from behave.data.spec import LabelKind, LabelSpec


def _as_text(values) -> pd.Series:
    """Values as strings, with integral floats written as ints so 1.0 and 1 match."""
    series = pd.Series(values)
    if pd.api.types.is_float_dtype(series) and (series.dropna() % 1 == 0).all():
        series = series.astype("Int64")
    return series.astype("string")


def encode_labels(labels: pd.Series, spec: LabelSpec, name: str) -> tuple[np.ndarray, list[str]]:
    """(S,) int64 class indices and the class names (index = class)."""
    text = _as_text(labels)
    observed = sorted(text.unique().tolist())
    if spec.classes is not None:
        allowed = _as_text(spec.classes).tolist()
        unknown = sorted(set(observed) - set(allowed))
        if unknown:
            raise DataError(
                f"{name}: column '{spec.column}' (label) has unknown values {unknown[:10]}; "
                f"allowed (label.classes): {allowed}"
            )
    if spec.kind == LabelKind.binary:
        codes, class_names = _binary(text, observed, spec, name)
    else:
        class_names = _as_text(spec.classes).tolist() if spec.classes is not None else observed
        codes = pd.Categorical(text, categories=class_names).codes.astype(np.int64)
    present = np.unique(codes)
    if len(present) < 2:
        raise DataError(
            f"{name}: column '{spec.column}' (label) has only one class ({class_names[present[0]]!r}) "
            "after dropping unlabelled sequences; a classifier needs at least two."
        )
    return codes, class_names


def _binary(text: pd.Series, observed: list[str], spec: LabelSpec, name: str):
    if spec.positive is None:
        pairs = [{"0", "1"}, {"False", "True"}, {"false", "true"}]
        if not any(set(observed) <= pair for pair in pairs):
            raise DataError(
                f"{name}: column '{spec.column}' (label) has values {observed[:10]}; set `label.positive` "
                "to the value that counts as the positive class."
            )
        positive = "1" if set(observed) <= {"0", "1"} else next(v for v in observed if v.lower() == "true")
    else:
        positive = _as_text([spec.positive]).iloc[0]
    if len(observed) > 2:
        raise DataError(
            f"{name}: column '{spec.column}' (label) is binary but has {len(observed)} values: unknown "
            f"values {[v for v in observed if v != positive][1:10]} (positive class: {positive!r}). "
            "Use label.kind=multiclass or fix the data."
        )
    negatives = [v for v in observed if v != positive]
    if positive not in observed:
        raise DataError(
            f"{name}: column '{spec.column}' (label): the positive value {positive!r} never occurs; "
            f"values are {observed}."
        )
    negative = negatives[0] if negatives else f"not {positive}"
    return (text == positive).to_numpy(dtype=bool).astype(np.int64), [negative, positive]
