"""Event logs from the user's own CSV or Parquet files (`data=csv`, and the base of the real-data readers)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

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


def read_table(path: Path, read_options: dict[str, Any] | None = None) -> pd.DataFrame:
    """Read a CSV (any compression pandas knows) or Parquet file, turning pandas errors into DataErrors.

    `read_options` go to pandas.read_csv; for Parquet only the few that read_parquet knows are passed on,
    so one data config serves a log whether it comes as CSV or as Parquet.
    """
    options = dict(read_options or {})
    if not path.exists():
        raise DataError(f"{path}: file not found.")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path, **{k: v for k, v in options.items() if k in PARQUET_OPTIONS})
        return pd.read_csv(path, **options)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as error:
        raise DataError(
            f"{path}: cannot be read ({type(error).__name__}: {error}). Check `read_options` "
            "(sep, encoding, ...)."
        ) from None


class FileSource:
    """Events (and optionally labels) from files. Relative paths are resolved against the data folder."""

    def __init__(
        self,
        events: str,
        labels: str | None = None,
        data_dir: str | None = None,
        read_options: dict[str, Any] | None = None,
        labels_read_options: dict[str, Any] | None = None,
    ):
        self.data_dir = resolve_data_dir(data_dir)
        self.events_path = self._resolve(events)
        self.labels_path = self._resolve(labels) if labels else None
        self.read_options = dict(read_options or {})
        self.labels_read_options = dict(
            labels_read_options if labels_read_options is not None else self.read_options
        )

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
        events = read_table(self.events_path, self.read_options)
        labels = read_table(self.labels_path, self.labels_read_options) if self.labels_path else None
        return RawTables(
            events=events,
            events_name=str(self.events_path),
            labels=labels,
            labels_name=str(self.labels_path) if self.labels_path else None,
        )

    def fingerprint(self) -> dict:
        self._check_present()
        files = [file_digest(p) for p in (self.events_path, self.labels_path) if p is not None]
        return {
            "files": files,
            "read_options": self.read_options,
            "labels_read_options": self.labels_read_options,
        }
