"""LightningDataModule over one task's train and val rows: bucketed loaders, the same rows the trees use."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.accelerators import CUDAAccelerator
from torch.utils.data import DataLoader

from behave.data.batches.loaders import LengthBucketBatchSampler, SequenceDataset, keep_batch
from behave.data.inputs import RowInputs
from behave.data.spec import SequenceSpec


class EventDataModule(pl.LightningDataModule):
    """Loaders for the train and val rows of ONE task (test rows are scored outside Lightning).

    Loaders run in the main process: worker processes slowed 2-core training down.
    """

    def __init__(
        self,
        train: RowInputs,
        val: RowInputs,
        sequences: SequenceSpec,
        batch_size: int = 256,
        eval_batch_size: int = 1024,
        seed: int = 0,
        rows_per_sequence: int | None = None,
    ):
        super().__init__()
        self.parts = {"train": train, "val": val}
        self.sequences = sequences
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        # Training rows drawn per sequence and epoch (None: all of a sequence's rows every epoch).
        self.rows_per_sequence = rows_per_sequence

    def dataset(self, part: str) -> SequenceDataset:
        return SequenceDataset(self.parts[part], self.sequences.max_len, self.sequences.keep)

    def _loader(self, part: str, train: bool) -> DataLoader:
        dataset = self.dataset(part)
        # Under data-parallel training each process builds its loaders after the trainer knows its rank.
        trainer = self.trainer
        rank, world_size = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        sampler = LengthBucketBatchSampler(
            dataset.lengths,
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            groups=dataset.inputs.sequence if train else None,
            per_group=self.rows_per_sequence,
            rank=rank,
            world_size=world_size,
        )
        # Pinned host memory lets a GPU copy each batch asynchronously; on the CPU it would only cost.
        pin = trainer is not None and isinstance(trainer.accelerator, CUDAAccelerator)
        return DataLoader(
            dataset, batch_sampler=sampler, collate_fn=keep_batch, num_workers=0, pin_memory=pin
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)
