"""Event logs from the user's own CSV or Parquet files (`data=csv`, and the base of the real-data readers)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset
import pyarrow.types

from behave.data.cache import file_digest
from behave.data.errors import DataError
from behave.data.event_log import RawTables

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
    path: Path, read_options: dict[str, Any] | None = None, categorical: list[str] | tuple = ()
) -> pd.DataFrame:
    """Read a CSV (any compression pandas knows), a Parquet file or a folder of Parquet files, turning
    pandas errors into DataErrors.

    `read_options` go to pandas.read_csv; for Parquet only the few that read_parquet knows are passed on,
    so one data config serves a log whether it comes as CSV or as Parquet. Parquet string columns named in
    `categorical` are read as categories (Parquet's dictionary encoding kept): each distinct value is held
    and hashed once instead of once per row, which saves memory and validation time on large logs.
    """
    options = dict(read_options or {})
    if not path.exists():
        raise DataError(f"{path}: file not found.")
    try:
        if is_parquet(path):
            parquet = {k: v for k, v in options.items() if k in PARQUET_OPTIONS}
            dictionary = string_columns(path, categorical)
            if dictionary:
                parquet["read_dictionary"] = dictionary
            return pd.read_parquet(path, **parquet)
        return pd.read_csv(path, **options)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as error:
        raise DataError(
            f"{path}: cannot be read ({type(error).__name__}: {error}). Check `read_options` "
            "(sep, encoding, ...)."
        ) from None


def string_columns(path: Path, names: list[str] | tuple) -> list[str]:
    """Those of `names` that the Parquet file or folder stores as strings (numbers are read as they are)."""
    if not names:
        return []
    schema = pyarrow.dataset.dataset(path, format="parquet").schema
    return [
        name
        for name in names
        if name in schema.names
        and (
            pyarrow.types.is_string(schema.field(name).type)
            or pyarrow.types.is_large_string(schema.field(name).type)
        )
    ]


def digest(path: Path) -> list[dict]:
    """Content hashes of a file, or of every file a Parquet folder is read from (the reader's own list)."""
    if path.is_dir():
        return [file_digest(p) for p in sorted(pyarrow.dataset.dataset(path, format="parquet").files)]
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
    ):
        """`categorical`: the log's categorical event fields (the data config passes its schema's), read
        from Parquet as categories."""
        self.data_dir = resolve_data_dir(data_dir)
        self.events_path = self._resolve(events)
        self.labels_path = self._resolve(labels) if labels else None
        self.read_options = dict(read_options or {})
        self.labels_read_options = dict(
            labels_read_options if labels_read_options is not None else self.read_options
        )
        self.categorical = list(categorical or [])

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
        events = read_table(self.events_path, self.read_options, self.categorical)
        labels = read_table(self.labels_path, self.labels_read_options) if self.labels_path else None
        return RawTables(
            events=events,
            events_name=str(self.events_path),
            labels=labels,
            labels_name=str(self.labels_path) if self.labels_path else None,
        )

    def fingerprint(self) -> dict:
        self._check_present()
        files = [entry for p in (self.events_path, self.labels_path) if p is not None for entry in digest(p)]
        return {
            "files": files,
            "read_options": self.read_options,
            "labels_read_options": self.labels_read_options,
        }
