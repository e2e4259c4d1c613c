"""A line per epoch where Lightning's progress bar is off (multiruns, logs, CI), under TensorBoard's names."""

from __future__ import annotations

import logging
import time

import pytorch_lightning as pl

log = logging.getLogger("behave.train")


class EpochLine(pl.Callback):
    """`epoch 3/20  train/loss 0.412  val/loss 0.398  val/auroc 0.874  (4.1 s)` when there is no bar."""

    def __init__(self, names: tuple[str, ...] = ("train/loss", "val/loss")) -> None:
        self.names = names
        self.started = time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.progress_bar_callback is not None or trainer.sanity_checking or trainer.global_rank != 0:
            return
        metrics = trainer.callback_metrics
        names = [*self.names, getattr(module, "monitor", "")]
        shown = "  ".join(f"{n} {float(metrics[n]):.4f}" for n in dict.fromkeys(names) if n in metrics)
        seconds = time.perf_counter() - self.started
        log.info("epoch %d/%d  %s  (%.1f s)", trainer.current_epoch + 1, trainer.max_epochs, shown, seconds)
