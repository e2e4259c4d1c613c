"""A task's feature file (`features.parquet`): the (R, F) float32 tabular features of its rows, written in
row chunks with row groups small enough to read back in batches, and read whole or a batch at a time.

Who writes it and what the columns are is the task's business (`behave.tasks.dataset`); this module only
stores and reads the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from behave.data.errors import DataError
from behave.data.inputs import frame_batches

# Row groups of a feature file hold at most this many bytes of float32: a reader decodes a whole group at a
# time, so this bounds what reading a table larger than memory in batches holds (FeatureFile.batches).
ROW_GROUP_BYTES = 64_000_000


def write_frames(frames: pd.DataFrame | Iterable[pd.DataFrame], path: Path) -> list[str]:
    """Write one frame, or consecutive row chunks of one table, to a Parquet file; returns the columns."""
    chunks = [frames] if isinstance(frames, pd.DataFrame) else frames
    writer, writing, columns = None, None, []
    # Chunk k is written (Arrow releases the GIL) while chunk k + 1 is computed.
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            for chunk in chunks:
                table = pa.Table.from_pandas(chunk, preserve_index=False)
                if writer is None:
                    # Without dictionary pages: 2x faster to write (feature values rarely repeat in a column).
                    writer = pq.ParquetWriter(path, table.schema, use_dictionary=False)
                    columns = list(chunk.columns)
                    group_rows = max(1, ROW_GROUP_BYTES // (4 * max(len(columns), 1)))
                if writing is not None:
                    writing.result()
                writing = pool.submit(writer.write_table, table, row_group_size=group_rows)
            if writing is not None:
                writing.result()
        finally:
            if writer is not None:
                writer.close()
    return columns


@dataclass(frozen=True)
class FeatureFile:
    """A task's cached features.parquet: read whole when first called (then kept: every part's rows come
    from one read), its column names without reading it. Pickles as its path (spawned training processes
    read it themselves, if at all)."""

    path: Path
    n_rows: int
    _read: list = field(default_factory=list, compare=False, repr=False)  # [] until read

    def __call__(self) -> pd.DataFrame:
        if not self._read:
            features = pd.read_parquet(self.path)
            if features.columns.empty:  # a task without tabular features (pretraining): no row count is kept
                features = pd.DataFrame(index=range(self.n_rows))
            self._read.append(features)
        return self._read[0]

    def columns(self) -> list[str]:
        return list(pq.read_schema(self.path).names)

    def batches(self, rows: np.ndarray, batch_rows: int) -> Iterator[np.ndarray]:
        """(n, F) float32 features of `rows` (ascending), in that order, reading `batch_rows` rows of the
        file at a time (XGBoost's external memory). The reader decodes a whole row group at once, so what
        is in memory is one row group and one batch: `write_frames` keeps row groups to ROW_GROUP_BYTES."""
        if len(rows) > 1 and np.any(np.diff(rows) <= 0):
            raise ValueError("FeatureFile.batches reads rows in file order: `rows` must be ascending")
        if self._read:  # already in memory
            yield from frame_batches(self._read[0], batch_rows, rows)
            return
        start = 0
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=batch_rows):
            stop = start + batch.num_rows
            lo, hi = np.searchsorted(rows, [start, stop])
            if hi > lo:
                yield columns_matrix(batch, rows[lo:hi] - start)
            start = stop
        if start != self.n_rows:  # a file cut short would silently drop rows from training
            raise DataError(
                f"{self.path}: {start:,} rows of features where the task has {self.n_rows:,}; delete the "
                f"task's cache folder ({self.path.parent}) to rebuild it"
            )

    def __getstate__(self) -> dict:
        return {"path": self.path, "n_rows": self.n_rows, "_read": []}


@dataclass(frozen=True)
class RowsOf:
    """Some rows of a feature table (a frame, or a `FeatureFile`), taken when called."""

    table: pd.DataFrame | FeatureFile
    rows: np.ndarray

    def __call__(self) -> pd.DataFrame:
        table = self.table() if callable(self.table) else self.table
        return table.iloc[self.rows].reset_index(drop=True)

    def batches(self, batch_rows: int) -> Iterator[np.ndarray]:
        """The rows' features as (n, F) float32 batches, in row order, without reading the whole file."""
        if isinstance(self.table, FeatureFile):
            return self.table.batches(self.rows, batch_rows)
        table = self.table() if callable(self.table) else self.table
        return frame_batches(table, batch_rows, self.rows)


def columns_matrix(batch: pa.RecordBatch, rows: np.ndarray) -> np.ndarray:
    """Some rows of an Arrow batch of float columns as one (n, F) float32 array (nulls as NaN); a column
    is read in place where it has no nulls, so the batch is not copied whole on the way."""
    matrix = np.empty((len(rows), batch.num_columns), dtype=np.float32)
    for index, column in enumerate(batch.columns):
        matrix[:, index] = column.to_numpy(zero_copy_only=False)[rows]
    return matrix
