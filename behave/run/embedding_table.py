"""Embedding tables: what a run learned per token (or item), for the report's maps and for transfer.

One row per token or item: its descriptive columns (e.g. token, field0, field1, train_freq; an item table
also raw_id and bias), then its vector as dim_0..dim_{D-1} (float32). This module writes and reads them.

    token_embeddings.parquet   a neural classifier's token vectors (training/lightning/neural.py)
    item_embeddings.parquet    a rating model's item vectors (training/lightning/rating.py)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from behave.data.storage.cache import atomic_path

TOKEN_EMBEDDINGS_FILE = "token_embeddings.parquet"
ITEM_EMBEDDINGS_FILE = "item_embeddings.parquet"
DIM_PREFIX = "dim_"


def dim_columns(n_dims: int) -> list[str]:
    return [f"{DIM_PREFIX}{i}" for i in range(n_dims)]


def write_embedding_table(path: Path, described: pd.DataFrame, vectors: np.ndarray) -> Path:
    """`described` (n rows of descriptive columns) beside `vectors` (n, D) as dim_0..dim_{D-1} (atomic)."""
    if len(described) != len(vectors):
        raise ValueError(f"{path}: {len(described)} described rows for {len(vectors)} vectors")
    vectors = np.asarray(vectors).reshape(len(vectors), -1)
    table = pd.concat(
        [described.reset_index(drop=True), pd.DataFrame(vectors, columns=dim_columns(vectors.shape[1]))],
        axis=1,
    )
    with atomic_path(Path(path)) as temp:
        table.to_parquet(temp, index=False)
    return Path(path)


def read_embedding_table(path: Path) -> pd.DataFrame | None:
    """The table as written, or None when the run wrote none."""
    return pd.read_parquet(path) if Path(path).exists() else None


def n_dims(table: pd.DataFrame) -> int:
    return sum(1 for column in table.columns if column.startswith(DIM_PREFIX))


def vectors_of(table: pd.DataFrame, dtype=np.float64) -> np.ndarray:
    """(n, D) the rows' vectors, dim_0 first."""
    return table[dim_columns(n_dims(table))].to_numpy(dtype=dtype)
