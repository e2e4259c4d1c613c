"""Recipes for the rating task: the dot-product models (Lightning) and the global-mean baseline.

Sizes (users, items), the training mean and the rating range come from the task's `info`, never from YAML.
The dot models save weights-only state dicts, the item embeddings with each item's id, name, group and
training count (`item_embeddings.parquet`, for the report's item map and for reuse in other models), and
the same table in TensorBoard's projector.
"""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader, TensorDataset

from behave.data.inputs import RowInputs
from behave.data.spec import DatasetSpec
from behave.tasks.dataset import TaskDataset
from behave.training.checkpoints import restore_best
from behave.training.embedding_table import ITEM_EMBEDDINGS_FILE, write_embedding_table
from behave.training.lightning_board import BoardLogger
from behave.training.processes import ProcessSettings, refuse_data_parallel
from behave.training.recipe import FitOutcome, RunContext
from behave.training.result import RATING_RUN_FILE

WEIGHTS_FILE = "model.pt"
SIZES_FILE = "model_sizes.json"


def rating_tensors(inputs: RowInputs) -> TensorDataset:
    return TensorDataset(
        torch.from_numpy(inputs.ids["user"]),
        torch.from_numpy(inputs.ids["item"]),
        torch.from_numpy(np.asarray(inputs.labels, dtype=np.float32)),
    )


class RatingRecipe:
    def __init__(
        self,
        module: partial,
        name: str = "dot",
        family: str = "neural",
        batch_size: int = 512,
        eval_batch_size: int = 8192,
    ):
        self.module = module
        self.name = name
        self.family = family
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size

    def build(self, sizes: dict) -> pl.LightningModule:
        return self.module(**sizes)

    def fit(self, data: TaskDataset, context: RunContext) -> FitOutcome:
        pl.seed_everything(context.seed, workers=True, verbose=False)
        ProcessSettings(context.cfg.get("torch_threads")).setup(None, None, "fit")
        info = data.info
        sizes = {key: info[key] for key in ("n_users", "n_items", "global_mean", "target_range")}
        model = self.build(sizes)
        train = DataLoader(rating_tensors(data.inputs("train")), batch_size=self.batch_size, shuffle=True)
        val = DataLoader(rating_tensors(data.inputs("val")), batch_size=self.eval_batch_size)
        callbacks = [instantiate(node) for node in context.cfg.get("callbacks", {}).values() if node]
        logger = BoardLogger(context.board) if context.board is not None else False
        trainer = instantiate(context.cfg.trainer, logger=logger, callbacks=callbacks)
        refuse_data_parallel(trainer, "the rating models")
        started = time.perf_counter()
        trainer.fit(model, train, val)
        fit_seconds = time.perf_counter() - started
        restore_best(model, callbacks)
        torch.save(model.state_dict(), context.run_dir / WEIGHTS_FILE)
        (context.run_dir / SIZES_FILE).write_text(json.dumps(sizes))
        val_inputs = data.inputs("val")
        best_val = data.task.score(val_inputs.labels, self._predict(model, val_inputs))[data.headline]
        started = time.perf_counter()
        test_predictions = self._predict(model, data.inputs("test"))
        predict_seconds = time.perf_counter() - started
        write_item_embeddings(model, info, context)
        # Whose ratings shaped the item vectors: a classifier reusing them checks its held-out users.
        (context.run_dir / RATING_RUN_FILE).write_text(json.dumps({"train_users": info["train_users"]}))
        return FitOutcome(
            test_probs=test_predictions,
            best_val=float(best_val),
            n_parameters=int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
            fit_seconds=fit_seconds,
            predict_seconds=predict_seconds,
            embedding_dim=int(model.model.users.embedding_dim),
            extra={"epochs_trained": int(trainer.current_epoch)},
        )

    @torch.no_grad()
    def _predict(self, model: pl.LightningModule, inputs: RowInputs) -> np.ndarray:
        """(R, 1) predicted ratings."""
        model.eval()
        users, items, _ = rating_tensors(inputs).tensors
        return model(users, items).double().numpy()[:, None]

    def predict_proba(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        sizes = json.loads((Path(run_dir) / SIZES_FILE).read_text())
        model = self.build(sizes)
        model.load_state_dict(torch.load(Path(run_dir) / WEIGHTS_FILE, map_location="cpu", weights_only=True))
        return self._predict(model, inputs)


def write_item_embeddings(model: pl.LightningModule, info: dict, context: RunContext) -> None:
    """item_embeddings.parquet: index, raw id, name, group, training count, bias and dim_* per known item."""
    vectors = model.model.items.weight.detach().cpu().numpy()[1:]  # row 0: unseen items
    items = info["items"]
    table = pd.DataFrame(
        {
            "raw_id": items["raw_id"],
            "token": items.get("label", items["raw_id"]),
            "field0": items.get("group", [""] * len(items["raw_id"])),
            "train_freq": items["train_count"],
        }
    )
    if model.model.item_bias is not None:
        table["bias"] = model.model.item_bias.weight.detach().cpu().numpy()[1:, 0]
    write_embedding_table(context.run_dir / ITEM_EMBEDDINGS_FILE, table, vectors)
    if context.board is not None and vectors.shape[1] > 0:
        metadata = [[t, g, str(n)] for t, g, n in zip(table["token"], table["field0"], table["train_freq"])]
        context.board.add_embedding("item_embeddings", vectors, metadata, ["item", "group", "train_count"])
