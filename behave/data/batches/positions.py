"""Batches of causal passes for a per-event task: every row of a sequence read from ONE forward pass.

A row (sequence s, cutoff c) predicts event c from events 0..c-1. A causal encoder's state at window index
j reads the window's events 0..j only, so one pass over a window of s's events answers every row whose last
history event lies in it: row c reads the state at event c - 1.

    Passes       which pass reads each row of one part (`plan_passes`)
    PositionBatch  the padded passes with (B, T) targets, row indices and the predicted events' known fields
    PositionDataset / PositionDataModule   length-bucketed batches of passes (a batch size counts passes)

Tiling (window W = `sequences.max_len`): a sequence whose rows in the part reach cutoff m is
read by passes k = 0, 1, ...: pass k ends at e_k = m - kW and reads the last min(W, e_k) events before it,
answering the rows with cutoff in (m - (k+1)W, m - kW]. Within a sequence's first W events the state equals
the per-row window's; further on, a row at the start of a tile sees fewer than W events (down to 1).
`keep=first` is refused: every row past the first W events would read the same state (after event W - 1),
blind to the events just before the one it predicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from behave.data.batches.batch import EventBatch
from behave.data.batches.datamodule import EventDataModule
from behave.data.batches.loaders import window_batch
from behave.data.errors import DataError
from behave.data.inputs import RowInputs, known_id
from behave.data.spec import Keep, SequenceSpec


@dataclass(frozen=True)
class Passes:
    """P passes over one part's R rows.

    sequence  (P,) int64 sequence position read by each pass
    end       (P,) int64 the pass reads events before this index (the SequenceStore window's cutoff)
    start     (P,) int64 index of the pass's first event (window index 0)
    row_pass  (R,) int64 the pass that reads each row
    row_index (R,) int64 the window index whose state the row reads: its cutoff - 1 - start
    """

    sequence: np.ndarray
    end: np.ndarray
    start: np.ndarray
    row_pass: np.ndarray
    row_index: np.ndarray

    def __len__(self) -> int:
        return len(self.sequence)

    @property
    def lengths(self) -> np.ndarray:
        """(P,) events each pass reads."""
        return self.end - self.start


def plan_passes(sequence: np.ndarray, cutoff: np.ndarray, max_len: int, keep: Keep = Keep.last) -> Passes:
    """The passes that read every row (sequence[r], cutoff[r]) exactly once (see the module docstring)."""
    sequence, cutoff = np.asarray(sequence, dtype=np.int64), np.asarray(cutoff, dtype=np.int64)
    if max_len < 1:
        raise DataError(f"data.sequences.max_len must be >= 1, got {max_len}")
    if keep != Keep.last:
        raise DataError(
            f"data.sequences.keep={Keep(keep).value}: a per-event row reads the events just before the one "
            "it predicts, so windows keep the last events; set data.sequences.keep=last"
        )
    if len(cutoff) and cutoff.min() < 1:
        raise DataError(f"a per-event row needs at least one event of history; got cutoff {cutoff.min()}")
    empty = np.zeros(0, dtype=np.int64)
    if not len(sequence):
        return Passes(empty, empty, empty, empty, empty)
    reach = np.zeros(sequence.max() + 1, dtype=np.int64)
    np.maximum.at(reach, sequence, cutoff)  # m: the largest cutoff of each sequence's rows
    tile = (reach[sequence] - cutoff) // max_len
    key = sequence * (tile.max() + 1) + tile
    keys, row_pass = np.unique(key, return_inverse=True)
    first_row = np.zeros(len(keys), dtype=np.int64)
    first_row[row_pass[::-1]] = np.arange(len(sequence))[::-1]  # any row of the pass gives its sequence
    pass_sequence = sequence[first_row]
    end = reach[pass_sequence] - tile[first_row] * max_len
    start = np.maximum(end - max_len, 0)
    row_index = cutoff - 1 - start[row_pass]
    if np.any(_repeats(row_pass, row_index, int((end - start).max()))):
        raise DataError("two rows of one part share a sequence and a cutoff; each event is predicted once")
    return Passes(pass_sequence, end, start, row_pass.astype(np.int64), row_index.astype(np.int64))


def _repeats(row_pass: np.ndarray, row_index: np.ndarray, width: int) -> np.ndarray:
    """(R,) True for every row after the first that reads the same (pass, index)."""
    flat = row_pass * width + row_index
    order = np.argsort(flat, kind="stable")
    repeated = np.zeros(len(flat), dtype=bool)
    repeated[order[1:]] = flat[order[1:]] == flat[order[:-1]]
    return repeated


@dataclass(frozen=True)
class PositionBatch:
    """B passes right-padded to T = the longest window; every (B, T) tensor is aligned with the events.

    events   EventBatch of the passes' windows (labels -1, static of the pass's sequence, index = pass)
    targets  (B, T) int64 class index (-1: none or unknown) or float32 target value (0 where none)
    rows     (B, T) int64 index into the part's RowInputs of the row read at that state, -1 where none
    known    (B, T, K) int64 codes of the predicted event's known fields (the row's `known.<field>` ids);
             0 = none or unseen in training

    Example: one pass over events 0..2 of a sequence with rows at cutoffs 2 and 3 (rows 7 and 8) gives
    rows [[-1, 7, 8]]: the state after event 1 predicts event 2, the state after event 2 predicts event 3.
    """

    events: EventBatch
    targets: torch.Tensor
    rows: torch.Tensor
    known: torch.Tensor

    @property
    def real(self) -> torch.Tensor:
        """(B, T) bool, True at the states some row reads."""
        return self.rows >= 0

    def to(self, device: torch.device | str) -> PositionBatch:
        aligned = (getattr(self, name).to(device, non_blocking=True) for name in ALIGNED)
        return PositionBatch(self.events.to(device), *aligned)

    def pin_memory(self) -> PositionBatch:
        """Called by the DataLoader with `pin_memory=True` (GPU training): page-locked copies."""
        return PositionBatch(
            self.events.pin_memory(), *(getattr(self, name).pin_memory() for name in ALIGNED)
        )

    def __len__(self) -> int:
        return len(self.events)


# The PositionBatch tensors aligned with the events' (B, T) grid, after `events`.
ALIGNED = ("targets", "rows", "known")


class PositionDataset:
    """The passes over one part's rows; `__getitems__` (pass indices) makes one `PositionBatch`.

    `known_fields` name the row ids `known.<field>` to read, in the model's order; `float_targets` keeps
    the labels as float values (a time target) instead of class indices.
    """

    def __init__(
        self,
        inputs: RowInputs,
        max_len: int,
        keep: Keep = Keep.last,
        known_fields: Sequence[str] = (),
        float_targets: bool = False,
    ) -> None:
        missing = [f for f in known_fields if known_id(f) not in inputs.ids]
        if missing:
            raise DataError(
                f"task.known names {missing}, but the rows carry no ids {[known_id(f) for f in missing]}"
            )
        beyond = np.asarray(inputs.cutoff) > inputs.events.lengths[inputs.sequence]
        if np.any(beyond):
            raise DataError(f"{int(beyond.sum())} rows have a cutoff past their sequence's last event")
        self.inputs = inputs
        self.max_len = max_len
        self.keep = keep
        self.known = [np.asarray(inputs.ids[known_id(f)], dtype=np.int64) for f in known_fields]
        self.float_targets = float_targets
        self.passes = plan_passes(inputs.sequence, inputs.cutoff, max_len, keep)
        # Rows grouped by pass: rows of pass p are by_pass[first[p]:first[p + 1]].
        self.by_pass = np.argsort(self.passes.row_pass, kind="stable")
        self.first = np.searchsorted(self.passes.row_pass[self.by_pass], np.arange(len(self.passes) + 1))

    def __len__(self) -> int:
        return len(self.passes)

    @property
    def lengths(self) -> np.ndarray:
        """(P,) window lengths, for the bucketing sampler."""
        return self.passes.lengths

    def __getitem__(self, index: int) -> PositionBatch:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> PositionBatch:
        chosen = np.asarray(indices, dtype=np.int64)
        inputs = self.inputs
        # Static inputs are per sequence: any row of the pass gives them (its first).
        events = window_batch(
            inputs.events, self.passes.sequence[chosen], self.passes.end[chosen], self.max_len, self.keep,
            labels=np.full(len(chosen), -1), static=inputs.static[self.by_pass[self.first[chosen]]],
            index=chosen,
        )  # fmt: skip
        counts = self.first[chosen + 1] - self.first[chosen]
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        rows = self.by_pass[np.repeat(self.first[chosen], counts) + within]
        at = (np.repeat(np.arange(len(chosen)), counts), self.passes.row_index[rows])
        shape = tuple(events.tokens.shape)
        row_grid = np.full(shape, -1, dtype=np.int64)
        row_grid[at] = rows
        targets = np.zeros(shape, np.float32) if self.float_targets else np.full(shape, -1, np.int64)
        targets[at] = np.asarray(inputs.labels)[rows]
        known = np.zeros((*shape, len(self.known)), dtype=np.int64)
        for k, codes in enumerate(self.known):
            known[(*at, k)] = codes[rows]
        return PositionBatch(
            events, torch.from_numpy(targets), torch.from_numpy(row_grid), torch.from_numpy(known)
        )


class PositionDataModule(EventDataModule):
    """The train and val passes of a per-event task: EventDataModule's bucketed loaders over passes (every
    row of a pass trains in every epoch: the rows of one sequence have different targets)."""

    def __init__(
        self,
        train: RowInputs,
        val: RowInputs,
        sequences: SequenceSpec,
        batch_size: int = 64,
        eval_batch_size: int = 1024,
        seed: int = 0,
        known_fields: Sequence[str] = (),
        float_targets: bool = False,
    ):
        super().__init__(train, val, sequences, batch_size, eval_batch_size, seed, rows_per_sequence=None)
        self.known_fields = list(known_fields)
        self.float_targets = float_targets
        self.datasets = {}

    def dataset(self, part: str) -> PositionDataset:
        if part not in self.datasets:
            self.datasets[part] = PositionDataset(
                self.parts[part], self.sequences.max_len, self.sequences.keep, self.known_fields,
                self.float_targets,
            )  # fmt: skip
        return self.datasets[part]
