"""Recipes for the rating task: the dot-product models (Lightning) and the global-mean baseline.

Sizes (users, items), the training mean and the rating range come from the task's `info`, never from YAML.
The dot models save weights-only state dicts, the item embeddings with each item's id, name, group and
training count (`item_embeddings.parquet`, for the report's item map and for reuse in other models), and
the same table in TensorBoard's projector.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from behave.data.inputs import RowInputs
from behave.data.spec import DatasetSpec
from behave.run.embedding_table import ITEM_EMBEDDINGS_FILE, write_embedding_table
from behave.run.record import RATING_RUN_FILE
from behave.run.torch_file import read_torch_file
from behave.tasks.dataset import TaskDataset
from behave.training.lightning.fit import fit_module, save_weights, start
from behave.training.recipe import Fitted, RunContext

WEIGHTS_FILE = "model.pt"
SIZES_FILE = "model_sizes.json"


def rating_tensors(inputs: RowInputs) -> TensorDataset:
    return TensorDataset(
        torch.from_numpy(inputs.ids["user"]),
        torch.from_numpy(inputs.ids["item"]),
        torch.from_numpy(np.asarray(inputs.labels, dtype=np.float32)),
    )


class RatingRecipe:
    supported_tasks = frozenset({"regression"})

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

    def fit(self, data: TaskDataset, context: RunContext) -> Fitted:
        lightning = context.lightning
        start(context.seed, lightning.torch_threads)
        info = data.info
        self.sizes_ = {key: info[key] for key in ("n_users", "n_items", "global_mean", "target_range")}
        model = self.build(self.sizes_)
        train = DataLoader(rating_tensors(data.inputs("train")), batch_size=self.batch_size, shuffle=True)
        val = DataLoader(rating_tensors(data.inputs("val")), batch_size=self.eval_batch_size)
        run = fit_module(
            model, lightning.trainer, lightning.callbacks(), context.board,
            loaders=(train, val), one_process="the rating models",
        )  # fmt: skip
        return Fitted(
            model=model,
            n_parameters=int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
            embedding_dim=int(model.model.users.embedding_dim),
            extra={"epochs_trained": int(run.trainer.current_epoch)},
        )

    def save(self, fitted: Fitted, data: TaskDataset, context: RunContext) -> None:
        save_weights(fitted.model, context.run_dir / WEIGHTS_FILE)
        (context.run_dir / SIZES_FILE).write_text(json.dumps(self.sizes_))
        write_item_embeddings(fitted.model, data.info, context)
        # Whose ratings shaped the item vectors: a classifier reusing them checks its held-out users.
        (context.run_dir / RATING_RUN_FILE).write_text(json.dumps({"train_users": data.info["train_users"]}))

    @torch.no_grad()
    def predict(self, model: pl.LightningModule, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        """(R, 1) predicted ratings."""
        model.eval()
        users, items, _ = rating_tensors(inputs).tensors
        return model(users, items).double().numpy()[:, None]

    def predict_proba(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        sizes = json.loads((Path(run_dir) / SIZES_FILE).read_text())
        model = self.build(sizes)
        model.load_state_dict(read_torch_file(Path(run_dir) / WEIGHTS_FILE))
        return self.predict(model, inputs, spec)


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
