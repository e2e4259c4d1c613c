"""The files of a Parquet log, read from their footers and checked against each other before any row is read.

A partitioned export (a folder of Parquet files) can drift: a later file gains or loses a column. Arrow's
dataset reader takes the first file's columns and silently drops or empties the rest, so a column could go
missing for part of the log without a word. Here every file's footer is read once: an unreadable file
(a truncated copy) and a column that some files lack are errors naming the file and the column, unless
`data.schema.columns_missing_in_files=empty` accepts the latter with a warning naming the files and the
share of events affected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset
import pyarrow.parquet

from behave.data.errors import DataError
from behave.data.spec import ColumnsMissingInFiles

log = logging.getLogger(__name__)

SWITCH = "data.schema.columns_missing_in_files"


@dataclass(frozen=True)
class ParquetPart:
    """One file of a Parquet log: its path, its number of rows and its columns (from its footer)."""

    path: str
    rows: int
    schema: pa.Schema


def parquet_files(path: Path) -> list[str]:
    """The data files of a Parquet file or folder, as Arrow's dataset reader lists them (names starting with
    '.' or '_' skipped), sorted. Given an empty schema, the reader lists files without opening any."""
    if not path.is_dir():
        return [str(path)]
    return sorted(pyarrow.dataset.dataset(path, format="parquet", schema=pa.schema([])).files)


def read_parts(path: Path) -> list[ParquetPart]:
    """Every file's footer; a DataError naming the first file that is not a readable Parquet file."""
    parts = []
    for file in parquet_files(path):
        try:
            footer = pyarrow.parquet.read_metadata(file)
        except (pa.ArrowException, OSError) as error:
            raise DataError(
                f"{file}: not a readable Parquet file (truncated copy?): {str(error).rstrip('.')}. Copy it "
                f"again, or move it out of {path}."
            ) from None
        parts.append(ParquetPart(file, footer.num_rows, footer.schema.to_arrow_schema()))
    if not parts:
        raise DataError(f"{path}: the folder holds no Parquet files.")
    return parts


def checked_schema(path: Path, policy: ColumnsMissingInFiles | str) -> pa.Schema:
    """The columns of the whole log (every file's, types unified), after checking that every file holds
    every column, or, under `policy=empty`, warning about the files that lack one."""
    parts = read_parts(path)
    lacking = files_lacking(parts)
    if lacking and ColumnsMissingInFiles(policy) == ColumnsMissingInFiles.error:
        raise DataError(_disagreement(path, parts, lacking))
    for column, files in lacking.items():
        log.warning(_accepted(path, parts, column, files))
    return unified_schema(path, parts)


def files_lacking(parts: list[ParquetPart]) -> dict[str, list[ParquetPart]]:
    """For each column that some files hold and others do not: the files without it."""
    columns = dict.fromkeys(name for part in parts for name in part.schema.names)
    lacking = {column: [part for part in parts if column not in part.schema.names] for column in columns}
    return {column: files for column, files in lacking.items() if files}


def unified_schema(path: Path, parts: list[ParquetPart]) -> pa.Schema:
    """One schema holding every file's columns; a DataError naming the column when two files give it
    types that do not combine."""
    try:
        return pa.unify_schemas([part.schema for part in parts], promote_options="permissive")
    except (pa.ArrowException, TypeError) as error:
        raise DataError(
            f"{path}: the files of this Parquet folder store a column with types that do not combine "
            f"({error}); write it with one type in every file."
        ) from None


def log_schema(path: Path, dictionaries: list[str] | tuple = ()) -> pa.Schema:
    """The schema to read a (checked) Parquet log with: every file's columns, not the first file's, and the
    string columns `dictionaries` typed as the dictionaries Arrow reads them as."""
    return as_dictionaries(unified_schema(path, read_parts(path)), dictionaries)


def as_dictionaries(schema: pa.Schema, names: list[str] | tuple) -> pa.Schema:
    """`schema` with the string columns `names` typed as dictionaries (Parquet's dictionary encoding)."""
    for name in names:
        index = schema.get_field_index(name)
        schema = schema.set(index, schema.field(index).with_type(pa.dictionary(pa.int32(), pa.string())))
    return schema


def _disagreement(path: Path, parts: list[ParquetPart], lacking: dict[str, list[ParquetPart]]) -> str:
    column, files = next(iter(lacking.items()))
    more = f" (and {len(lacking) - 1} more column(s): {list(lacking)[1:6]})" if len(lacking) > 1 else ""
    others = len(parts) - len(files)
    return (
        f"{files[0].path}: column '{column}' is missing from this file, while {others} other file(s) of the "
        f"Parquet folder {path} have it{more}; {_listed(files)} lack it. The files of one log must hold the "
        f"same columns: fix the export, or read the cells of files without a column as empty with "
        f"{SWITCH}=empty."
    )


def _accepted(path: Path, parts: list[ParquetPart], column: str, files: list[ParquetPart]) -> str:
    total, affected = sum(part.rows for part in parts), sum(part.rows for part in files)
    share = affected / total if total else 0.0
    return (
        f"{path}: column '{column}' is missing from {_listed(files)}: {share:.1%} of the events "
        f"({affected:,} of {total:,}) read it as empty ({SWITCH}=empty)."
    )


def _listed(files: list[ParquetPart], limit: int = 5) -> str:
    names = ", ".join(Path(part.path).name for part in files[:limit])
    more = f" and {len(files) - limit} more" if len(files) > limit else ""
    return f"{len(files)} file(s) ({names}{more})"
