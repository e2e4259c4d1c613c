"""A callback the resume test uses to kill its own training process at the end of an epoch, as a scheduler
or the out-of-memory killer would (SIGKILL: nothing gets to clean up)."""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl

KILL_AT = "BEHAVE_TEST_KILL_AT_EPOCH"


class KillAtEpoch(pl.Callback):
    """Kills the process when epoch $BEHAVE_TEST_KILL_AT_EPOCH ends (0-based), before it is checkpointed."""

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        at = os.environ.get(KILL_AT)
        if at is not None and trainer.current_epoch == int(at):
            os.kill(os.getpid(), signal.SIGKILL)
