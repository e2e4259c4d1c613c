"""The one error type for bad input data, with messages that name the file, the column and the rows."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import pandas as pd


class DataError(ValueError):
    """Bad input data or a dataset config that does not match it. The message says where and what."""


def missing_column_error(file: str, column: str, role: str, available: Sequence[str]) -> DataError:
    """Error for a configured column that the file lacks, suggesting the closest existing name."""
    close = difflib.get_close_matches(column, [str(c) for c in available], n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    shown = ", ".join(map(str, list(available)[:30]))
    return DataError(f"{file}: column '{column}' ({role}) not found.{hint} Columns in the file: {shown}")


def describe_rows(frame: pd.DataFrame, bad: pd.Series, column: str, limit: int = 5) -> str:
    """'rows 3 ('abc'), 17 ('x') and 2 more' for the first offending rows (0-based data row numbers)."""
    rows = frame.index[bad.to_numpy()]
    values = frame.loc[rows[:limit], column].tolist()
    shown = ", ".join(f"{row} ({value!r})" for row, value in zip(rows[:limit], values))
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"{len(rows)} row(s): {shown}{more}"
