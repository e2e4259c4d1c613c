"""Prepare a log larger than memory: the cache `prepared.py` builds in memory, built one slice at a time.

Every step holds one partition (a range of whole sequences, sized by the memory cap) in memory, and runs the
in-memory rules on it; what crosses partitions is per-sequence (ids, labels, groups, static attributes) or
a sum (counts, moments):

1. plan     cut the sorted sequence ids into ranges of whole sequences sized by the memory cap, and
2. scatter  every row to its range's file, collecting the whole log's categories (`partitions.py`);
            values that only a file's dictionary lists are dropped at the end of step 3.
3. validate each partition with `validate` (labels read once for the whole log, encoded once at the end)
            and append its columns to the cached log's arrays.
4. split    on the per-sequence table, exactly as in memory.
5. fit      in three passes over the partitions' training sequences (`train_parts.py`).
6. encode   each partition of the (memory-mapped) cached log into the per-event inputs, appended in order.

The in-memory path stays the default for logs that fit (`data.source.out_of_core: auto` decides by size).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset
import pyarrow.ipc

from behave.data.errors import DataError
from behave.data.event_log import EventLog, ParquetLog, RawTables
from behave.data.ingestion.columns import require_columns
from behave.data.ingestion.labels import encode_labels, sequence_labels
from behave.data.ingestion.timestamps import auto_text_format
from behave.data.ingestion.validate import ValidationReport, validate
from behave.data.spec import DatasetSpec
from behave.data.split import split_sequences
from behave.data.storage.card import build_card
from behave.data.storage.log_store import (
    ArrayAppender,
    LogWriter,
    code_width,
    load_log,
    log_arrays,
    release_pages,
    save_log,
)
from behave.data.storage.partitions import plan, scatter
from behave.data.transforms.pipeline import FittedPipeline
from behave.data.transforms.vocabulary import UNK

log = logging.getLogger(__name__)


@dataclass
class ValidatedPart:
    """The per-sequence fields of one validated partition (labels still raw: encoded for the whole log)."""

    sequences: EventLog  # ids, lengths (offsets), groups, static; `time` holds each sequence's start time
    raw_labels: pd.Series


def validate_partition(
    path: Path, source: ParquetLog, spec: DatasetSpec, log_wide: LogWide
) -> tuple[EventLog | None, ValidationReport, int, pd.Series | None]:
    """Validate one partition with the in-memory rules: (its log in the whole log's categories, or None
    when no sequence kept its label; the report; sequences dropped for want of a label; their raw labels)."""
    events = pa.ipc.open_stream(path).read_all().to_pandas()
    name = f"{source.events} (rows of the sequence-id range {path.stem}; row numbers count within it)"
    _check_time_format(events, spec, name, log_wide.time_format)
    labels = log_wide.labels
    raw = RawTables(events, name, None, source.labels_name)
    if labels is None:  # the label is a column of the events
        require_columns(events, name, {spec.label.column: "label"})
        labels = sequence_labels(raw, spec, events)
    part, report = validate(raw, spec, with_labels=False)
    del events, raw
    has_label = pd.Index(part.sequence_ids).isin(labels.index)
    part = part.select(np.flatnonzero(has_label))
    dropped = int((~has_label).sum())
    if part.n_sequences == 0:
        return None, report, dropped, None
    for name, values in part.categorical.items():
        log_wide.used[name].update(str(c) for c in values.categories)  # validation keeps only used ones
    recoded = {f: _recode(v, log_wide.categories[f]) for f, v in part.categorical.items()}
    part = replace(part, categorical=recoded)
    return part, report, dropped, labels.reindex(pd.Index(part.sequence_ids))


def per_sequence_fields(part: EventLog, raw_labels: pd.Series) -> ValidatedPart:
    sequences = EventLog(
        sequence_ids=part.sequence_ids,
        offsets=part.offsets,
        time=part.start_time,
        categorical={},
        numeric={},
        labels=part.labels,
        class_names=[],
        groups=part.groups,
        static=part.static,
    )
    return ValidatedPart(sequences, raw_labels)


@dataclass(frozen=True)
class LogWide:
    """What every partition is validated with, taken from the whole log: each categorical field's categories,
    the raw label of each sequence id (None: the label is on the events), the inferred time format."""

    categories: dict[str, pd.Categorical]
    labels: pd.Series | None
    time_format: str | None
    used: dict[str, set[str]] = field(default_factory=dict)  # categories the validated partitions use

    def __post_init__(self) -> None:
        self.used.update({name: set() for name in self.categories})


def _check_time_format(events: pd.DataFrame, spec: DatasetSpec, name: str, whole: str | None) -> None:
    """In memory, `timestamp_format: auto` reads text times with the format of the log's first value; each
    partition would infer its own, so a partition whose first value suggests another format is an error."""
    if spec.schema.timestamp_format != "auto" or spec.schema.timestamp not in events:
        return
    inferred = auto_text_format(events[spec.schema.timestamp])
    if inferred != whole:
        raise DataError(
            f"{name}: column '{spec.schema.timestamp}' (timestamp): this part of the log reads as "
            f"{inferred!r} where its first rows read as {whole!r}, so its times would be parsed differently "
            "than in memory. Set `schema.timestamp_format` to the log's format."
        )


def _recode(values: pd.Categorical, whole: pd.Categorical) -> pd.Categorical:
    """`values` coded with the whole log's categories `whole` (a partition sees only some of them)."""
    lookup = np.append(pd.Index(whole.categories).get_indexer(values.categories), -1)
    # The lookup already has the width pandas gives codes of this many categories, so the gather below is
    # the only pass over the events (pandas' check of every code is skipped: they are valid by construction).
    width = code_width(len(whole.categories))
    return pd.Categorical.from_codes(lookup.astype(width)[values.codes], dtype=whole.dtype, validate=False)


