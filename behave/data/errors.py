"""The one error type for bad input data, with messages that name the file, the column and the rows."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import pandas as pd


class DataError(ValueError):
    """Bad input data or a dataset config that does not match it. The message says where and what."""


SEPARATORS = {";": "';'", "\t": "'\\t' (tab)", "|": "'|'", ",": "','"}


def missing_column_error(file: str, column: str, role: str, available: Sequence[str]) -> DataError:
    """Error for a configured column that the file lacks, suggesting the closest existing name, or the
    separator when the whole header came back as one column."""
    names = [str(c) for c in available]
    shown = ", ".join(names[:30])
    if len(names) == 1:
        found = [text for sep, text in SEPARATORS.items() if sep in names[0]]
        if found:
            return DataError(
                f"{file}: column '{column}' ({role}) not found: the file was read as ONE column "
                f"named {names[0][:120]!r}, which contains {found[0]}. The file is probably separated by "
                f"{found[0]}: set `read_options: {{sep: {found[0].split()[0]}}}` in the data config "
                "(data.source.read_options.sep)."
            )
    close = difflib.get_close_matches(column, names, n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return DataError(f"{file}: column '{column}' ({role}) not found.{hint} Columns in the file: {shown}")


def describe_rows(frame: pd.DataFrame, bad: pd.Series, column: str, limit: int = 5) -> str:
    """'rows 3 ('abc'), 17 ('x') and 2 more' for the first offending rows (0-based data row numbers)."""
    rows = frame.index[bad.to_numpy()]
    values = frame.loc[rows[:limit], column].tolist()
    shown = ", ".join(f"{row} ({value!r})" for row, value in zip(rows[:limit], values))
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"{len(rows)} row(s): {shown}{more}"
