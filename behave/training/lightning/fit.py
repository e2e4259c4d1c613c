"""The one Lightning fit of the classifiers, the rating models and pretraining.

start        seed everything (model initialisation, data order) and set up this process; first, before
             the module is built, so a seed draws the same weights and batches wherever it is used
fit_module   the configured trainer with the given callbacks and the run's TensorBoard; fit (resuming
             from a killed run's `last` checkpoint when one is given); the best checkpoint restored
save_weights the kept weights as a weights-only state dict (checkpoint folders are removed)
fit_plan     the callbacks, overrides and resume point of a classifier's fit: resumable without a `Budget`;
             given one, exactly its epochs, no early stopping or checkpoint (the last weights are kept),
             the monitor recorded after each validation epoch (`MonitorCurve`)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from torch import nn

from behave.data.errors import DataError
from behave.models.sequence_classifier import SELECTION
from behave.run.torch_file import write_torch_file
from behave.tasks.metric_registry import monitor_mode
from behave.training.lightning.board import BoardLogger
from behave.training.lightning.checkpoints import RunFolderCheckpointIO, restore_best
from behave.training.lightning.processes import ProcessSettings, log_device, refuse_data_parallel
from behave.training.lightning.resume import ResumePoint, resume_callbacks, resume_from
from behave.training.recipe import RunContext, SelectionCurve


def start(seed: int, torch_threads: int | None) -> ProcessSettings:
    """Seed and set up this process; the settings also go to the trainer for processes it spawns."""
    pl.seed_everything(seed, workers=True, verbose=False)
    settings = ProcessSettings(torch_threads)
    settings.setup(None, None, "fit")  # this process predicts after the fit: same settings
    return settings


@dataclass
class LightningFit:
    trainer: pl.Trainer
    fit_seconds: float
    resumed_at_epoch: int | None = None  # 0-based: the first epoch trained again


def fit_module(
    module: pl.LightningModule,
    make_trainer,
    callbacks: list,
    board: Any = None,
    *,
    datamodule: pl.LightningDataModule | None = None,
    loaders: tuple = (),
    resume: ResumePoint | None = None,
    val_rows: int | None = None,
    one_process: str | None = None,
    **trainer_overrides,
) -> LightningFit:
    """Fit `module` on `datamodule` (or train/val `loaders`) with a trainer from `make_trainer`, then restore
    its best checkpoint. `val_rows`: how many validation rows the processes share out; `one_process`: what
    trains, for modules that cannot share rows out by rank (refused if the trainer starts several)."""
    logger = BoardLogger(board) if board is not None else False
    trainer = make_trainer(logger=logger, callbacks=callbacks, **trainer_overrides)
    trainer.strategy.checkpoint_io = RunFolderCheckpointIO()  # whole files, read weights-only
    if one_process is not None:
        refuse_data_parallel(trainer, one_process)
    else:
        log_device(trainer)
        # A process with no validation rows would wait forever for the others at the metric gather.
        if val_rows is not None and 1 < trainer.world_size > val_rows:
            raise DataError(
                f"trainer.devices: {trainer.world_size} processes would share {val_rows} validation rows; "
                "use fewer processes"
            )
    resumed_at = resume.epoch + 1 if resume is not None else None
    started = time.perf_counter()
    if datamodule is not None:
        ckpt_path = resume.path if resume is not None else None
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    else:
        trainer.fit(module, *loaders)
    fit_seconds = time.perf_counter() - started
    restore_best(module, callbacks)
    return LightningFit(trainer, fit_seconds, resumed_at)


def save_weights(module: nn.Module, path: Path) -> None:
    write_torch_file(module.state_dict(), path)


class MonitorCurve(pl.Callback):
    """The monitor after each validation epoch, and `val/selection` (what the checkpoint keeps: the
    monitor, ties broken by the loss): the selection curve of a fit given a `Budget`."""

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor
        self.values: list[float] = []
        self.selection: list[float] = []

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        for name, values in ((self.monitor, self.values), (SELECTION, self.selection)):
            value = trainer.callback_metrics.get(name)
            values.append(float(value) if value is not None else float("nan"))

    def curve(self) -> SelectionCurve | None:
        if not self.values:
            return None
        return SelectionCurve(
            self.monitor, np.asarray(self.values), SELECTION, np.asarray(self.selection),
            monitor_mode(self.monitor),
        )  # fmt: skip


@dataclass
class FitPlan:
    """What one classifier fit hands `fit_module`: its callbacks, trainer overrides and resume point, and
    the selection curve it records when given a `Budget`."""

    callbacks: list
    overrides: dict
    resume: ResumePoint | None = None
    curve: MonitorCurve | None = None

    def selection_curve(self) -> SelectionCurve | None:
        return self.curve.curve() if self.curve is not None else None


def fit_plan(context: RunContext, own: list, val_rows: int) -> FitPlan:
    """The configured callbacks plus the recipe's `own`. Without a budget: the run folder's resumable
    checkpoints too, resumed where a killed run of this config stopped. With one (inner folds and their
    refit: small fits, never resumed): no early stopping and no checkpoints (the last weights are kept),
    `count` epochs (None: the trainer's max_epochs), the monitor recorded after each validation epoch, and
    no validation loop when there are no validation rows (the refit on train+val)."""
    configured = context.lightning.callbacks()
    if context.budget is None:
        callbacks = [*configured, *resume_callbacks(context.run_dir), *own]
        return FitPlan(callbacks, {}, resume=resume_from(context.checkpoints()))
    curve = MonitorCurve(context.monitor)
    kept = [c for c in [*configured, *own] if not isinstance(c, (EarlyStopping, ModelCheckpoint))]
    # enable_checkpointing=False: without our checkpoint callback Lightning would add its own, writing
    # checkpoints into the working folder.
    overrides: dict = {"enable_checkpointing": False}
    if context.budget.count is not None:
        overrides |= {"max_epochs": context.budget.count, "min_epochs": None}
    if val_rows == 0:
        overrides["limit_val_batches"] = 0
    return FitPlan([*kept, curve], overrides, curve=curve)
