"""Cut a Parquet log into ranges of whole sequences, each small enough to prepare in memory (out_of_core.py).

`plan` reads only the sequence-id column and cuts the sorted ids into ranges of at most `partition_events`
events, sized by the memory cap. Ranges, not hashes: the cache holds sequences sorted by id, so range k's
output is one contiguous block after range k - 1's and every write of the preparation is an append (hash
partitions would scatter each one over every page). `scatter` then sends every row to its range's Arrow
stream in file order (so ties in time sort as in memory), string fields kept as the file's dictionaries,
and collects each categorical field's distinct values: every range is coded with the whole log's categories.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset
import pyarrow.ipc

from behave.data.errors import DataError
from behave.data.event_log import ParquetLog
from behave.data.ingestion.validate import distinct_categorical, event_roles
from behave.data.sources.parquet_parts import log_schema
from behave.data.spec import DatasetSpec

BATCH_ROWS = 1 << 20
# Arrow reads ahead 16 batches of 4 files by default: 4 GB at peak on 10 files of 10M events. One batch of
# one file ahead keeps the reader busy while a batch is scattered, at ~100 MB.
READ_AHEAD = {"batch_readahead": 1, "fragment_readahead": 1}
# Resident bytes per event while one partition is validated and encoded (measured on the simulator's log:
# raw frame, validated log, sort order and per-event inputs at once), and per sequence for the tables kept
# for the whole log (ids, labels, start times, groups, static attributes).
BYTES_PER_EVENT = 300
BYTES_PER_SEQUENCE = 400
MIN_PARTITION_EVENTS = 10_000


@dataclass(frozen=True)
class PartitionPlan:
    """Ranges of sorted sequence ids: partition k holds ids in [firsts[k], firsts[k + 1])."""

    firsts: np.ndarray
    n_events: int
    n_sequences: int
    events_per_id: pd.Series  # sorted ids -> events

    def events_with_label(self, labels: pd.Series | None) -> int:
        """Events that validation keeps: those of sequences with a label (all of them when the label is on
        the events)."""
        if labels is None:
            return self.n_events
        return int(self.events_per_id[self.events_per_id.index.isin(labels.index)].sum())

    @property
    def n_partitions(self) -> int:
        return len(self.firsts)

    def partition_of(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.firsts, ids, side="right") - 1


def partition_events(source: ParquetLog, n_events: int, n_sequences: int, spec: DatasetSpec) -> int:
    """Events per partition that keep the preparation under the memory cap."""
    binned = sum(name in spec.schema.numeric for name in spec.tokens.fields)
    # Exact bin edges need every training value of a numeric token field at once (8 bytes each).
    reserve = n_sequences * BYTES_PER_SEQUENCE + binned * n_events * 8 * spec.split.train
    room = source.memory_cap_bytes - reserve
    if room < MIN_PARTITION_EVENTS * BYTES_PER_EVENT:
        raise DataError(
            f"data.source.memory_cap_gb={source.memory_cap_bytes / 1e9:g} is too small for {n_sequences:,} "
            f"sequences and {n_events:,} events: their per-sequence tables (and the training values of "
            f"numeric token fields) alone need about {reserve / 1e9:.1f} GB. Raise the cap."
        )
    return max(MIN_PARTITION_EVENTS, int(room / BYTES_PER_EVENT))


def plan(source: ParquetLog, spec: DatasetSpec) -> PartitionPlan:
    """Count events per sequence id from the id column alone, then cut the sorted ids into ranges."""
    id_column = spec.schema.sequence_id
    dataset = pyarrow.dataset.dataset(source.events, format="parquet", schema=log_schema(source.events))
    if id_column not in dataset.schema.names:
        raise DataError(
            f"{source.events}: column '{id_column}' (sequence id) not found; columns: {dataset.schema.names}"
        )
    counts = []
    for batch in dataset.to_batches(columns=[id_column], batch_size=BATCH_ROWS, **READ_AHEAD):
        counts.append(pd.Series(batch.column(0).to_numpy(zero_copy_only=False)).value_counts(dropna=False))
    per_id = pd.concat(counts).groupby(level=0, sort=True, dropna=False).sum() if counts else pd.Series()
    if per_id.index.hasnans:
        raise DataError(f"{source.events}: column '{id_column}' (sequence id) is empty in some rows.")
    n_events, n_sequences = int(per_id.sum()), len(per_id)
    if n_events == 0:
        raise DataError(f"{source.events}: the events table is empty (no rows).")
    budget = partition_events(source, n_events, n_sequences, spec)
    # Sequence s goes to the partition where its last event falls when events are dealt out in blocks of
    # `budget`: whole sequences, at most `budget` events plus one sequence per partition.
    ends = np.cumsum(per_id.to_numpy())
    block = (ends - 1) // budget
    firsts = np.flatnonzero(np.diff(block, prepend=-1) != 0)
    return PartitionPlan(per_id.index.to_numpy()[firsts], n_events, n_sequences, per_id)


def scatter(
    source: ParquetLog, spec: DatasetSpec, partitions: PartitionPlan, folder: Path
) -> dict[str, pd.Categorical]:
    """Write each row of the events to its partition's Arrow stream; returns the whole log's categories of
    each categorical field (as validation gives them for the whole log)."""
    # String fields come as dictionaries, as Parquet stores them: no string is hashed here.
    read_options = pyarrow.dataset.ParquetReadOptions(dictionary_columns=source.string_fields)
    parquet = pyarrow.dataset.ParquetFileFormat(read_options=read_options)
    schema = log_schema(source.events, source.string_fields)
    dataset = pyarrow.dataset.dataset(source.events, format=parquet, schema=schema)
    columns = [c for c in event_roles(spec) if c in dataset.schema.names]
    id_column, categorical = spec.schema.sequence_id, list(spec.schema.categorical)
    distinct: dict[str, list] = {name: [] for name in categorical}
    writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
    try:
        for batch in dataset.to_batches(columns=columns, batch_size=BATCH_ROWS, **READ_AHEAD):
            codes, uniques = pd.factorize(batch.column(id_column).to_numpy(zero_copy_only=False))
            target = partitions.partition_of(np.asarray(uniques))[codes]
            batch = _encode_strings(batch, source.string_fields, distinct)
            for name in categorical:
                if name not in source.string_fields and name in batch.schema.names:
                    distinct[name].append(pc.unique(batch.column(name)).to_pandas())
            for k, rows in _rows_by_partition(batch, target, partitions.n_partitions):
                if k not in writers:
                    writers[k] = pa.ipc.new_stream(folder / f"part-{k:05d}.arrows", rows.schema)
                writers[k].write_batch(rows)
    finally:
        for writer in writers.values():
            writer.close()
    return {name: distinct_categorical(_union(values)) for name, values in distinct.items()}


def _rows_by_partition(batch: pa.RecordBatch, target: np.ndarray, n_partitions: int):
    """(partition, its rows of `batch` in file order) for each partition the batch has rows of."""
    if len(target) and target[0] == target[-1] and (target == target[0]).all():
        yield int(target[0]), batch  # files sorted by sequence: most batches fall in one partition
        return
    order = np.argsort(target, kind="stable")
    bounds = np.searchsorted(target[order], np.arange(n_partitions + 1))
    for k in np.flatnonzero(np.diff(bounds)):
        yield int(k), batch.take(pa.array(order[bounds[k] : bounds[k + 1]]))


def _encode_strings(batch: pa.RecordBatch, fields: list[str], distinct: dict[str, list]) -> pa.RecordBatch:
    """String fields as dictionaries, each dictionary's values collected into `distinct`."""
    arrays = list(batch.columns)
    for name in fields:
        if name in batch.schema.names:
            index = batch.schema.get_field_index(name)
            column = arrays[index]
            if pa.types.is_dictionary(column.type):
                # The batch's dictionary may list values no row of it uses (a Parquet dictionary covers a
                # row group): categories the whole log never uses are dropped once validation has seen it.
                distinct[name].append(column.dictionary.to_pandas())
            else:
                column = pc.dictionary_encode(column)
                distinct[name].append(column.dictionary.to_pandas())
                arrays[index] = column
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _union(values: list[pd.Series]) -> pd.Series:
    if not values:
        return pd.Series([], dtype=object)
    return pd.concat(values, ignore_index=True).drop_duplicates().reset_index(drop=True)
