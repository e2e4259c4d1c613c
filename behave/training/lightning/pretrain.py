"""Pretrain an event encoder without labels, save it, and start downstream models from it.

    Objective        what `objective=coles` configures: the slices, the contrastive loss, how long to fit
    pretrain_encoder fit a ContrastivePretrainer on the TRAINING part's sequences (events only, never a
                     label), keep the best encoder by the contrastive loss on held-out training sequences,
                     write encoder.pt (weights only) and encoder.json (sizes, data, objective, scores)
    PretrainRecipe   `task=pretrain model=gru`: pretrains the chosen neural model's encoder; the run folder
                     becomes a pretrained encoder that `pretrain_from=<run>` loads
    EncoderInit      `model.encoder_init`: a downstream model's encoder from a pretrain run, or, with no run
                     given, from a pretraining cached beside the data (one per data, encoder, objective and
                     seed, so a sweep of several pretrained models pretrains once per seed)

Only training-part sequences are pretrained on, so the downstream split's validation and test sequences
stay unseen, and a pretrain run is only accepted for the same prepared data (same split, same vocabulary).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from torch import nn

from behave.data.batches.datamodule import EventDataModule
from behave.data.batches.loaders import LengthBucketBatchSampler, SequenceDataset, keep_batch
from behave.data.errors import DataError
from behave.data.inputs import RowInputs
from behave.data.spec import DatasetSpec
from behave.data.storage.cache import atomic_directory, fingerprint
from behave.data.storage.prepared import PreparedDataset
from behave.models.contrastive import ContrastivePretrainer, Objective, slice_batch, slice_retrieval
from behave.models.encoder import EventEncoder
from behave.models.sequence_classifier import factory_config
from behave.run.board import TensorBoard
from behave.run.torch_file import read_torch_file
from behave.tasks.dataset import TaskDataset
from behave.tasks.metric_registry import monitor_mode
from behave.training.lightning.fit import fit_module, save_weights, start
from behave.training.lightning.progress import EpochLine
from behave.training.recipe import Fitted, RunContext

ENCODER_WEIGHTS = "encoder.pt"
ENCODER_RECORD = "encoder.json"
# What selects the kept encoder and stops pretraining: the contrastive loss on held-out training sequences
# (`ContrastivePretrainer` logs it as `val/selection` too, the name the callbacks watch).
SELECTION_METRIC = "val/loss"


def sequence_inputs(base: PreparedDataset, sequences: np.ndarray) -> RowInputs:
    """Whole sequences as rows, with no label (-1): what pretraining reads."""
    import pandas as pd

    sequences = np.asarray(sequences, dtype=np.int64)
    return RowInputs(
        events=base.events,
        sequence=sequences,
        cutoff=base.log.lengths[sequences].astype(np.int64),
        labels=np.full(len(sequences), -1, dtype=np.int64),
        static=base.static[sequences],
        feature_source=pd.DataFrame(index=range(len(sequences))),
        sequence_ids=base.log.sequence_ids[sequences],
    )


def encoder_sizes(base: PreparedDataset) -> dict:
    return {
        "vocab_size": base.vocab_size,
        "n_numeric": base.n_numeric,
        "field_sizes": list(base.pipeline.event_fields.sizes),
    }


def pretrain_encoder(
    base: PreparedDataset,
    encoder: Callable[..., EventEncoder],
    objective: Objective,
    seed: int,
    out_dir: Path,
    make_trainer: Callable[..., pl.Trainer],
    board: TensorBoard | None = None,
) -> dict:
    """Fit the encoder on the training part's sequences; write encoder.pt and encoder.json to out_dir.
    `make_trainer` builds the configured trainer (`LightningSettings.trainer`)."""
    start(seed, None)
    sequences = np.sort(np.concatenate([base.split.part(part) for part in objective.parts]))
    rng = np.random.default_rng([seed, 7])
    order = rng.permutation(sequences)
    n_held = max(1, int(round(objective.val_fraction * len(order))))
    if len(order) - n_held < 2:
        raise DataError(
            f"pretraining needs at least 3 sequences in objective.parts {list(objective.parts)}, "
            f"the split has {len(order)}"
        )
    held, fit_on = np.sort(order[:n_held]), np.sort(order[n_held:])
    datamodule = EventDataModule(
        sequence_inputs(base, fit_on),
        sequence_inputs(base, held),
        base.spec.sequences,
        objective.batch_size,
        objective.eval_batch_size,
        seed,
        None,
    )
    module = ContrastivePretrainer(
        encoder,
        **encoder_sizes(base),
        slices=objective.slices,
        loss=objective.loss,
        optimizer=partial(torch.optim.AdamW, lr=objective.lr, weight_decay=1e-4),
        seed=seed,
    )
    mode = monitor_mode(SELECTION_METRIC)
    checkpoint = ModelCheckpoint(
        dirpath=out_dir / "checkpoints", filename="best", monitor="val/selection", mode=mode,
        save_top_k=1, save_weights_only=True,
    )  # fmt: skip
    callbacks = [
        EarlyStopping(monitor="val/selection", mode=mode, patience=objective.patience),
        checkpoint,
        EpochLine(("train/loss", "val/loss", "val/slice_retrieval")),
    ]
    run = fit_module(
        module, make_trainer, callbacks, board, datamodule=datamodule,
        one_process="self-supervised pretraining", max_epochs=objective.max_epochs, enable_progress_bar=False,
    )  # fmt: skip
    trainer = run.trainer
    save_weights(module.encoder, out_dir / ENCODER_WEIGHTS)
    scores = {
        name: float(value)
        for name, value in trainer.callback_metrics.items()
        if name in ("val/loss", "val/slice_retrieval")
    }
    record = {
        "data_fingerprint": base.fingerprint,
        "sizes": encoder_sizes(base),
        "encoder": factory_config(encoder),
        "objective": objective.describe(),
        "seed": seed,
        "parts": list(objective.parts),
        "train_sequences": int(len(fit_on)),
        "held_out_sequences": int(len(held)),
        "best_val_loss": float(checkpoint.best_model_score)
        if checkpoint.best_model_score is not None
        else None,
        "last_epoch_scores": scores,
        "epochs_trained": int(trainer.current_epoch),
        "fit_seconds": round(run.fit_seconds, 2),
    }
    (out_dir / ENCODER_RECORD).write_text(json.dumps(record, indent=2))
    return record


@torch.no_grad()
def contrastive_scores(
    base: PreparedDataset, encoder: EventEncoder, objective: Objective, sequences: np.ndarray, seed: int
) -> dict[str, float]:
    """The contrastive loss and slice retrieval on `sequences` (e.g. the test part), label-free."""
    encoder.eval()
    dataset = SequenceDataset(
        sequence_inputs(base, sequences), base.spec.sequences.max_len, base.spec.sequences.keep
    )
    sampler = LengthBucketBatchSampler(dataset.lengths, objective.eval_batch_size, shuffle=False)
    generator = torch.Generator().manual_seed(seed + 2)
    totals = np.zeros(3)
    for indices in sampler:
        batch = keep_batch(dataset.__getitems__(indices))
        sliced, owner = slice_batch(batch, objective.slices, generator)
        vectors = torch.nn.functional.normalize(encoder(sliced), dim=-1)
        totals += [
            float(objective.loss(vectors, owner)) * len(batch),
            float(slice_retrieval(vectors, owner)) * len(batch),
            len(batch),
        ]
    return {"loss": totals[0] / totals[2], "slice_retrieval": totals[1] / totals[2]}


def build_encoder(encoder: Callable[..., EventEncoder], sizes: dict) -> EventEncoder:
    return encoder(
        vocab_size=sizes["vocab_size"], n_numeric=sizes["n_numeric"], field_sizes=sizes["field_sizes"]
    )


def load_encoder_state(run_dir: Path, base: PreparedDataset, key: str) -> tuple[dict, dict]:
    """(state dict, record) of a pretrained encoder; refused unless pretrained on this prepared data."""
    weights, record_path = run_dir / ENCODER_WEIGHTS, run_dir / ENCODER_RECORD
    for path in (weights, record_path):
        if not path.exists():
            raise DataError(f"{key}: {path} does not exist; is {run_dir} a pretrain run (task=pretrain)?")
    record = json.loads(record_path.read_text())
    if record.get("data_fingerprint") != base.fingerprint:
        raise DataError(
            f"{key}: {run_dir} was pretrained on prepared data {record.get('data_fingerprint')}, this run's "
            f"data is {base.fingerprint} (another dataset, split or vocabulary); pretrain again with the "
            "same data settings, so no validation or test sequence of this split was pretrained on"
        )
    return read_torch_file(weights), record


def load_into(encoder: nn.Module, state: dict, key: str, source: Path) -> None:
    try:
        encoder.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise DataError(
            f"{key}: the encoder pretrained in {source} does not fit this model's encoder ({first}); use the "
            "same model (encoder) settings for pretraining and for the downstream model"
        ) from None


class EncoderInit:
    """Start a downstream model's encoder from a pretrained one.

    run_dir        a pretrain run's folder (`pretrain_from=<run>`); null: pretrain here, cached beside the
                   data under pretrained/<key>/ for this encoder, objective and seed
    freeze_epochs  keep the encoder fixed for the first N epochs of fine-tuning (the head learns first)
    objective      the objective to pretrain with when run_dir is null
    """

    key = "model.encoder_init"

    def __init__(
        self, run_dir: str | None = None, freeze_epochs: int = 0, objective: Objective | None = None
    ):
        self.run_dir = Path(run_dir) if run_dir else None
        self.freeze_epochs = int(freeze_epochs)
        self.objective = objective or Objective()

    def pretrained(
        self, base: PreparedDataset, encoder: Callable[..., EventEncoder], context: RunContext
    ) -> tuple[dict, dict, Path]:
        """(state dict, record, folder) of the encoder to start from, pretraining it if needed."""
        if self.run_dir is not None:
            state, record = load_encoder_state(self.run_dir, base, "pretrain_from")
            return state, record, self.run_dir
        key = fingerprint(
            {"encoder": factory_config(encoder), "objective": self.objective.describe(), "seed": context.seed}
        )
        folder = base.directory / "pretrained" / key
        if not (folder / ENCODER_RECORD).exists():
            with atomic_directory(folder) as temp:
                pretrain_encoder(
                    base, encoder, self.objective, context.seed, temp, context.lightning.trainer,
                    TensorBoard(str(temp)),
                )  # fmt: skip
        state, record = load_encoder_state(folder, base, self.key)
        return state, record, folder

    def apply(
        self,
        model: nn.Module,
        base: PreparedDataset,
        encoder: Callable[..., EventEncoder],
        context: RunContext,
    ) -> dict:
        """Load the pretrained weights into `model.encoder`; the summary goes into the run record."""
        state, record, folder = self.pretrained(base, encoder, context)
        load_into(model.encoder, state, "pretrain_from" if self.run_dir else self.key, folder)
        return {
            "from": str(folder),
            "freeze_epochs": self.freeze_epochs,
            "pretrain_seconds": record.get("fit_seconds"),
            "pretrain_epochs": record.get("epochs_trained"),
            "pretrain_val_loss": record.get("best_val_loss"),
            "pretrain_parts": record.get("parts", ["train"]),
        }


class FreezeEncoder(pl.Callback):
    """Keep the encoder fixed for the first `epochs` epochs, then train it with the head."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        module.encoder.requires_grad_(trainer.current_epoch >= self.epochs)


