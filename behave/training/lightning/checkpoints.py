"""The best checkpoint of a Lightning fit, restored into its module (classifiers, raters, pretraining)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint


def restore_best(model: pl.LightningModule, callbacks: list) -> None:
    """Load the best checkpoint's weights (safe loading) and remove the checkpoint folder; without a
    checkpoint callback the model stays as training left it."""
    checkpoint = next((c for c in callbacks if isinstance(c, ModelCheckpoint)), None)
    if checkpoint is None or not checkpoint.best_model_path:
        return
    state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["state_dict"])
    shutil.rmtree(Path(checkpoint.best_model_path).parent, ignore_errors=True)