def first_time_format(source: ParquetLog, spec: DatasetSpec) -> str | None:
    """The format `timestamp_format: auto` infers for the whole log (from its first rows)."""
    dataset = pyarrow.dataset.dataset(source.events, format="parquet")
    if spec.schema.timestamp not in dataset.schema.names:
        return None  # validation names the missing column
    first = dataset.head(1024, columns=[spec.schema.timestamp]).to_pandas()
    return auto_text_format(first[spec.schema.timestamp])


def whole_log_labels(source: ParquetLog, spec: DatasetSpec) -> pd.Series | None:
    """Raw label per sequence id from the label table (None: the label is on the events)."""
    if spec.label.table == "events":
        return None
    empty = RawTables(pd.DataFrame(), str(source.events), source.labels, source.labels_name)
    return sequence_labels(empty, spec, pd.DataFrame())


def per_sequence_table(parts: list[ValidatedPart], spec: DatasetSpec, source: ParquetLog):
    """(one-event-per-sequence log of the whole log, its real offsets, drops of labels without events)."""
    ids = np.concatenate([p.sequences.sequence_ids for p in parts])
    raw_labels = pd.concat([p.raw_labels for p in parts])
    labels, class_names = encode_labels(raw_labels, spec.label, source.labels_name or str(source.events))
    lengths = np.concatenate([p.sequences.lengths for p in parts])
    static = pd.concat([p.sequences.static for p in parts], ignore_index=True)
    for column in spec.schema.static_categorical:  # one set of categories, as validation gives in memory
        static[column] = static[column].astype("string").astype("category")
    groups = (
        None if parts[0].sequences.groups is None else np.concatenate([p.sequences.groups for p in parts])
    )
    sequences = EventLog(
        sequence_ids=ids,
        offsets=np.arange(len(ids) + 1, dtype=np.int64),
        time=np.concatenate([p.sequences.time for p in parts]),
        categorical={},
        numeric={},
        labels=labels,
        class_names=class_names,
        groups=groups,
        static=static,
        extras=pd.DataFrame(index=range(len(ids))),
    )
    return sequences, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def check_supported(spec: DatasetSpec) -> None:
    unsupported = []
    if spec.split.method.cuts_at_test_start:
        unsupported.append(
            f"data.split.method={spec.split.method.value} (its cut rewrites train events after the split)"
        )
    if spec.sample_sequences is not None:
        unsupported.append("data.sample_sequences (a sample of a large log fits in memory)")
    if not spec.label.given:
        unsupported.append("data.label.column=null (a log without a sequence label) yet")
    if unsupported:
        raise DataError(
            "out-of-core preparation does not support "
            + "; ".join(unsupported)
            + ". Set data.source.out_of_core=false to prepare in memory."
        )


