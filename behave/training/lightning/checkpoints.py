"""Lightning checkpoints in a run folder: written whole or not at all, read weights-only, and the best one
restored into its module at the end of a fit (classifiers, raters, pretraining)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import ModelCheckpoint

from behave.run.torch_file import read_torch_file, write_torch_file


class RunFolderCheckpointIO(TorchCheckpointIO):
    """How the trainer writes and reads every checkpoint (`trainer.strategy.checkpoint_io`): through
    `behave.run.torch_file`, so a kill mid-write leaves the previous checkpoint whole, and a resumed
    checkpoint never runs code, whatever `weights_only` Lightning asks for."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("storage_options are not supported for checkpoints in a run folder")
        write_torch_file(checkpoint, Path(path))

    def load_checkpoint(self, path, map_location: Any = None, weights_only: bool | None = None) -> dict:
        return read_torch_file(Path(path), map_location if map_location is not None else "cpu")


def restore_best(model: pl.LightningModule, callbacks: list) -> None:
    """Load the best checkpoint's weights (safe loading) and remove the checkpoint folder; without a
    checkpoint callback the model stays as training left it."""
    checkpoint = next((c for c in callbacks if isinstance(c, ModelCheckpoint)), None)
    if checkpoint is None or not checkpoint.best_model_path:
        return
    state = read_torch_file(checkpoint.best_model_path)
    model.load_state_dict(state["state_dict"])
    shutil.rmtree(Path(checkpoint.best_model_path).parent, ignore_errors=True)
