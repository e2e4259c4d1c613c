"""What every training process needs set up, the main one and those a data-parallel strategy spawns: torch
threads, denormal flushing and the job's log files. A spawned process starts from a fresh interpreter and
inherits none of the main process's settings, so this runs in `setup`, inside each process."""

from __future__ import annotations

import logging
import warnings

import pytorch_lightning as pl
import torch

from behave.data.errors import DataError

log = logging.getLogger("behave.train")

# Set on import, so in every process that unpickles these callbacks (spawned data-parallel ranks too).
# Lightning notes that our module moves its own batches (EventBatch is a frozen dataclass it cannot
# move) and that it runs without loader workers (deliberate: workers slowed 2-core training down).
warnings.filterwarnings("ignore", message="You have overridden `transfer_batch_to_device`")
warnings.filterwarnings("ignore", message=".*does not have many workers")
warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)")
# The checkpoint folder holds the stamp of the config that may resume from it (training/lightning/resume.py).
warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")


class ProcessSettings(pl.Callback):
    def __init__(self, torch_threads: int | None) -> None:
        self.torch_threads = torch_threads
        # The job's log files (Hydra's <job>.log), reopened by spawned processes so their lines land there.
        root = logging.getLogger()
        self.log_files = [h.baseFilename for h in root.handlers if isinstance(h, logging.FileHandler)]
        self.log_format = next((h.formatter._fmt for h in root.handlers if h.formatter), None)

    def setup(self, trainer: pl.Trainer, module: pl.LightningModule, stage: str) -> None:
        if self.torch_threads:
            torch.set_num_threads(int(self.torch_threads))
        # Gradients flowing back hundreds of steps shrink into denormal floats, which x86 CPUs handle
        # slowly: flushing them to zero trained 1.5-1.75x faster (benchmarks/train_throughput.py).
        torch.set_flush_denormal(True)
        root = logging.getLogger()
        if not root.handlers:  # a spawned process: nothing configured its logging
            formatter = logging.Formatter(self.log_format)
            handlers = [logging.StreamHandler(), *(logging.FileHandler(path) for path in self.log_files)]
            for handler in handlers:
                handler.setFormatter(formatter)
                root.addHandler(handler)
            root.setLevel(logging.INFO)


class EpochCount(pl.Callback):
    """Leaves the number of epochs trained in the trainer's metrics: a spawned data-parallel fit sends those
    back to the main process, whose own trainer never ran an epoch."""

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        trainer.callback_metrics[EPOCHS] = torch.tensor(trainer.current_epoch + 1)


EPOCHS = "trainer/epochs_trained"


def epochs_trained(trainer: pl.Trainer) -> int:
    counted = trainer.callback_metrics.get(EPOCHS)
    return int(counted) if counted is not None else int(trainer.current_epoch)


def log_device(trainer: pl.Trainer) -> None:
    """Which device the trainer chose (`accelerator: auto` says what it found) and how many processes."""
    strategy = trainer.strategy
    log.info(
        "training on %s (%s), %d process%s, precision %s",
        strategy.root_device,
        type(trainer.accelerator).__name__.removesuffix("Accelerator").lower(),
        trainer.world_size,
        "" if trainer.world_size == 1 else "es",
        trainer.precision,
    )


def refuse_data_parallel(trainer: pl.Trainer, what: str) -> None:
    """For modules whose batches and validation metrics are not shared out by rank (yet): one process each
    would train on every row and score only its own, so say so instead of training wrongly."""
    if trainer.world_size > 1:
        raise DataError(
            f"trainer: {what} train in one process; trainer=ddp is for the sequence classifiers "
            "(model=gru, lstm, transformer...). Use the default trainer here."
        )
