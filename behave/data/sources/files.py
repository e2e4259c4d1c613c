"""Event logs from the user's own CSV or Parquet files (`data=csv`, and the base of the real-data readers)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow
import pyarrow.types

from behave.data.errors import DataError
from behave.data.event_log import ParquetLog, RawTables
from behave.data.sources.parquet_parts import as_dictionaries, checked_schema, parquet_files, read_parts
from behave.data.spec import ColumnsMissingInFiles
from behave.data.storage.cache import file_digest

DATA_DIR_ENV = "BEHAVE_DATA_DIR"


def resolve_data_dir(data_dir: str | None, dataset_folder: str | None = None) -> Path:
    """`data_dir` when given; else `$BEHAVE_DATA_DIR/<dataset_folder>` when set; else
    `data/raw/<dataset_folder>`."""
    if data_dir:
        return Path(data_dir).expanduser()
    root = os.environ.get(DATA_DIR_ENV)
    base = Path(root).expanduser() if root else Path("data/raw")
    return base / dataset_folder if dataset_folder else base


# The read options that mean something to pandas.read_parquet; the CSV ones (sep, encoding...) are dropped.
PARQUET_OPTIONS = frozenset({"columns", "filters", "engine", "dtype_backend"})


def is_parquet(path: Path) -> bool:
    """A Parquet file, or a folder of them (a partitioned export: every data file under it, as Arrow's
    dataset reader lists them, which skips names starting with '.' or '_')."""
    return path.is_dir() or path.suffix.lower() in (".parquet", ".pq")


def read_table(
    path: Path,
    read_options: dict[str, Any] | None = None,
    categorical: list[str] | tuple = (),
    columns_missing_in_files: ColumnsMissingInFiles | str = ColumnsMissingInFiles.error,
) -> pd.DataFrame:
    """Read a CSV (any compression pandas knows), a Parquet file or a folder of Parquet files, turning
    pandas errors into DataErrors.

    `read_options` go to pandas.read_csv; for Parquet only the few that read_parquet knows are passed on,
    so one data config serves a log whether it comes as CSV or as Parquet. Parquet string columns named in
    `categorical` are read as categories (Parquet's dictionary encoding kept): each distinct value is held
    and hashed once instead of once per row, which saves memory and validation time on large logs. A
    Parquet folder's files are checked against each other first (parquet_parts.py), and read with every
    file's columns, not the first file's.
    """
    options = dict(read_options or {})
    if not path.exists():
        raise DataError(f"{path}: file not found.")
    try:
        if is_parquet(path):
            schema = checked_schema(path, columns_missing_in_files)
            parquet = {k: v for k, v in options.items() if k in PARQUET_OPTIONS}
            dictionary = string_columns(schema, categorical)
            if dictionary:
                parquet["read_dictionary"] = dictionary
            if path.is_dir():
                parquet["schema"] = as_dictionaries(schema, dictionary)
            return pd.read_parquet(path, **parquet)
        return pd.read_csv(path, **options)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as error:
        raise DataError(
            f"{path}: cannot be read ({type(error).__name__}: {error}). Check `read_options` "
            "(sep, encoding, ...)."
        ) from None


def string_columns(schema: pyarrow.Schema, names: list[str] | tuple) -> list[str]:
    """Those of `names` that a Parquet log's `schema` stores as strings (numbers are read as they are)."""
    return [name for name in names if name in schema.names and _is_text(schema.field(name).type)]


def _is_text(kind) -> bool:
    """Strings, or a dictionary of strings (a column a writer stored as Arrow categories)."""
    if pyarrow.types.is_dictionary(kind):
        kind = kind.value_type
    return pyarrow.types.is_string(kind) or pyarrow.types.is_large_string(kind)


# Peak resident bytes per event of the in-memory preparation (measured: 3.1 GB at 10M simulated events,
# benchmarks/README.md); `out_of_core: auto` prepares in slices when the log would need more than the cap.
IN_MEMORY_BYTES_PER_EVENT = 310


def half_of_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2


def digest(path: Path) -> list[dict]:
    """Content hashes of a file, or of every file a Parquet folder is read from (the reader's own list)."""
    if path.is_dir():
        return [file_digest(p) for p in parquet_files(path)]
    return [file_digest(path)]


class FileSource:
    """Events (and optionally labels) from files. Relative paths are resolved against the data folder."""

    def __init__(
        self,
        events: str,
        labels: str | None = None,
        data_dir: str | None = None,
        read_options: dict[str, Any] | None = None,
        labels_read_options: dict[str, Any] | None = None,
        categorical: list[str] | None = None,
        out_of_core: bool | str = "auto",
        memory_cap_gb: float | None = None,
        columns_missing_in_files: ColumnsMissingInFiles | str = ColumnsMissingInFiles.error,
    ):
        """`categorical`: the log's categorical event fields (the data config passes its schema's), read
        from Parquet as categories. `out_of_core`: prepare Parquet events in slices (true), whole (false), or
        in slices when the in-memory preparation would need more than `memory_cap_gb` (auto; the cap
        defaults to half of this machine's memory). `columns_missing_in_files`: the data config passes its
        schema's (data.schema.columns_missing_in_files), for a Parquet folder whose files disagree."""
        if out_of_core not in (True, False, "auto"):
            raise DataError(f"data.source.out_of_core must be true, false or auto, got {out_of_core!r}.")
        if memory_cap_gb is not None and not memory_cap_gb > 0:
            raise DataError(
                f"data.source.memory_cap_gb must be a positive number of GB, got {memory_cap_gb!r}."
            )
        self.out_of_core = out_of_core
        self.memory_cap_bytes = int(memory_cap_gb * 1e9) if memory_cap_gb is not None else half_of_memory()
        self.data_dir = resolve_data_dir(data_dir)
        self.events_path = self._resolve(events)
        self.labels_path = self._resolve(labels) if labels else None
        self.read_options = dict(read_options or {})
        self.labels_read_options = dict(
            labels_read_options if labels_read_options is not None else self.read_options
        )
        self.categorical = list(categorical or [])
        try:
            self.columns_missing_in_files = ColumnsMissingInFiles(columns_missing_in_files)
        except ValueError:
            choices = " | ".join(choice.value for choice in ColumnsMissingInFiles)
            raise DataError(
                f"data.schema.columns_missing_in_files must be {choices}, got {columns_missing_in_files!r}."
            ) from None

    def _read(self, path: Path, read_options: dict, categorical: list[str] | tuple = ()) -> pd.DataFrame:
        return read_table(path, read_options, categorical, self.columns_missing_in_files)

    def _resolve(self, name: str) -> Path:
        path = Path(name).expanduser()
        return path if path.is_absolute() else self.data_dir / path

    def _check_present(self) -> None:
        missing = [p for p in (self.events_path, self.labels_path) if p is not None and not p.exists()]
        if missing:
            raise DataError(
                f"data file(s) not found: {', '.join(map(str, missing))} (data folder: {self.data_dir}; "
                f"set `data.source.data_dir` or ${DATA_DIR_ENV})."
            )

    def load(self) -> RawTables:
        self._check_present()
        events = self._read(self.events_path, self.read_options, self.categorical)
        labels = self._read(self.labels_path, self.labels_read_options) if self.labels_path else None
        return RawTables(
            events=events,
            events_name=str(self.events_path),
            labels=labels,
            labels_name=str(self.labels_path) if self.labels_path else None,
        )

    def larger_than_memory(self) -> ParquetLog | None:
        """The log to prepare out of core, or None to prepare it in memory (see `out_of_core`)."""
        if self.out_of_core is False:
            return None
        self._check_present()
        if not is_parquet(self.events_path):
            if self.out_of_core is True:
                raise DataError(
                    f"{self.events_path}: data.source.out_of_core=true reads Parquet (a file or a folder of "
                    "files); convert the CSV to Parquet first, or prepare it in memory (out_of_core=false)."
                )
            return None
        if self.out_of_core == "auto":
            rows = sum(part.rows for part in read_parts(self.events_path))
            if rows * IN_MEMORY_BYTES_PER_EVENT <= self.memory_cap_bytes:
                return None
        schema = checked_schema(self.events_path, self.columns_missing_in_files)
        labels = self._read(self.labels_path, self.labels_read_options) if self.labels_path else None
        return ParquetLog(
            events=self.events_path,
            labels=labels,
            labels_name=str(self.labels_path) if self.labels_path else None,
            memory_cap_bytes=self.memory_cap_bytes,
            string_fields=string_columns(schema, self.categorical),
        )

    def fingerprint(self) -> dict:
        self._check_present()
        files = [entry for p in (self.events_path, self.labels_path) if p is not None for entry in digest(p)]
        return {
            "files": files,
            "read_options": self.read_options,
            "labels_read_options": self.labels_read_options,
        }
