"""Callbacks the resume tests use to kill its own training process at the end of an epoch, as a scheduler
or the out-of-memory killer would (SIGKILL: nothing gets to clean up)."""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl
import xgboost as xgb

KILL_AT = "BEHAVE_TEST_KILL_AT_EPOCH"
KILL_AT_ROUND = "BEHAVE_TEST_KILL_AT_ROUND"


class KillAtEpoch(pl.Callback):
    """Kills the process when epoch $BEHAVE_TEST_KILL_AT_EPOCH ends (0-based), before it is checkpointed."""

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        at = os.environ.get(KILL_AT)
        if at is not None and trainer.current_epoch == int(at):
            os.kill(os.getpid(), signal.SIGKILL)


class KillAtRound(xgb.callback.TrainingCallback):
    """Kills the process once the booster holds $BEHAVE_TEST_KILL_AT_ROUND rounds."""

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        at = os.environ.get(KILL_AT_ROUND)
        if at is not None and model.num_boosted_rounds() == int(at):
            os.kill(os.getpid(), signal.SIGKILL)
        return False