def build(
    spec: DatasetSpec, source: ParquetLog, strata, key: str, out: Path, step
) -> tuple[FittedPipeline, dict]:
    """Write the log, split and per-event inputs of `prepared.py`'s cache into `out` (see the module
    docstring); returns the fitted pipeline and the data card, which the caller writes."""
    check_supported(spec)
    work = out / "partitions"
    work.mkdir()
    partitions = plan(source, spec)
    step(f"planned {partitions.n_partitions} partitions of {partitions.n_events:,} events")
    categories = scatter(source, spec, partitions, work)
    step("scattered the events into partitions")
    labels = whole_log_labels(source, spec)
    log_wide = LogWide(categories, labels, first_time_format(source, spec))
    # Partitions are ranges of the sorted ids: validated in order, they append to the cached log's arrays.
    writer, parts, warnings, without_label = None, [], [], 0
    for path in sorted(work.glob("part-*.arrows")):
        part, report, dropped, raw_labels = validate_partition(path, source, spec, log_wide)
        path.unlink()
        without_label += dropped
        warnings += [w for w in report.warnings if w not in warnings]
        if part is None:
            continue
        if writer is None:
            writer = LogWriter(out / "log", partitions.events_with_label(labels), part)
        writer.append(part)
        parts.append(per_sequence_fields(part, raw_labels))
        del part
    if writer is None:
        raise DataError(f"{source.events}: no sequence has a label ({source.labels_name or 'events'}).")
    sequences, offsets = per_sequence_table(parts, spec, source)
    writer.finish(replace(sequences, offsets=offsets), log_wide.used)
    labels_without_events = 0 if labels is None else int((~labels.index.isin(sequences.sequence_ids)).sum())
    if without_label:
        log.warning("%s: dropping %d sequence(s) that have events but no label", source.events, without_label)
    if labels_without_events:
        log.warning(
            "%s: dropping %d label(s) whose sequence has no events", source.labels_name, labels_without_events
        )
    drops = ValidationReport(without_label, labels_without_events, warnings)
    step(f"validated {sequences.n_sequences:,} sequences")
    event_log = load_log(out / "log")  # memory-mapped; each step below reads one partition of it at a time
    bounds = np.cumsum([0] + [p.sequences.n_sequences for p in parts])
    split = split_sequences(sequences, spec.split, strata(sequences), spec.schema.group)
    training = TrainingParts(event_log, bounds, split.train, work)
    fitted = FittedPipeline.fit_parts(
        training, sequences.static.iloc[split.train].reset_index(drop=True), sequences.class_names, spec
    )
    training.close()
    step(f"split, fitted the pipeline on {len(split.train):,} training sequences")
    unknown = _encode(event_log, bounds, fitted, out)
    shutil.rmtree(work)
    step("encoded every event")
    split.to_frame(event_log.sequence_ids).to_parquet(out / "split.parquet", index=False)
    n_numeric = len(fitted.scaler.columns_)
    card = build_card(spec, event_log, split, fitted, n_numeric, unknown, drops, key)
    card["split"]["events_cut_after_test_start"] = 0
    card["out_of_core"] = {
        "partitions": len(parts),
        "memory_cap_gb": source.memory_cap_bytes / 1e9,
    }
    return fitted, card


class TrainingParts:
    """The training sequences of each partition (`TrainParts` of `train_parts.py`), one partition at a time.

    The first pass gathers each partition's training sequences and writes them out contiguously, so later
    passes map them without copying; arrays kept between passes go beside them. Passes alternate direction,
    so the partition one pass ends on starts the next without being read again.
    """

    def __init__(self, event_log: EventLog, bounds: np.ndarray, train: np.ndarray, scratch: Path) -> None:
        self.log, self.scratch = event_log, scratch
        self.members = [train[(train >= a) & (train < b)] for a, b in zip(bounds[:-1], bounds[1:])]
        self.forward, self.held = True, (None, None)

    def __call__(self) -> Iterator[tuple[int, EventLog]]:
        order = range(len(self.members)) if self.forward else reversed(range(len(self.members)))
        self.forward = not self.forward
        for k in order:
            if not len(self.members[k]):
                continue
            if self.held[0] != k:
                self.held = (None, None)  # let the previous partition go before reading the next
                self.held = (k, self._read(k))
            yield k, self.held[1]

    def _folder(self, k: int) -> Path:
        return self.scratch / f"train-{k:05d}"

    def _read(self, k: int) -> EventLog:
        train = self._folder(k)
        if (train / "log.json").exists():
            return load_log(train)
        part = self.log.select(self.members[k])  # rows copied out of the mapped log
        release_pages(*log_arrays(self.log))
        save_log(part, train)
        return part

    def keep(self, part: int, name: str, values: np.ndarray) -> None:
        if (
            np.issubdtype(values.dtype, np.integer)
            and len(values)
            and values.max() < 2**31
            and values.min() >= 0
        ):
            values = values.astype(np.int32)  # token keys of a small key space: half the disk
        np.save(self._folder(part) / f"{name}.npy", values)

    def kept(self, part: int, name: str) -> np.ndarray | None:
        path = self._folder(part) / f"{name}.npy"
        return np.load(path, mmap_mode="r") if path.exists() else None

    def close(self) -> None:
        self.held = (None, None)


def _encode(event_log: EventLog, bounds: np.ndarray, fitted: FittedPipeline, out: Path) -> np.ndarray:
    """Append each partition's per-event inputs to the cache; (S,) unknown tokens per sequence."""
    n_events, unknown = event_log.n_events, []
    arrays = {
        "tokens": ArrayAppender(out / "events" / "tokens.npy", np.int32, (n_events,)),
        "numeric": ArrayAppender(
            out / "events" / "numeric.npy", np.float32, (n_events, len(fitted.scaler.columns_))
        ),
        "fields": ArrayAppender(
            out / "events" / "fields.npy", np.int32, (n_events, len(fitted.event_fields.levels_))
        ),
    }
    for first, stop in zip(bounds[:-1], bounds[1:]):
        part = event_log.select(np.arange(first, stop))  # consecutive whole sequences: views, no copy
        encoded = fitted.encode_events(part)
        for name, appender in arrays.items():
            appender.append(getattr(encoded, name))
        unknown.append(np.add.reduceat((encoded.tokens == UNK).astype(np.int64), encoded.offsets[:-1]))
        del part, encoded
        release_pages(*log_arrays(event_log))
    for appender in arrays.values():
        appender.close()
    np.save(out / "events" / "static.npy", fitted.static_inputs(event_log))
    return np.concatenate(unknown)
