"""The neural family on a per-event task (`task=next`): every row of a sequence trained and scored from one
causal pass (behave/data/batches/positions.py) through NextEventModel.

Built from a neural model's own recipe, so `model=gru` (or lstm, transformer, cnn, bag, flatten) means the
same encoder on either task: the task's YAML holds

    neural_recipe: {_target_: behave.training.lightning.next_event.NextEventRecipe, _partial_: true}

and the task calls it with the configured NeuralRecipe. The encoder, head and optimizer settings are that
recipe's; its batch sizes count passes (sequences), not rows. Sizes come from the task's info: the target
kind, the classes, the known fields' levels and (time) the training mean.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from behave.data.batches.loaders import LengthBucketBatchSampler
from behave.data.batches.positions import PositionDataModule, PositionDataset
from behave.data.errors import DataError
from behave.data.inputs import RowInputs
from behave.data.spec import DatasetSpec, SequenceSpec
from behave.models.next_event import NextEventModel
from behave.tasks.dataset import TaskDataset
from behave.training.lightning.fit import fit_module, fit_plan, start
from behave.training.lightning.neural import (
    NeuralRecipe,
    load_sized_model,
    save_sized_weights,
    write_embeddings,
)
from behave.training.lightning.processes import EpochCount, epochs_trained
from behave.training.recipe import BudgetUnit, Fitted, RunContext

# What the per-event model takes from the neural model's module config; the rest (its monitor, class
# weights of the sequence label) belongs to the sequence classifier.
MODULE_KEYS = ("encoder", "head_hidden", "head_dropout", "optimizer", "scheduler")


class NextEventRecipe:
    supported_tasks = frozenset({"classification", "regression"})
    budget_unit = BudgetUnit.epochs

    def __init__(self, neural_recipe: NeuralRecipe) -> None:
        keywords = dict(getattr(neural_recipe.module, "keywords", {}))
        name = neural_recipe.name
        if "encoder" not in keywords:
            raise DataError(f"model={name}: a per-event task needs an event encoder (model.module.encoder)")
        for setting in ("token_init", "encoder_init"):
            if getattr(neural_recipe, setting, None) is not None:
                raise DataError(
                    f"model={name}: model.{setting} is not supported on a per-event task; set null"
                )
        if keywords.get("class_weights") is not None:
            raise DataError(
                f"model={name}: model.module.class_weights weighs the sequence label's classes; a per-event "
                "task has its own classes: set it to null"
            )
        self.name = name
        self.family = neural_recipe.family
        self.batch_size = neural_recipe.batch_size
        self.eval_batch_size = neural_recipe.eval_batch_size
        self.module = partial(
            NextEventModel, **{key: keywords[key] for key in MODULE_KEYS if key in keywords}
        )

    def build(self, sizes: dict) -> NextEventModel:
        return self.module(**sizes)

    def fit(self, data: TaskDataset, context: RunContext) -> Fitted:
        lightning = context.lightning
        settings = start(context.seed, lightning.torch_threads)
        self.sizes_ = next_event_sizes(data)
        model = self.build(self.sizes_)
        datamodule = PositionDataModule(
            data.inputs("train"), data.inputs("val"), data.spec.sequences, self.batch_size,
            self.eval_batch_size, context.seed, model.known_fields, float_targets=model.target_kind == "time",
        )  # fmt: skip
        val_rows = len(datamodule.dataset("val"))
        plan = fit_plan(context, [settings, EpochCount()], val_rows)
        run = fit_module(
            model, lightning.trainer, plan.callbacks, context.board, datamodule=datamodule,
            resume=plan.resume, val_rows=val_rows, **plan.overrides,
        )  # fmt: skip
        extra = {"epochs_trained": epochs_trained(run.trainer)}
        if run.resumed_at_epoch is not None:
            extra["resumed_at_epoch"] = run.resumed_at_epoch
        return Fitted(
            model=model,
            n_parameters=int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
            embedding_dim=int(model.encoder.embedding_dim),
            extra=extra,
            curve=plan.selection_curve(),
        )

    def save(self, fitted: Fitted, data: TaskDataset, context: RunContext) -> None:
        save_sized_weights(fitted.model, self.sizes_, context.run_dir)
        write_embeddings(fitted.model, data.base.pipeline.vocabulary, context)

    def predict(self, model: NextEventModel, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        return predict_positions(model, inputs, spec.sequences, self.eval_batch_size)

    def load_model(self, run_dir: Path) -> pl.LightningModule:
        return load_sized_model(self.build, run_dir)

    def predict_proba(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        return self.predict(self.load_model(run_dir), inputs, spec)


def next_event_sizes(data: TaskDataset) -> dict:
    """The model's sizes from the data and the per-event task's info."""
    info = data.info
    kind = info.get("target_kind")
    if kind is None:
        raise DataError(
            f"task={data.task.name} gives no target_kind: this recipe fits per-event tasks (task=next)"
        )
    sizes = {
        "vocab_size": data.vocab_size,
        "n_numeric": data.n_numeric,
        "n_static": data.n_static,
        "field_sizes": [int(size) for size in data.base.pipeline.event_fields.sizes],
        "target_kind": kind,
        "known": {name: int(levels) for name, levels in info.get("known", {}).items()},
    }
    if kind == "value":
        sizes["num_classes"] = int(data.num_classes)
    if kind == "time":
        mean = float(info["train_target_mean"])
        sizes["target_offset"] = mean
        sizes["target_scale"] = mean if mean > 0 else 1.0
    return sizes


@torch.no_grad()
def predict_positions(
    model: NextEventModel, inputs: RowInputs, sequences: SequenceSpec, batch_size: int
) -> np.ndarray:
    """(R, C) predictions for the rows of `inputs`, in their order: `batch_size` passes at a time."""
    model.eval()
    dataset = PositionDataset(
        inputs, sequences.max_len, sequences.keep, model.known_fields,
        float_targets=model.target_kind == "time",
    )  # fmt: skip
    width = model.head[-1].out_features
    out = np.zeros((len(inputs), 2 if model.target_kind == "outcome" else width), dtype=np.float64)
    for passes in LengthBucketBatchSampler(dataset.lengths, batch_size, shuffle=False):
        batch = dataset.__getitems__(passes).to(model.device)
        out[batch.rows[batch.real].cpu().numpy()] = model.predictions(model(batch)).double().cpu().numpy()
    return out
