"""Timestamps -> float64 unix seconds, with errors and warnings for the ways real logs get them wrong.

Errors: empty cells, values that are not times, and numbers under `timestamp_format: auto` that are too
large to be unix seconds (milliseconds or finer: read as seconds they would inflate every gap 1000x).
Warnings (returned, shown on the data card): times at exactly the unix epoch (1970-01-01 00:00:00, a
common placeholder for "unknown") and times more than a year after today.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from behave.data.errors import DataError, describe_rows
from behave.data.ingestion.columns import is_missing
from behave.data.spec import EventSchema

# Unix seconds of year 5138: numbers above this are milliseconds (or finer), not seconds.
SECONDS_LIMIT = 1e11
FUTURE_MARGIN_S = 365 * 86400.0
UNIT_HINTS = ((1e14, "unix_ms"), (1e17, "microseconds"), (np.inf, "nanoseconds"))


def parse_timestamps(events: pd.DataFrame, schema: EventSchema, name: str) -> tuple[np.ndarray, list[str]]:
    """(N,) float64 unix seconds from datetime strings, datetimes, or unix numbers; and warnings."""
    column, fmt = schema.timestamp, schema.timestamp_format
    raw = events[column]
    if is_missing(raw).any():
        bad = is_missing(raw)
        raise DataError(
            f"{name}: column '{column}' (timestamp) is empty in {describe_rows(events, bad, column)}"
        )
    if fmt in ("unix_s", "unix_ms") or (fmt == "auto" and _looks_numeric(raw)):
        seconds = _unix_seconds(events, column, fmt, name)
    else:
        seconds = _datetimes(events, column, fmt, name)
    return seconds, _suspicious_times(events, column, seconds, name)


def _unix_seconds(events: pd.DataFrame, column: str, fmt: str, name: str) -> np.ndarray:
    numbers = pd.to_numeric(events[column], errors="coerce").astype("float64")
    bad = numbers.isna()
    if bad.any():
        raise DataError(
            f"{name}: column '{column}' (timestamp) is not a unix time in "
            f"{describe_rows(events, bad, column)}"
        )
    if fmt == "auto":
        too_large = numbers.abs() >= SECONDS_LIMIT
        if too_large.any():
            unit = next(hint for limit, hint in UNIT_HINTS if float(numbers.abs().max()) < limit)
            raise DataError(
                f"{name}: column '{column}' (timestamp) holds numbers too large for unix seconds (they "
                f"would be dates after the year 5000), e.g. {describe_rows(events, too_large, column, 3)}; "
                f"they look like {unit}. Set `schema.timestamp_format: unix_ms` (or convert the column to "
                "seconds)."
            )
    return (numbers / 1000.0 if fmt == "unix_ms" else numbers).to_numpy()


def _datetimes(events: pd.DataFrame, column: str, fmt: str, name: str) -> np.ndarray:
    raw = events[column]
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
    else:
        parsed = pd.to_datetime(raw, errors="coerce", format=None if fmt == "auto" else fmt, utc=True)
        if fmt == "auto" and parsed.isna().any():
            # pandas infers ONE format from the first value, so ISO times with and without fractional
            # seconds or offsets fail; re-read the failed rows as any ISO 8601 form (strict, unlike "mixed").
            retry = parsed.isna()
            iso = pd.to_datetime(raw[retry], errors="coerce", format="ISO8601", utc=True)
            parsed = parsed.where(~retry, iso)
        bad = parsed.isna()
        if bad.any():
            expected = "a date/time" if fmt == "auto" else f"format '{fmt}'"
            raise DataError(
                f"{name}: column '{column}' (timestamp) has values that are not {expected} in "
                f"{describe_rows(events, bad, column)}. "
                "Set `schema.timestamp_format` if the format is unusual."
            )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return ((parsed - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)


def _suspicious_times(events: pd.DataFrame, column: str, seconds: np.ndarray, name: str) -> list[str]:
    warnings = []
    epoch = pd.Series(seconds == 0.0, index=events.index)
    if epoch.any():
        warnings.append(
            f"{name}: column '{column}' (timestamp) is exactly 1970-01-01 00:00:00 in "
            f"{describe_rows(events, epoch, column)}: a placeholder for an unknown time? Those events sort "
            "first in their sequences and their gaps are decades long."
        )
    future = pd.Series(seconds > time.time() + FUTURE_MARGIN_S, index=events.index)
    if future.any():
        warnings.append(
            f"{name}: column '{column}' (timestamp) lies more than a year in the future in "
            f"{describe_rows(events, future, column)}: a placeholder or a wrong format?"
        )
    return warnings


def auto_text_format(raw: pd.Series) -> str | None:
    """The datetime format `timestamp_format: auto` reads a text column with: pandas infers one from the
    column's first value. None for numbers, datetimes and empty columns. A log read in slices (out of core)
    compares it across slices, since each slice infers its own."""
    present = raw.dropna()
    if present.empty or pd.api.types.is_datetime64_any_dtype(raw) or _looks_numeric(present):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns about day-first guesses; the caller compares them
        return guess_datetime_format(str(present.iloc[0])) or "(none inferred)"


def _looks_numeric(raw: pd.Series) -> bool:
    """Numbers, or text that is mostly numbers: a numeric column with a few bad cells is read as text, and
    judging it as unix times makes the error name the bad cells instead of every row."""
    if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_datetime64_any_dtype(raw):
        return pd.api.types.is_numeric_dtype(raw)
    return bool(pd.to_numeric(raw, errors="coerce").notna().mean() > 0.5)
