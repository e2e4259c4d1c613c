"""LightningModule for a per-event task: a causal EventEncoder reads every position of a pass at once, and
an MLP head over [state after event c - 1, known fields of event c, static inputs] predicts event c.

    value    C logits, cross-entropy        (predictions: softmax probabilities over the classes)
    outcome  1 logit, binary cross-entropy  (predictions: [1 - p, p])
    time     1 value, L1 loss               (predictions: the value, in the task's time unit)

The known fields of the predicted event (the question's skill) join the history state at the head, as Deep
Knowledge Tracing joins the next question: the state reads only past events, the head also what is known
of the event it predicts. The loss and the validation metrics are over the rows (real positions) of a
batch, never its padding. Sizes (vocabulary, classes, known fields' levels, the training target mean) come
from data. No file I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn import Parameter
from torch.optim import AdamW, Optimizer
from torchmetrics import MeanMetric

from behave.data.batches.positions import PositionBatch
from behave.models.embedding_size import resolve_embedding_dim
from behave.models.encoder import EventEncoder
from behave.models.sequence_classifier import SELECTION, factory_config, optimizers
from behave.tasks.metric_registry import LOSS

TARGET_KINDS = ("value", "outcome", "time")
# Per-event tasks select on the model's own loss (the task's monitor), whatever their headline.
MONITOR = f"val/{LOSS}"


class NextEventModel(pl.LightningModule):
    """forward: PositionBatch -> (N, out) for the N rows of the batch, in `batch.rows[batch.real]` order."""

    def __init__(
        self,
        encoder: Callable[..., EventEncoder],
        vocab_size: int,
        n_numeric: int,
        n_static: int,
        target_kind: str,
        num_classes: int = 2,
        known: Mapping[str, int] | None = None,
        field_sizes: Sequence[int] = (),
        known_embedding_dim: int | str = "fourth_root",
        target_offset: float = 0.0,
        target_scale: float = 1.0,
        head_hidden: int = 64,
        head_dropout: float = 0.1,
        optimizer: Callable[[Iterable[Parameter]], Optimizer] | None = None,
        scheduler: Callable | None = None,
    ):
        super().__init__()
        if target_kind not in TARGET_KINDS:
            raise ValueError(f"task.target_kind {target_kind!r} is unknown; valid: {', '.join(TARGET_KINDS)}")
        if target_kind == "value" and num_classes < 2:
            raise ValueError(f"a next value needs >= 2 classes, got {num_classes}")
        self.target_kind = target_kind
        known = dict(known or {})
        self.known_fields = list(known)
        # The encoder's own checks refuse what cannot be causal (a bidirectional RNN, a sequence part given
        # its own `causal`), naming the config key.
        self.encoder = encoder(
            vocab_size=vocab_size, n_numeric=n_numeric, field_sizes=list(field_sizes), causal=True
        )
        self.known = nn.ModuleList(
            nn.Embedding(levels, resolve_embedding_dim(known_embedding_dim, levels), padding_idx=0)
            for levels in known.values()
        )
        width = self.encoder.output_dim + sum(e.embedding_dim for e in self.known) + n_static
        self.head = nn.Sequential(
            nn.Linear(width, head_hidden),
            nn.ReLU(),
            nn.Dropout(head_dropout),
            nn.Linear(head_hidden, num_classes if target_kind == "value" else 1),
        )
        # A time is offset + scale * head: the head starts at the training mean and works in units of it,
        # so the step sizes fit any time unit (seconds or days) and L1 need not walk from zero to the mean.
        if not target_scale > 0:
            raise ValueError(f"target_scale must be > 0, got {target_scale}")
        self.target_offset, self.target_scale = float(target_offset), float(target_scale)
        self.optimizer_factory = optimizer or partial(AdamW, lr=1e-3)
        self.scheduler_factory = scheduler
        # Sums over all of an epoch's validation rows (gathered across processes by compute()).
        self.val_loss = MeanMetric()
        self.val_accuracy = MeanMetric()
        self.save_hyperparameters(
            {
                "vocab_size": vocab_size,
                "n_numeric": n_numeric,
                "n_static": n_static,
                "target_kind": target_kind,
                "num_classes": num_classes,
                "known": {name: int(levels) for name, levels in known.items()},
                "field_sizes": [int(size) for size in field_sizes],
                "known_embedding_dim": known_embedding_dim,
                "target_offset": self.target_offset,
                "target_scale": self.target_scale,
                "head_hidden": head_hidden,
                "head_dropout": head_dropout,
                "embedding_dim": self.encoder.embedding_dim,
                "encoder": factory_config(encoder),
                "optimizer": factory_config(self.optimizer_factory),
                "scheduler": factory_config(scheduler),
            }
        )

    def forward(self, batch: PositionBatch) -> Tensor:
        states = self.encoder(batch.events)  # (B, T, H): state t read events 0..t of the window
        real = batch.real
        parts = [states[real]]
        known = batch.known[real]  # (N, K)
        parts += [embedding(known[:, k]) for k, embedding in enumerate(self.known)]
        static = batch.events.static.to(states.dtype)
        parts.append(static[:, None, :].expand(-1, real.shape[1], -1)[real])
        out = self.head(torch.cat(parts, dim=-1))
        return self.target_offset + self.target_scale * out if self.target_kind == "time" else out

    def row_losses(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """(N,) loss of each row. Time uses L1 in the task's unit: its headline is the MAE, which the median
        minimises, and gaps between events are heavy-tailed, so a squared loss would chase the rare long
        gaps at the expense of the typical one."""
        if self.target_kind == "value":
            return F.cross_entropy(outputs, targets, reduction="none")
        if self.target_kind == "outcome":
            return F.binary_cross_entropy_with_logits(
                outputs[:, 0], targets.to(outputs.dtype), reduction="none"
            )
        return (outputs[:, 0] - targets.to(outputs.dtype)).abs()

    def scored(self, batch: PositionBatch) -> tuple[Tensor, Tensor]:
        """Outputs and targets of the batch's rows that have a target (a class index >= 0 for value and
        outcome: a test row whose value never occurs in training has -1 and no loss)."""
        outputs, targets = self(batch), batch.targets[batch.real]
        if self.target_kind == "time":
            return outputs, targets
        known = targets >= 0
        return outputs[known], targets[known]

    def predictions(self, outputs: Tensor) -> Tensor:
        """(N, C) what the recipe returns: class probabilities, [1 - p, p], or the (N, 1) value."""
        if self.target_kind == "value":
            return torch.softmax(outputs, dim=-1)
        if self.target_kind == "outcome":
            positive = torch.sigmoid(outputs[:, 0])
            return torch.stack([1.0 - positive, positive], dim=-1)
        return outputs

    def correct(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """(N,) 1.0 where the most probable class is the target."""
        if self.target_kind == "value":
            return (outputs.argmax(dim=-1) == targets).float()
        return ((outputs[:, 0] > 0).long() == targets).float()

    def training_step(self, batch: PositionBatch, batch_idx: int) -> Tensor | None:
        outputs, targets = self.scored(batch)
        if not len(targets):  # nothing to learn from: Lightning skips the step
            return None
        loss = self.row_losses(outputs, targets).mean()
        # One point per epoch, weighted by rows (not passes): the mean over the epoch's rows.
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(targets), sync_dist=True)
        return loss

    def validation_step(self, batch: PositionBatch, batch_idx: int) -> None:
        outputs, targets = self.scored(batch)
        if not len(targets):
            return
        self.val_loss.update(self.row_losses(outputs, targets).detach().float())
        if self.target_kind != "time":
            self.val_accuracy.update(self.correct(outputs, targets))

    def on_validation_epoch_start(self) -> None:
        self.val_loss.reset()
        self.val_accuracy.reset()

    def on_validation_epoch_end(self) -> None:
        if not self.val_loss.update_called:
            return
        loss = self.val_loss.compute()
        # The callbacks watch `val/selection`; the loss breaks no tie with itself, so it is the loss.
        logged = {MONITOR: loss, SELECTION: loss}
        if self.val_accuracy.update_called:
            logged["val/accuracy"] = self.val_accuracy.compute()
        self.val_loss.reset()
        self.val_accuracy.reset()
        self.log_dict({name: value.to(self.device) for name, value in logged.items()}, sync_dist=True)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        # Lightning cannot rebuild a frozen dataclass; the batch knows how to move itself.
        if isinstance(batch, PositionBatch):
            return batch.to(device)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def configure_optimizers(self) -> Optimizer | dict[str, Any]:
        return optimizers(self, MONITOR, "min")  # per-event models monitor their loss
