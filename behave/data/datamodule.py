"""LightningDataModule over a prepared dataset: bucketed loaders plus the sizes models are built with."""

from __future__ import annotations

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from behave.data.loaders import LengthBucketBatchSampler, SequenceDataset, keep_batch
from behave.data.prepared import PreparedDataset


class EventDataModule(pl.LightningDataModule):
    """Loaders for the train/val/test parts of ONE prepared dataset (the same split the tree models use).

    Sizes for the model come from here (`vocab_size`, `n_numeric`, `n_static`, `num_classes`,
    `feature_names`), never from YAML. Loaders run in the main process: workers slowed 2-core training.
    """

    def __init__(
        self, data: PreparedDataset, batch_size: int = 256, eval_batch_size: int = 1024, seed: int = 0
    ):
        super().__init__()
        self.data = data
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed

    @property
    def vocab_size(self) -> int:
        return self.data.vocab_size

    @property
    def n_numeric(self) -> int:
        return self.data.n_numeric

    @property
    def n_static(self) -> int:
        return self.data.n_static

    @property
    def num_classes(self) -> int:
        return self.data.num_classes

    @property
    def feature_names(self) -> list[str]:
        return self.data.feature_names

    def tabular(self, part: str):
        """(features, labels) of one part: the tree models' view of the same rows."""
        return self.data.tabular(part)

    def dataset(self, part: str) -> SequenceDataset:
        spec = self.data.spec.sequences
        return SequenceDataset(self.data.sequences, self.data.rows(part), spec.max_len, spec.keep)

    def _loader(self, part: str, train: bool) -> DataLoader:
        dataset = self.dataset(part)
        sampler = LengthBucketBatchSampler(
            dataset.lengths, self.batch_size if train else self.eval_batch_size, shuffle=train, seed=self.seed
        )
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=keep_batch, num_workers=0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)
