"""Raw tables -> validated `EventLog`: check every configured column, parse, sort once, attach labels.

Every problem is a `DataError` naming the file, the column and the first offending rows (0-based data
row numbers, i.e. line number minus 2 in a CSV with a header). Sequences without labels and labels
without events are dropped with a warning; their counts are returned for the data card.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from behave.data.errors import DataError, describe_rows, missing_column_error
from behave.data.event_log import EventLog, RawTables
from behave.data.labels import encode_labels
from behave.data.spec import DatasetSpec, EventSchema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DropCounts:
    """What validation removed, for the data card."""

    sequences_without_label: int = 0
    labels_without_events: int = 0


def validate(raw: RawTables, spec: DatasetSpec, with_labels: bool = True) -> tuple[EventLog, DropCounts]:
    """Check, parse and sort the raw tables into an `EventLog`.

    `with_labels=False` (scoring new data) skips labels: every sequence is kept, labels are -1.
    """
    schema = spec.schema
    events = raw.events.reset_index(drop=True)
    if events.empty:
        raise DataError(f"{raw.events_name}: the events table is empty (no rows).")
    roles = _event_roles(spec)
    if not with_labels:
        roles.pop(spec.label.column, None)
    _require_columns(events, raw.events_name, roles)
    if _is_missing(events[schema.sequence_id]).any():
        bad = _is_missing(events[schema.sequence_id])
        raise DataError(
            f"{raw.events_name}: column '{schema.sequence_id}' (sequence id) is empty in "
            f"{describe_rows(events, bad, schema.sequence_id)}"
        )
    time = parse_timestamps(events, schema, raw.events_name)
    numeric = {col: parse_numeric(events, col, raw.events_name) for col in schema.numeric}
    order, sequence_ids, offsets = _sort_events(events[schema.sequence_id], time)
    if with_labels:
        seq_labels = _sequence_labels(raw, spec, events)
        labels, class_names, keep, drops = _align_labels(sequence_ids, seq_labels, spec, raw)
    else:
        labels, class_names = np.full(len(sequence_ids), -1, dtype=np.int64), []
        keep, drops = np.ones(len(sequence_ids), dtype=bool), DropCounts()
    log_ = _assemble(events, order, sequence_ids, offsets, time, numeric, labels, class_names, spec, raw)
    if not keep.all():
        log_ = log_.select(np.flatnonzero(keep))
    return log_, drops


def _event_roles(spec: DatasetSpec) -> dict[str, str]:
    schema = spec.schema
    roles = {schema.sequence_id: "sequence id", schema.timestamp: "timestamp"}
    roles |= {c: "categorical field" for c in schema.categorical}
    roles |= {c: "numeric field" for c in schema.numeric}
    roles |= {c: "static categorical" for c in schema.static_categorical}
    roles |= {c: "static numeric" for c in schema.static_numeric}
    if schema.group:
        roles[schema.group] = "group"
    if spec.label.table == "events":
        roles[spec.label.column] = "label"
    return roles


def _require_columns(frame: pd.DataFrame, name: str, roles: dict[str, str]) -> None:
    for column, role in roles.items():
        if column not in frame.columns:
            raise missing_column_error(name, column, role, list(frame.columns))


def _is_missing(values: pd.Series) -> pd.Series:
    missing = values.isna()
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        missing |= values.astype("string").str.strip().eq("").fillna(False).astype(bool)
    return missing


def parse_timestamps(events: pd.DataFrame, schema: EventSchema, name: str) -> np.ndarray:
    """(N,) float64 unix seconds from datetime strings, datetimes, or unix numbers."""
    column, fmt = schema.timestamp, schema.timestamp_format
    raw = events[column]
    if _is_missing(raw).any():
        bad = _is_missing(raw)
        raise DataError(
            f"{name}: column '{column}' (timestamp) is empty in {describe_rows(events, bad, column)}"
        )
    if fmt in ("unix_s", "unix_ms") or (fmt == "auto" and _looks_numeric(raw)):
        seconds = pd.to_numeric(raw, errors="coerce").astype("float64")
        bad = seconds.isna()
        if bad.any():
            raise DataError(
                f"{name}: column '{column}' (timestamp) is not a unix time in "
                f"{describe_rows(events, bad, column)}"
            )
        return (seconds / 1000.0 if fmt == "unix_ms" else seconds).to_numpy()
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
    return (parsed - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)


def _looks_numeric(raw: pd.Series) -> bool:
    """Numbers, or text that is mostly numbers: a numeric column with a few bad cells is read as text, and
    judging it as unix times makes the error name the bad cells instead of every row."""
    if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_datetime64_any_dtype(raw):
        return pd.api.types.is_numeric_dtype(raw)
    return bool(pd.to_numeric(raw, errors="coerce").notna().mean() > 0.5)


def parse_numeric(frame: pd.DataFrame, column: str, name: str) -> np.ndarray:
    """(N,) float64; empty cells become NaN, anything else non-numeric is an error."""
    raw = frame[column]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return raw.to_numpy(dtype="float64", na_value=np.nan)
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & ~_is_missing(raw)
    if bad.any():
        raise DataError(
            f"{name}: column '{column}' (numeric field) has non-numeric values in "
            f"{describe_rows(frame, bad, column)}"
        )
    return values.to_numpy(dtype="float64", na_value=np.nan)


def _sequence_labels(raw: RawTables, spec: DatasetSpec, events: pd.DataFrame) -> pd.Series:
    """Raw label per raw sequence id (index), from the label table or from the events."""
    seq_col, label = spec.schema.sequence_id, spec.label
    if label.table == "events":
        return _constant_per_sequence(events, seq_col, label.column, raw.events_name, "label")
    if raw.labels is None:
        raise DataError(f"{raw.events_name}: label.table is 'labels' but the source provides no label table.")
    table, name = raw.labels.reset_index(drop=True), raw.labels_name or "labels"
    if table.empty:
        raise DataError(f"{name}: the label table is empty (no rows).")
    _require_columns(table, name, {seq_col: "sequence id", label.column: "label"})
    missing = _is_missing(table[label.column])
    if missing.any():
        raise DataError(
            f"{name}: column '{label.column}' (label) is empty in "
            f"{describe_rows(table, missing, label.column)}"
        )
    duplicated = table[seq_col].duplicated(keep=False)
    conflicting = table[duplicated].groupby(seq_col)[label.column].nunique() > 1
    if conflicting.any():
        ids = conflicting[conflicting].index[:5].tolist()
        raise DataError(f"{name}: column '{label.column}' (label) has different values for sequences {ids}")
    return table.drop_duplicates(seq_col).set_index(seq_col)[label.column]


def _constant_per_sequence(frame: pd.DataFrame, seq_col: str, column: str, name: str, role: str) -> pd.Series:
    """The single value of `column` per sequence; an error naming sequences where it changes."""
    values = frame[column]
    missing = _is_missing(values)
    if missing.any() and role == "label":
        raise DataError(
            f"{name}: column '{column}' (label) is empty in {describe_rows(frame, missing, column)}"
        )
    n_distinct = values.groupby(frame[seq_col], sort=False).nunique(dropna=False)
    changing = n_distinct[n_distinct > 1]
    if len(changing):
        raise DataError(
            f"{name}: column '{column}' ({role}) must be constant within a sequence, but it changes within "
            f"{len(changing)} sequence(s), e.g. {changing.index[:5].tolist()}"
        )
    return values.groupby(frame[seq_col], sort=False).first()


def _sort_events(sequence_col: pd.Series, time: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One stable sort by (sequence, time): (event order, sorted unique sequence ids, offsets)."""
    codes, uniques = pd.factorize(sequence_col, sort=True)
    time = np.asarray(time, dtype=np.float64)
    # Files usually come ordered by time or by sequence: then a stable sort by sequence alone already is the
    # lexsort order (ties keep file order in both), and it skips lexsort's full N log N sort on time.
    order = _stable_order(codes)
    sorted_codes, sorted_time = codes[order], time[order]
    if not np.all((np.diff(sorted_codes) != 0) | (np.diff(sorted_time) >= 0)):
        order = np.lexsort((time, codes))
    counts = np.bincount(codes, minlength=len(uniques))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return order, np.asarray(uniques), offsets


