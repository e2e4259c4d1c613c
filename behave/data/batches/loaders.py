"""Batches for the neural models: a length-bucketing sampler and a dataset that builds `EventBatch`es.

Why bucketing: on skewed lengths (median ~30, tail to 512) random batches were ~89% padding here and
length-bucketed batches trained 7-9x faster. Batches are built in the main process (no workers): worker
processes made 2-core training slower.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from behave.data.batches.batch import EventBatch
from behave.data.inputs import RowInputs
from behave.data.spec import Keep
from behave.data.transforms.sequences import SequenceStore


class LengthBucketBatchSampler(Sampler[list[int]]):
    """Shuffle, cut into chunks of `batch_size * chunk_batches`, sort each chunk by length, cut into
    batches, shuffle the batches. With `shuffle=False` (evaluation) batches are simply sorted by length.
    Each pass draws a new order from (seed, pass number), so training is reproducible for a seed.

    With `groups` (the sequence of each row) and `per_group`, each training pass draws only `per_group`
    rows of every sequence, a new draw each pass. A prefix task gives a sequence one row per prefix length,
    all with its label: seeing all of them in every epoch let a GRU memorise the training sequences within
    one epoch on the simulator (validation loss 1.3 after epoch 1, against 0.60 for the base rate).

    Under data-parallel training (`world_size` processes) every rank draws the same pass and takes every
    `world_size`-th batch of it, the pass padded with its first batches so that every rank takes the same
    number of steps (a rank with one step fewer would wait forever at the others' gradient sync). Evaluation
    shares rows instead, every `world_size`-th in length order, with no padding: metrics are computed once
    over all ranks' rows, and a row counted twice would bias them.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        chunk_batches: int = 50,
        groups: np.ndarray | None = None,
        per_group: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not one of the {world_size} ranks")
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.chunk_batches = chunk_batches
        self.per_group = per_group
        # Drawing applies only when some sequence has more rows than `per_group`; otherwise every pass is
        # exactly the plain one (the sequence task trains as it always did).
        subsample = groups is not None and per_group is not None
        if subsample and np.unique(np.asarray(groups), return_counts=True)[1].max(initial=0) <= per_group:
            subsample = False
        self.groups = np.asarray(groups) if subsample else None
        self.passes = 0
        self.rank, self.world_size = rank, world_size

    def set_epoch(self, epoch: int) -> None:
        """Draw the next pass from (seed, epoch): a run resumed at epoch k sees the batches it would have."""
        self.passes = epoch

    @property
    def n_rows(self) -> int:
        """Rows one training pass yields."""
        if self.groups is None or not self.shuffle:
            return len(self.lengths)
        return int(np.minimum(np.unique(self.groups, return_counts=True)[1], self.per_group).sum())

    def __len__(self) -> int:
        if not self.shuffle:
            return ceil_div(len(self._rows_in_length_order()), self.batch_size)
        return ceil_div(ceil_div(self.n_rows, self.batch_size), self.world_size)

    def _rows_in_length_order(self) -> np.ndarray:
        """This rank's evaluation rows, shortest first."""
        return np.argsort(self.lengths, kind="stable")[self.rank :: self.world_size]

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        """Row indices of one pass, shuffled: all rows, or `per_group` random rows of each group."""
        order = rng.permutation(len(self.lengths))
        if self.groups is None:
            return order
        by_group = order[np.argsort(self.groups[order], kind="stable")]
        first = np.r_[True, self.groups[by_group][1:] != self.groups[by_group][:-1]]
        rank = np.arange(len(by_group)) - np.maximum.accumulate(np.where(first, np.arange(len(by_group)), 0))
        return rng.permutation(by_group[rank < self.per_group])

    def __iter__(self) -> Iterator[list[int]]:
        if not self.shuffle:
            order = self._rows_in_length_order()
            yield from (
                order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)
            )
            return
        rng = np.random.default_rng([self.seed, self.passes])
        self.passes += 1
        order = self._draw(rng)
        chunk = self.batch_size * self.chunk_batches
        batches = []
        for start in range(0, len(order), chunk):
            members = order[start : start + chunk]
            members = members[np.argsort(self.lengths[members], kind="stable")]
            batches += [members[i : i + self.batch_size] for i in range(0, len(members), self.batch_size)]
        shuffled = [batches[i] for i in rng.permutation(len(batches))]
        steps = ceil_div(len(shuffled), self.world_size)
        # Cyclic: even a pass of fewer batches than ranks gives every rank its steps.
        dealt = [shuffled[i % len(shuffled)] for i in range(steps * self.world_size)]
        for batch in dealt[self.rank :: self.world_size]:
            yield batch.tolist()


def ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


class SequenceDataset(Dataset):
    """The rows of one `RowInputs` (a split part, or new data); `__getitems__` makes one `EventBatch`.

    Row r reads the first `cutoff[r]` events of its sequence, of which the `max_len` kept by `keep`.
    """

    def __init__(self, inputs: RowInputs, max_len: int, keep: Keep = Keep.last) -> None:
        self.inputs = inputs
        self.max_len = max_len
        self.keep = keep

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def lengths(self) -> np.ndarray:
        """(n,) lengths after truncation, for the bucketing sampler."""
        return np.minimum(self.inputs.cutoff, self.max_len)

    def __getitem__(self, index: int) -> EventBatch:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> EventBatch:
        index = np.asarray(indices, dtype=np.int64)
        inputs = self.inputs
        return window_batch(
            inputs.events, inputs.sequence[index], inputs.cutoff[index], self.max_len, self.keep,
            labels=inputs.labels[index], static=inputs.static[index], index=index,
        )  # fmt: skip


def window_batch(
    events: SequenceStore,
    sequences: np.ndarray,
    cutoffs: np.ndarray,
    max_len: int,
    keep: Keep,
    labels: np.ndarray,
    static: np.ndarray,
    index: np.ndarray,
) -> EventBatch:
    """The EventBatch of windows (the first `cutoffs[b]` events of `sequences[b]`, `max_len` of them kept
    by `keep`), zero at padding, with each window's label, static inputs and index."""
    positions, lengths = events.window(sequences, cutoffs, max_len, keep)
    real = positions >= 0
    safe = np.where(real, positions, 0)
    tokens = np.where(real, events.tokens[safe], 0)
    numeric = events.numeric[safe] * real[..., None]
    fields = events.fields[safe] * real[..., None]
    return EventBatch(
        tokens=torch.from_numpy(tokens.astype(np.int64)),
        numeric=torch.from_numpy(numeric.astype(np.float32, copy=False)),
        fields=torch.from_numpy(fields.astype(np.int64)),
        lengths=torch.from_numpy(lengths.astype(np.int64)),
        labels=torch.from_numpy(labels.astype(np.int64)),
        static=torch.from_numpy(np.ascontiguousarray(static, dtype=np.float32)),
        index=torch.from_numpy(index),
    )


def keep_batch(batch: EventBatch) -> EventBatch:
    """Collate for a dataset whose `__getitems__` already returns the whole batch."""
    return batch