class PretrainRecipe:
    """`task=pretrain`: pretrain the encoder of the chosen neural model (`model=gru`, `lstm`, ...)."""

    family = "pretraining"
    supported_tasks = frozenset({"pretraining"})

    def __init__(self, encoder: Callable[..., EventEncoder], objective: Objective, name: str) -> None:
        self.encoder = encoder
        self.objective = objective
        self.name = name

    def fit(self, data: TaskDataset, context: RunContext) -> Fitted:
        record = pretrain_encoder(
            data.base, self.encoder, self.objective, context.seed, context.run_dir, context.lightning.trainer,
            context.board,
        )  # fmt: skip
        encoder = build_encoder(self.encoder, record["sizes"])
        encoder.load_state_dict(read_torch_file(context.run_dir / ENCODER_WEIGHTS))
        return Fitted(
            model=encoder,
            n_parameters=int(sum(p.numel() for p in encoder.parameters())),
            embedding_dim=int(encoder.embedding_dim),
            extra={"epochs_trained": record["epochs_trained"], "train_sequences": record["train_sequences"]},
            best_val=record["best_val_loss"],
        )

    def save(self, fitted: Fitted, data: TaskDataset, context: RunContext) -> None:
        """Nothing more: pretraining wrote the encoder and its record (as a cached pretraining does)."""

    def score(self, fitted: Fitted, data: TaskDataset, part: str, context: RunContext) -> dict[str, float]:
        """The contrastive loss and slice retrieval on the part's sequences, label-free."""
        sequences = data.base.split.part(part)
        return contrastive_scores(data.base, fitted.model, self.objective, sequences, context.seed)

    def predict_proba(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        raise DataError(
            f"{run_dir} is a pretrain run: it holds an encoder, not a classifier; fine-tune it with "
            f"model=coles_gru pretrain_from={run_dir}, then predict with that run"
        )
