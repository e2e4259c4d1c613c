"""Sequence labels: read from the label table or the events, aligned with the sequences, encoded as class
indices, with errors for unknown values, single-class labels and ids that do not match.

Binary: class 1 is `label.positive` (compared as strings, so 1, "1" and "yes" all work); when no positive
value is configured, labels must be 0/1 or False/True. Multiclass: classes in `label.classes` order,
else sorted.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from behave.data.errors import DataError
from behave.data.event_log import RawTables
from behave.data.ingestion.columns import constant_per_sequence, is_missing, require_columns
from behave.data.spec import DatasetSpec, LabelKind, LabelSpec, MissingLabel

log = logging.getLogger(__name__)


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
            f"{name}: column '{spec.column}' (label) is binary but has {len(observed)} values "
            f"{observed[:12]}: the positive class {positive!r} and {len(observed) - 1} others "
            f"{[v for v in observed if v != positive][:11]}, where a binary label has one. Use "
            "label.kind=multiclass, list the two allowed values in label.classes, or fix the data."
        )
    negatives = [v for v in observed if v != positive]
    if positive not in observed:
        raise DataError(
            f"{name}: column '{spec.column}' (label): the positive value {positive!r} never occurs; "
            f"values are {observed}."
        )
    negative = negatives[0] if negatives else f"not {positive}"
    return (text == positive).to_numpy(dtype=bool).astype(np.int64), [negative, positive]


def sequence_labels(raw: RawTables, spec: DatasetSpec, events: pd.DataFrame) -> pd.Series:
    """Raw label per raw sequence id (index), from the label table or from the events."""
    seq_col, label = spec.schema.sequence_id, spec.label
    if label.table == "events":
        labelled = without_missing_labels(events, spec, raw.events_name)
        return constant_per_sequence(labelled, seq_col, label.column, raw.events_name, "label")
    if raw.labels is None:
        raise DataError(f"{raw.events_name}: label.table is 'labels' but the source provides no label table.")
    table, name = raw.labels.reset_index(drop=True), raw.labels_name or "labels"
    if table.empty:
        raise DataError(f"{name}: the label table is empty (no rows).")
    require_columns(table, name, {seq_col: "sequence id", label.column: "label"})
    table = without_missing_labels(table, spec, name)
    duplicated = table[seq_col].duplicated(keep=False)
    conflicting = table[duplicated].groupby(seq_col)[label.column].nunique() > 1
    if conflicting.any():
        ids = conflicting[conflicting].index[:5].tolist()
        raise DataError(f"{name}: column '{label.column}' (label) has different values for sequences {ids}")
    return table.drop_duplicates(seq_col).set_index(seq_col)[label.column]


def without_missing_labels(table: pd.DataFrame, spec: DatasetSpec, name: str) -> pd.DataFrame:
    """`table` (events or labels) without the rows of sequences that have a row with an empty label cell,
    under `label.missing: drop` (align_labels then drops those sequences as unlabelled); under `error`, a
    DataError naming those rows."""
    seq_col, column = spec.schema.sequence_id, spec.label.column
    missing = is_missing(table[column]).to_numpy()
    if not missing.any():
        return table
    if spec.label.missing == MissingLabel.error:
        raise DataError(
            f"{name}: {int(missing.sum())} row(s) have no label (column '{column}' is empty): "
            f"{user_rows(table.index[missing], name)}. If those sequences are meant to be left out, set "
            "data.label.missing=drop."
        )
    dropped = table[seq_col].isin(table.loc[missing, seq_col])
    log.warning(
        "%s: %d row(s) have no label (column '%s' is empty); dropping their %d sequence(s) "
        "(data.label.missing=drop)",
        name,
        int(missing.sum()),
        column,
        table.loc[missing, seq_col].nunique(),
    )
    return table[~dropped.to_numpy()]


def user_rows(rows: pd.Index, name: str, limit: int = 10) -> str:
    """Rows (0-based positions among the data rows) as a user counts them: from 1, the header not counted;
    a CSV's line numbers too (header on line 1), as a text editor shows them."""
    plural = "s" if len(rows) > 1 else ""
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    shown = f"row{plural} {', '.join(str(row + 1) for row in rows[:limit])}{more}"
    lines = ""
    if {".csv", ".tsv", ".txt"} & set(Path(name).suffixes):
        lines = f"; line{plural} {', '.join(str(row + 2) for row in rows[:limit])}{more} of the file"
    return f"{shown} (data rows counted from 1, the header not counted{lines})"


def align_labels(sequence_ids, seq_labels: pd.Series, spec: DatasetSpec, raw: RawTables):
    """Encode labels in sequence order; drop (with a warning) what lacks a partner."""
    has_label = pd.Index(sequence_ids).isin(seq_labels.index)
    has_events = seq_labels.index.isin(pd.Index(sequence_ids))
    drops = (int((~has_label).sum()), int((~has_events).sum()))
    if drops[0]:
        log.warning("%s: dropping %d sequence(s) that have events but no label", raw.events_name, drops[0])
    if drops[1]:
        log.warning(
            "%s: dropping %d label(s) whose sequence has no events",
            raw.labels_name or raw.events_name,
            drops[1],
        )
    if not has_label.any():
        raise DataError(_no_overlap(sequence_ids, seq_labels.index, spec, raw))
    kept_labels = seq_labels.reindex(pd.Index(sequence_ids)[has_label])
    encoded, class_names = encode_labels(kept_labels, spec.label, raw.labels_name or raw.events_name)
    labels = np.full(len(sequence_ids), -1, dtype=np.int64)
    labels[has_label] = encoded
    return labels, class_names, has_label, drops


def _no_overlap(sequence_ids, label_ids: pd.Index, spec: DatasetSpec, raw: RawTables) -> str:
    """Why no sequence found its label; ints in one file and strings in the other is the usual cause."""
    where = f"the events ('{spec.schema.sequence_id}') and in {raw.labels_name or 'the labels'}"
    event_kind, label_kind = _id_kind(pd.Index(sequence_ids)), _id_kind(label_ids)
    if event_kind != label_kind:
        return (
            f"{raw.events_name}: no sequence has a label: the sequence ids in {where} are of different types "
            f"({event_kind}, e.g. {list(sequence_ids[:2])}, vs {label_kind}, e.g. {list(label_ids[:2])}). "
            "Make both columns the same type (e.g. read them as text with read_options: {dtype: {...: str}})."
        )
    return (
        f"{raw.events_name}: no sequence has a label: the sequence ids in {where} do not overlap "
        f"(e.g. {list(sequence_ids[:2])} vs {list(label_ids[:2])})."
    )


def _id_kind(ids: pd.Index) -> str:
    return "numbers" if pd.api.types.is_numeric_dtype(ids) else "text"
