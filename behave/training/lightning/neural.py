"""The neural family's recipe: build the SequenceClassifier with sizes from data, fit it with Lightning,
restore the best checkpoint, predict, and leave the embeddings for the projector and the report."""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch

from behave.data.batches.datamodule import EventDataModule
from behave.data.batches.loaders import LengthBucketBatchSampler, SequenceDataset, keep_batch
from behave.data.errors import DataError
from behave.data.inputs import RowInputs
from behave.data.spec import DatasetSpec
from behave.data.transforms.vocabulary import Vocabulary
from behave.explain.summary import Explanation, event_explanation
from behave.run.embedding_table import TOKEN_EMBEDDINGS_FILE, write_embedding_table
from behave.run.torch_file import read_torch_file
from behave.tasks.dataset import TaskDataset
from behave.training.lightning.fit import fit_module, fit_plan, save_weights, start
from behave.training.lightning.pretrain import EncoderInit, FreezeEncoder
from behave.training.lightning.processes import EpochCount, epochs_trained
from behave.training.lightning.transfer import TokenInit
from behave.training.recipe import BudgetUnit, Fitted, RunContext

WEIGHTS_FILE = "model.pt"
SIZES_FILE = "model_sizes.json"


class NeuralRecipe:
    supported_tasks = frozenset({"classification"})
    budget_unit = BudgetUnit.epochs

    def __init__(
        self,
        module: partial,
        name: str = "rnn",
        family: str = "neural",
        batch_size: int = 256,
        eval_batch_size: int = 1024,
        rows_per_sequence: int | None = 1,
        token_init: TokenInit | None = None,
        encoder_init: EncoderInit | None = None,
    ) -> None:
        self.module = module
        self.name = name
        self.family = family
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.rows_per_sequence = rows_per_sequence
        self.token_init = token_init
        self.encoder_init = encoder_init

    def build(self, sizes: dict) -> pl.LightningModule:
        return self.module(**sizes)

    def fit(self, data: TaskDataset, context: RunContext) -> Fitted:
        lightning = context.lightning
        settings = start(context.seed, lightning.torch_threads)
        val = data.inputs("val")
        datamodule = EventDataModule(
            data.inputs("train"),
            val,
            data.spec.sequences,
            self.batch_size,
            self.eval_batch_size,
            context.seed,
            self.rows_per_sequence,
        )
        self.sizes_ = {
            "vocab_size": data.vocab_size,
            "n_numeric": data.n_numeric,
            "n_static": data.n_static,
            "num_classes": data.num_classes,
            "field_sizes": data.base.pipeline.event_fields.sizes,
        }
        model = self.build(self.sizes_)
        extra = {}
        if self.token_init is not None:
            tokens = model.encoder.tokens
            if not isinstance(getattr(tokens, "embedding", None), torch.nn.Embedding):
                raise DataError("model.token_init needs learned token embeddings, not one-hot tokens")
            extra["token_init"] = self.token_init.apply(tokens.embedding, data.base.pipeline.vocabulary, data)
        plan = fit_plan(context, [settings, EpochCount()], len(val))
        setup_seconds = 0.0
        if self.encoder_init is not None:
            started = time.perf_counter()
            extra["encoder_init"] = self.encoder_init.apply(
                model, data.base, self.module.keywords["encoder"], context
            )
            setup_seconds = time.perf_counter() - started
            if self.encoder_init.freeze_epochs > 0:
                plan.callbacks.append(FreezeEncoder(self.encoder_init.freeze_epochs))
        run = fit_module(
            model, lightning.trainer, plan.callbacks, context.board,
            datamodule=datamodule, resume=plan.resume, val_rows=len(val), **plan.overrides,
        )  # fmt: skip
        if run.resumed_at_epoch is not None:
            extra["resumed_at_epoch"] = run.resumed_at_epoch
        return Fitted(
            model=model,
            n_parameters=int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
            embedding_dim=int(model.encoder.embedding_dim),
            extra={"epochs_trained": epochs_trained(run.trainer), **extra},
            setup_seconds=setup_seconds,
            curve=plan.selection_curve(),
        )

    def save(self, fitted: Fitted, data: TaskDataset, context: RunContext) -> None:
        save_sized_weights(fitted.model, self.sizes_, context.run_dir)
        write_embeddings(fitted.model, data.base.pipeline.vocabulary, context)

    def predict(self, model: pl.LightningModule, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        return predict_rows(model, inputs, spec, self.eval_batch_size)

    def load_model(self, run_dir: Path) -> pl.LightningModule:
        return load_sized_model(self.build, run_dir)

    def predict_proba(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        return self.predict(self.load_model(run_dir), inputs, spec)

    def explain(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> Explanation:
        """Integrated gradients per event of every row (its events up to its cutoff, as the model saw)."""
        return event_explanation(self.load_model(run_dir), inputs, spec)


def save_sized_weights(model: pl.LightningModule, sizes: dict, run_dir: Path) -> None:
    """The best weights, once, as a weights-only state dict (the checkpoint folder is removed), and the sizes
    from data the model was built with."""
    save_weights(model, run_dir / WEIGHTS_FILE)
    (run_dir / SIZES_FILE).write_text(json.dumps(sizes))


def load_sized_model(build, run_dir: Path) -> pl.LightningModule:
    """The model `save_sized_weights` wrote: `build(sizes)` with its weights loaded."""
    model = build(json.loads((Path(run_dir) / SIZES_FILE).read_text()))
    model.load_state_dict(read_torch_file(Path(run_dir) / WEIGHTS_FILE))
    return model


@torch.no_grad()
def predict_rows(model, inputs: RowInputs, spec: DatasetSpec, batch_size: int) -> np.ndarray:
    """(R, C) probabilities for the rows of `inputs`, in their order, batched by length for speed."""
    model.eval()
    dataset = SequenceDataset(inputs, spec.sequences.max_len, spec.sequences.keep)
    sampler = LengthBucketBatchSampler(dataset.lengths, batch_size, shuffle=False)
    out = None
    for indices in sampler:
        batch = keep_batch(dataset.__getitems__(indices))
        probs = model.predict_proba(batch).cpu().numpy()
        if out is None:
            out = np.zeros((len(inputs), probs.shape[1]), dtype=np.float64)
        out[batch.index.numpy()] = probs
    return out


def write_embeddings(model, vocabulary: Vocabulary, context: RunContext) -> None:
    """Token embeddings for the TensorBoard projector (with metadata) and for the report's PCA map."""
    weights = model.encoder.tokens.token_vectors().detach().cpu().numpy()
    first_field = vocabulary.spec.fields[0]
    field0 = [parts.get(first_field, token) for token, parts in zip(vocabulary.tokens_, vocabulary.parts_)]
    # The second field splits a dominant first value in the report's map (page views by page type).
    second_field = vocabulary.spec.fields[1] if len(vocabulary.spec.fields) > 1 else None
    field1 = [parts.get(second_field, "") for parts in vocabulary.parts_]
    table = pd.DataFrame(
        {
            "token": vocabulary.tokens_,
            "field0": field0,
            "field1": field1,
            "train_freq": vocabulary.frequencies_,
        }
    )
    write_embedding_table(context.run_dir / TOKEN_EMBEDDINGS_FILE, table, weights)
    if context.board is not None:
        metadata = [[t, f, str(n)] for t, f, n in zip(vocabulary.tokens_, field0, vocabulary.frequencies_)]
        context.board.add_embedding(
            "token_embeddings", weights, metadata, ["token", first_field, "train_freq"]
        )
