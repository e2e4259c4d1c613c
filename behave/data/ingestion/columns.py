"""Checks of single raw columns, shared by validation and label reading. Each error names the file, the
column and its role, and the first offending rows (0-based data row numbers)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from behave.data.errors import DataError, describe_rows, missing_column_error


def is_missing(values: pd.Series) -> pd.Series:
    """NaN/None, or text that is empty after stripping."""
    missing = values.isna()
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        missing |= values.astype("string").str.strip().eq("").fillna(False).astype(bool)
    return missing


# The 0/1 column beside an input that had missing values in training (tree features, static and per-event
# neural inputs alike): `<name>_missing`.
MISSING_SUFFIX = "_missing"


def missing_flag(name: str) -> str:
    """The name of the missing-value flag of column `name`."""
    return f"{name}{MISSING_SUFFIX}"


def flagged_column(name: str) -> str | None:
    """The column a missing-value flag named `name` flags, or None when `name` is no such flag."""
    return name.removesuffix(MISSING_SUFFIX) if name.endswith(MISSING_SUFFIX) else None


def require_columns(frame: pd.DataFrame, name: str, roles: dict[str, str]) -> None:
    """Every configured column is present and holds one plain value per cell."""
    for column, role in roles.items():
        if column not in frame.columns:
            raise missing_column_error(name, column, role, list(frame.columns))
    for column, role in roles.items():
        _reject_containers(frame, column, role, name)


def _reject_containers(frame: pd.DataFrame, column: str, role: str, name: str) -> None:
    """Parquet (and hand-built frames) can hold lists, arrays or dicts in a cell; behave needs one value."""
    values = frame[column]
    if values.dtype != object:
        return
    nested = values.map(lambda v: isinstance(v, list | tuple | dict | set | np.ndarray))
    if nested.any():
        raise DataError(
            f"{name}: column '{column}' ({role}) holds lists or other containers in "
            f"{describe_rows(frame, nested, column, 3)}; behave needs one value per cell (one row per event)."
        )


def parse_numeric(frame: pd.DataFrame, column: str, name: str, role: str = "numeric field") -> np.ndarray:
    """(N,) float64; empty cells become NaN, anything else non-numeric or infinite is an error."""
    raw = frame[column]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.to_numpy(dtype="float64", na_value=np.nan)
    else:
        parsed = pd.to_numeric(raw, errors="coerce")
        bad = parsed.isna() & ~is_missing(raw)
        if bad.any():
            raise DataError(
                f"{name}: column '{column}' ({role}) has non-numeric values in "
                f"{describe_rows(frame, bad, column)}"
            )
        values = parsed.to_numpy(dtype="float64", na_value=np.nan)
    infinite = pd.Series(np.isinf(values), index=frame.index)
    if infinite.any():
        raise DataError(
            f"{name}: column '{column}' ({role}) has infinite values in "
            f"{describe_rows(frame, infinite, column)}; "
            "training statistics of such a column mean nothing. Replace them, or leave the cells empty."
        )
    return values


def changing_within_sequences(frame: pd.DataFrame, seq_col: str, column: str) -> pd.Series:
    """Number of distinct values per sequence, for the sequences where `column` takes more than one."""
    n_distinct = frame[column].groupby(frame[seq_col], sort=False).nunique(dropna=False)
    return n_distinct[n_distinct > 1]


def constant_per_sequence(frame: pd.DataFrame, seq_col: str, column: str, name: str, role: str) -> pd.Series:
    """The single value of `column` per sequence; an error naming sequences where it changes."""
    changing = changing_within_sequences(frame, seq_col, column)
    if len(changing):
        raise DataError(
            f"{name}: column '{column}' ({role}) must be constant within a sequence, but it changes within "
            f"{len(changing)} sequence(s), e.g. {changing.index[:5].tolist()}"
        )
    return frame[column].groupby(frame[seq_col], sort=False).first()


def all_constant_per_sequence(
    frame: pd.DataFrame, seq_col: str, columns: list[str], name: str, role: str
) -> None:
    """One error listing EVERY column that changes within a sequence, not just the first one found."""
    changing = {c: found for c in columns if len(found := changing_within_sequences(frame, seq_col, c))}
    if len(changing) == 1:
        (column,) = changing
        constant_per_sequence(frame, seq_col, column, name, role)
    if changing:
        listed = "; ".join(
            f"'{c}' in {len(found)} (e.g. {found.index[:3].tolist()})" for c, found in changing.items()
        )
        raise DataError(
            f"{name}: {len(changing)} columns ({role}s) must be constant within a sequence but change: "
            f"{listed}. Declare per-event values in schema.categorical / schema.numeric instead."
        )
