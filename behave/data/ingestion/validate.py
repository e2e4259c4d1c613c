"""Raw tables -> validated `EventLog`: check every configured column, parse, sort once, attach labels.

Every problem is a `DataError` naming the file, the column and the first offending rows (0-based data
row numbers, i.e. line number minus 2 in a CSV with a header). Sequences without labels and labels
without events are dropped; their counts, and warnings about values that look wrong but may be right
(placeholder timestamps), are returned for the data card.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from behave.data.errors import DataError, describe_rows
from behave.data.event_log import NO_LABELS, EventLog, RawTables
from behave.data.ingestion.columns import (
    all_constant_per_sequence,
    constant_per_sequence,
    is_missing,
    parse_numeric,
    require_columns,
)
from behave.data.ingestion.labels import align_labels, sequence_labels
from behave.data.ingestion.timestamps import parse_timestamps
from behave.data.spec import DatasetSpec, EventSchema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationReport:
    """What validation removed, and what it found suspicious, for the data card."""

    sequences_without_label: int = 0
    labels_without_events: int = 0
    warnings: list[str] = field(default_factory=list)


def validate(
    raw: RawTables, spec: DatasetSpec, with_labels: bool = True
) -> tuple[EventLog, ValidationReport]:
    """Check, parse and sort the raw tables into an `EventLog`.

    `with_labels=False` (scoring new data) skips labels: every sequence is kept, labels are -1. A log
    without a sequence label (`data.label.column: null`) keeps every sequence, its labels `NO_LABELS`.
    """
    schema = spec.schema
    events = raw.events.reset_index(drop=True)
    if events.empty:
        raise DataError(f"{raw.events_name}: the events table is empty (no rows).")
    roles = event_roles(spec)
    if not with_labels and spec.label.given:
        roles.pop(spec.label.column, None)
    require_columns(events, raw.events_name, roles)
    if is_missing(events[schema.sequence_id]).any():
        bad = is_missing(events[schema.sequence_id])
        raise DataError(
            f"{raw.events_name}: column '{schema.sequence_id}' (sequence id) is empty in "
            f"{describe_rows(events, bad, schema.sequence_id)}"
        )
    time, warnings = parse_timestamps(events, schema, raw.events_name)
    numeric = {col: parse_numeric(events, col, raw.events_name) for col in schema.numeric}
    order, sequence_ids, offsets = _sort_events(events[schema.sequence_id], time)
    keep, drops = np.ones(len(sequence_ids), dtype=bool), (0, 0)
    if not spec.label.given:
        labels, class_names = NO_LABELS, []
    elif with_labels:
        labels, class_names, keep, drops = align_labels(
            sequence_ids, sequence_labels(raw, spec, events), spec, raw
        )
    else:
        labels, class_names = np.full(len(sequence_ids), -1, dtype=np.int64), []
    for warning in warnings:
        log.warning(warning)
    log_ = _assemble(events, order, sequence_ids, offsets, time, numeric, labels, class_names, spec, raw)
    if not keep.all():
        log_ = log_.select(np.flatnonzero(keep))
    return log_, ValidationReport(*drops, warnings=warnings)


def event_roles(spec: DatasetSpec) -> dict[str, str]:
    schema = spec.schema
    roles = {schema.sequence_id: "sequence id", schema.timestamp: "timestamp"}
    roles |= {c: "categorical field" for c in schema.categorical}
    roles |= {c: "numeric field" for c in schema.numeric}
    roles |= {c: "static categorical" for c in schema.static_categorical}
    roles |= {c: "static numeric" for c in schema.static_numeric}
    if schema.group:
        roles[schema.group] = "group"
    if spec.label.given and spec.label.table == "events":
        roles[spec.label.column] = "label"
    return roles


def _sort_events(
    sequence_col: pd.Series, time: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """One stable sort by (sequence, time): (event order, sorted unique sequence ids, offsets). The order is
    None when the rows already are in it (a log written by sequence): no column then needs a gather."""
    time = np.asarray(time, dtype=np.float64)
    in_order = _offsets_if_in_order(sequence_col.to_numpy(), time)
    if in_order is not None:
        return None, *in_order
    codes, uniques = _sorted_codes(sequence_col)
    # Files usually come ordered by time or by sequence: then a stable sort by sequence alone already is the
    # lexsort order (ties keep file order in both), and it skips lexsort's full N log N sort on time.
    order = _stable_order(codes)
    sorted_codes, sorted_time = (codes, time) if order is None else (codes[order], time[order])
    if not np.all((np.diff(sorted_codes) != 0) | (np.diff(sorted_time) >= 0)):
        order = np.lexsort((time, codes))
    counts = np.bincount(codes, minlength=len(uniques))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return order, np.asarray(uniques), offsets


def _offsets_if_in_order(ids: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(sorted distinct ids, offsets) when numeric ids and times already are in (sequence, time) order, from
    one comparison of neighbours: no per-row codes, counts or order are built. None otherwise."""
    if ids.dtype.kind not in "iu" or not len(ids) or not np.all(ids[1:] >= ids[:-1]):
        return None
    starts = np.empty(len(ids), dtype=bool)
    starts[0] = True
    np.not_equal(ids[1:], ids[:-1], out=starts[1:])
    if not np.all(starts[1:] | (np.diff(time) >= 0)):
        return None
    firsts = np.flatnonzero(starts)
    return ids[firsts], np.append(firsts, len(ids)).astype(np.int64)


