"""Neural runs that survive being killed: a `last` checkpoint every epoch with the whole training state,
and a rerun of the same command in the same run folder resumes from it.

The checkpoint holds what Lightning keeps (weights, optimizer, scheduler, loop progress, early-stopping and
best-checkpoint state) plus, through `RandomState`, torch's random state; the
bucketing sampler draws each epoch's batches from (seed, epoch number), so a resumed epoch sees the batches
the uninterrupted run would have. A `last` checkpoint is only resumed for the config that wrote it.

Before resuming, every checkpoint in the folder is read weights-only (`behave.run.torch_file`): one that
would run code stops the run and names the file; one that cannot be read (a kill during its write on a
version that wrote in place, a full disk) is reported and the run starts afresh.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from behave.run.checkpoint_folder import CHECKPOINTS
from behave.run.torch_file import UnreadableTorchFile, read_torch_file

LAST = "last.ckpt"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResumePoint:
    """A killed run's `last` checkpoint, checked safe and whole, and the epoch it saved (0-based)."""

    path: Path
    epoch: int


class RandomState(pl.Callback):
    """Saves and restores torch's random generator (dropout) with the checkpoint: Lightning keeps none.
    behave draws everything else from explicitly seeded NumPy generators."""

    def state_dict(self) -> dict[str, Any]:
        return {"torch": torch.get_rng_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["torch"])


class SamplerEpoch(pl.Callback):
    """Tells the training batch sampler which epoch starts, so its draw depends on the epoch number only."""

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        sampler = getattr(trainer.train_dataloader, "batch_sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(trainer.current_epoch)


def resume_callbacks(run_dir: Path) -> list[pl.Callback]:
    # No monitor and top-1: the latest epoch, whole training state, overwritten each epoch under one name.
    last = ModelCheckpoint(
        dirpath=run_dir / CHECKPOINTS, filename=LAST.removesuffix(".ckpt"), monitor=None, save_top_k=1,
        save_weights_only=False, enable_version_counter=False,
    )  # fmt: skip
    return [last, RandomState(), SamplerEpoch()]


def resume_from(checkpoints: Path) -> ResumePoint | None:
    """Where to resume, if a killed run of this same config left a `last` checkpoint in the run's checkpoint
    folder (`RunContext.checkpoints()`). Raises `UnsafeTorchFile` for a checkpoint that would run code;
    unreadable checkpoints are removed, and the run starts afresh."""
    last = checkpoints / LAST
    if not last.exists():
        return None
    states, unreadable = {}, []
    for path in sorted(checkpoints.glob("*.ckpt")):
        try:
            states[path] = read_torch_file(path)  # UnsafeTorchFile stops the run here
        except UnreadableTorchFile as error:
            unreadable.append(error)
    if unreadable:
        for error in unreadable:
            log.warning("%s", error)
        log.warning("%s: starting this run afresh instead of resuming", checkpoints)
        for path in checkpoints.glob("*.ckpt"):
            path.unlink()
        return None
    return ResumePoint(last, int(states[last]["epoch"]))
