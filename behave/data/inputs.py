"""`RowInputs`: what both model families read for a set of rows, in ONE row order (the recipe contract).

    events     SequenceStore over the whole log (task-free): row r reads events offsets[s]:offsets[s] + c
    sequence   (R,) int64 sequence position of each row (s)
    cutoff     (R,) int64 events each row may see (c), 1 <= c <= length
    labels     (R,) int64 class index, -1 where unknown (scoring new data)
    static     (R, D) float32 static inputs of the neural head
    features   (R, F) float32 tabular features of each row's events up to its cutoff, read on first use
               (`feature_source`: the frame, or what reads it): the neural family never loads them
    sequence_ids (R,) raw sequence ids, for prediction files
    ids        name -> (R,) int64 indices of the entities a row is about (a rating task's user and item),
               from vocabularies fitted on the training rows; 0 = unseen in training. Empty otherwise.

The neural family reads (events, sequence, cutoff, static); the tree family reads `features`, which the
pipeline built from exactly those events. Neither can see an event past a row's cutoff.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from behave.data.transforms.sequences import SequenceStore

# The per-event task's ids (`RowInputs.ids`), named here once for the task that writes them and the models
# that read them: the level of a known field of the predicted event, and the class of the j-th previous
# target value (j = 1..PREVIOUS_IDS: the Markov baseline's longest context).
KNOWN_ID_PREFIX, PREVIOUS_ID_PREFIX, PREVIOUS_IDS = "known.", "previous.", 3


def known_id(field: str) -> str:
    return f"{KNOWN_ID_PREFIX}{field}"


def previous_id(j: int) -> str:
    return f"{PREVIOUS_ID_PREFIX}{j}"


@dataclass(frozen=True)
class RowInputs:
    events: SequenceStore
    sequence: np.ndarray
    cutoff: np.ndarray
    labels: np.ndarray
    static: np.ndarray
    feature_source: pd.DataFrame | Callable[[], pd.DataFrame]
    sequence_ids: np.ndarray
    ids: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sequence)

    @cached_property
    def features(self) -> pd.DataFrame:
        source = self.feature_source
        return source() if callable(source) else source

    def feature_batches(self, batch_rows: int) -> Iterator[np.ndarray]:
        """`features` as consecutive (n, F) float32 row batches, read batch by batch where the source can
        (a task's feature file), so a table larger than memory is never whole in memory."""
        source = self.feature_source
        # Not a frame: a frame's `batches` attribute would be a feature column of that name.
        reads_batches = not isinstance(source, pd.DataFrame) and hasattr(source, "batches")
        if reads_batches and "features" not in vars(self):
            return source.batches(batch_rows)
        return frame_batches(self.features, batch_rows)


def frame_batches(
    features: pd.DataFrame, batch_rows: int, rows: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """(n, F) float32 batches of a frame's `rows` (all of them by default), in order, each copied alone."""
    rows = np.arange(len(features)) if rows is None else rows
    for start in range(0, len(rows), batch_rows):
        yield features.iloc[rows[start : start + batch_rows]].to_numpy(dtype=np.float32)