def _sorted_codes(sequence_col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(N,) code of each row's sequence in sorted id order, and the sorted distinct ids: what
    pd.factorize(sort=True) gives. Numeric ids already in order (a log written by sequence, or one range of
    an out-of-core preparation) take a pass that compares neighbours instead of hashing every id."""
    values = sequence_col.to_numpy()
    if values.dtype.kind in "iu" and len(values) and np.all(values[1:] >= values[:-1]):
        starts = np.empty(len(values), dtype=bool)
        starts[0] = True
        np.not_equal(values[1:], values[:-1], out=starts[1:])
        return np.cumsum(starts) - 1, values[starts]
    codes, uniques = pd.factorize(sequence_col, sort=True)
    return codes, np.asarray(uniques)


def _stable_order(codes: np.ndarray) -> np.ndarray | None:
    """Stable argsort of (N,) sequence codes (0 <= code < 2**32: there are fewer sequences than that); None
    when they are sorted already."""
    if np.all(codes[1:] >= codes[:-1]):
        return None
    # numpy radix-sorts 16-bit keys in O(N) but timsorts wider ones: sort by the codes' two 16-bit halves.
    return np.lexsort(((codes & 0xFFFF).astype(np.uint16), (codes >> 16).astype(np.uint16)))


def _in_order(values: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    """(N,) `values` in event order as a new array (a copy where the rows already are in order: `values` may
    be the caller's frame's own memory)."""
    return values.copy() if order is None else values[order]


def _assemble(
    events, order, sequence_ids, offsets, time, numeric, labels, class_names, spec, raw
) -> EventLog:
    schema = spec.schema
    # Only the per-sequence columns are reordered as a frame; event fields are reordered as integer codes.
    per_sequence = [schema.sequence_id, *schema.static_categorical, *schema.static_numeric, schema.group]
    per_sequence = list(dict.fromkeys(c for c in per_sequence if c))
    sorted_events = events[per_sequence] if order is None else events[per_sequence].iloc[order]
    sorted_events = sorted_events.reset_index(drop=True)
    firsts = offsets[:-1]
    columns = [events[col] for col in schema.categorical]
    with ThreadPoolExecutor(max_workers=2) as pool:
        # Hashing strings is most of validation's time; pyarrow does it without the GIL, two columns at once.
        parsed = pool.map(lambda values: _categorical(values, order), columns)
        categorical = dict(zip(schema.categorical, parsed))
    static = _static_table(sorted_events, schema, firsts, raw.events_name)
    groups = None
    if schema.group:
        constant_per_sequence(events, schema.sequence_id, schema.group, raw.events_name, "group")
        groups = sorted_events[schema.group].to_numpy()[firsts]
    extras = pd.DataFrame(index=range(len(sequence_ids)))
    if raw.extras is not None:
        extras = raw.extras.reindex(sequence_ids).reset_index(drop=True)
    event_extras = _event_extras(raw, len(events))
    return EventLog(
        sequence_ids=sequence_ids,
        offsets=offsets,
        time=_in_order(np.asarray(time, dtype=np.float64), order),
        categorical=categorical,
        numeric={col: _in_order(values, order) for col, values in numeric.items()},
        labels=labels,
        class_names=class_names,
        groups=groups,
        static=static,
        extras=extras,
        event_extras={name: _in_order(values, order) for name, values in event_extras.items()},
    )


def _event_extras(raw: RawTables, n_events: int) -> dict[str, np.ndarray]:
    """The source's per-event extras as float64 columns in the events table's row order (sorted with the
    events by the caller); an error naming the source when they do not line up with the events."""
    if raw.event_extras is None:
        return {}
    if len(raw.event_extras) != n_events:
        raise DataError(
            f"{raw.events_name}: the source's event_extras have {len(raw.event_extras):,} rows for "
            f"{n_events:,} events; they must hold one row per event, in the events table's order."
        )
    extras = {}
    for name, column in raw.event_extras.items():
        if not pd.api.types.is_numeric_dtype(column):
            raise DataError(
                f"{raw.events_name}: event_extras column '{name}' must be numeric, got {column.dtype}"
            )
        extras[str(name)] = column.to_numpy(dtype=np.float64)
    return extras


def _categorical(values: pd.Series, order: np.ndarray | None) -> pd.Categorical:
    """(N,) categorical in `order` (None: as they are) with string categories, so files read as ints or strs
    give the same tokens.

    Each value is hashed once; cleaning, sorting and naming happen on the few distinct values only.
    """
    codes, distinct = pd.factorize(values, sort=False)
    distinct = pd.Series(distinct)
    if isinstance(distinct.dtype, pd.CategoricalDtype):
        # A column read as categories (Parquet's dictionary) keeps its file's category order: its plain
        # values get the same sorted categories as a column read as strings.
        distinct = distinct.astype(distinct.cat.categories.dtype)
    categories = distinct_categorical(distinct)
    # Slot -1 of the lookup is the missing value's code (factorize gives missing values code -1).
    lookup = np.append(categories.codes, -1).astype(categories.codes.dtype)
    in_order = lookup[codes] if order is None else lookup[codes][order]  # a new array either way
    return pd.Categorical.from_codes(in_order, dtype=categories.dtype)


def distinct_categorical(values: pd.Series) -> pd.Categorical:
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        # Ints with an empty cell are read as floats: keep '3' (not '3.0') so every file gives the same token.
        values = values.astype("Int64")
    cat = pd.Categorical(values.where(~is_missing(values)))
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
    all_constant_per_sequence(sorted_events, schema.sequence_id, columns, name, "static attribute")
    static = sorted_events.iloc[firsts][columns].reset_index(drop=True)
    for column in schema.static_numeric:
        static[column] = parse_numeric(static, column, name, "static numeric")
    for column in schema.static_categorical:
        static[column] = static[column].astype("string").astype("category")
    return static