def _stable_order(codes: np.ndarray) -> np.ndarray:
    """Stable argsort of (N,) sequence codes (0 <= code < 2**32: there are fewer sequences than that)."""
    if np.all(codes[1:] >= codes[:-1]):
        return np.arange(len(codes))
    # numpy radix-sorts 16-bit keys in O(N) but timsorts wider ones: sort by the codes' two 16-bit halves.
    return np.lexsort(((codes & 0xFFFF).astype(np.uint16), (codes >> 16).astype(np.uint16)))


def _align_labels(sequence_ids, seq_labels: pd.Series, spec: DatasetSpec, raw: RawTables):
    """Encode labels in sequence order; drop (with a warning) what lacks a partner."""
    has_label = pd.Index(sequence_ids).isin(seq_labels.index)
    has_events = seq_labels.index.isin(pd.Index(sequence_ids))
    drops = DropCounts(int((~has_label).sum()), int((~has_events).sum()))
    if drops.sequences_without_label:
        log.warning(
            "%s: dropping %d sequence(s) that have events but no label",
            raw.events_name,
            drops.sequences_without_label,
        )
    if drops.labels_without_events:
        log.warning(
            "%s: dropping %d label(s) whose sequence has no events",
            raw.labels_name or raw.events_name,
            drops.labels_without_events,
        )
    if not has_label.any():
        raise DataError(
            f"{raw.events_name}: no sequence has a label: the sequence ids in the events "
            f"('{spec.schema.sequence_id}') and in {raw.labels_name or 'the labels'} do not overlap."
        )
    kept_labels = seq_labels.reindex(pd.Index(sequence_ids)[has_label])
    encoded, class_names = encode_labels(kept_labels, spec.label, raw.labels_name or raw.events_name)
    labels = np.full(len(sequence_ids), -1, dtype=np.int64)
    labels[has_label] = encoded
    return labels, class_names, has_label, drops


def _assemble(
    events, order, sequence_ids, offsets, time, numeric, labels, class_names, spec, raw
) -> EventLog:
    schema = spec.schema
    # Only the per-sequence columns are reordered as a frame; event fields are reordered as integer codes.
    per_sequence = [schema.sequence_id, *schema.static_categorical, *schema.static_numeric, schema.group]
    per_sequence = list(dict.fromkeys(c for c in per_sequence if c))
    sorted_events = events[per_sequence].iloc[order].reset_index(drop=True)
    firsts = offsets[:-1]
    columns = [events[col] for col in schema.categorical]
    with ThreadPoolExecutor(max_workers=2) as pool:
        # Hashing strings is most of validation's time; pyarrow does it without the GIL, two columns at once.
        parsed = pool.map(lambda values: _categorical(values, order), columns)
        categorical = dict(zip(schema.categorical, parsed))
    static = _static_table(sorted_events, schema, firsts, raw.events_name)
    groups = None
    if schema.group:
        _constant_per_sequence(events, schema.sequence_id, schema.group, raw.events_name, "group")
        groups = sorted_events[schema.group].to_numpy()[firsts]
    extras = pd.DataFrame(index=range(len(sequence_ids)))
    if raw.extras is not None:
        extras = raw.extras.reindex(sequence_ids).reset_index(drop=True)
    return EventLog(
        sequence_ids=sequence_ids,
        offsets=offsets,
        time=np.asarray(time, dtype=np.float64)[order],
        categorical=categorical,
        numeric={col: values[order] for col, values in numeric.items()},
        labels=labels,
        class_names=class_names,
        groups=groups,
        static=static,
        extras=extras,
    )


def _categorical(values: pd.Series, order: np.ndarray) -> pd.Categorical:
    """(N,) categorical in `order` with string categories, so files read as ints or strs give the same tokens.

    Each value is hashed once; cleaning, sorting and naming happen on the few distinct values only.
    """
    codes, distinct = pd.factorize(values, sort=False)
    categories = _distinct_categorical(pd.Series(distinct))
    # Slot -1 of the lookup is the missing value's code (factorize gives missing values code -1).
    lookup = np.append(categories.codes, -1).astype(categories.codes.dtype)
    return pd.Categorical.from_codes(lookup[codes][order], dtype=categories.dtype)


def _distinct_categorical(values: pd.Series) -> pd.Categorical:
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        # Ints with an empty cell are read as floats: keep '3' (not '3.0') so every file gives the same token.
        values = values.astype("Int64")
    cat = pd.Categorical(values.where(~_is_missing(values)))
    names = cat.categories.astype(str)
    if not names.has_duplicates:
        return cat.rename_categories(names) if len(names) else cat
    # A column of Python objects can hold both 1 and '1' (a hand-built frame, a mixed Excel export): they
    # name the same token, so they become one category.
    merged, unique_names = pd.factorize(names, sort=True)
    codes = np.where(cat.codes >= 0, merged[cat.codes], -1)
    return pd.Categorical.from_codes(codes, categories=unique_names)


def _static_table(
    sorted_events: pd.DataFrame, schema: EventSchema, firsts: np.ndarray, name: str
) -> pd.DataFrame:
    columns = schema.static_categorical + schema.static_numeric
    for column in columns:
        _constant_per_sequence(sorted_events, schema.sequence_id, column, name, "static attribute")
    static = sorted_events.iloc[firsts][columns].reset_index(drop=True)
    for column in schema.static_numeric:
        static[column] = parse_numeric(static, column, name)
    for column in schema.static_categorical:
        static[column] = static[column].astype("string").astype("category")
    return static
