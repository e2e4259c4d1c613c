"""Self-supervised pretraining of the event encoder by contrastive learning on sub-sequences (CoLES).

Each sequence of a batch gives `n_slices` random contiguous slices; slices of one sequence are positives,
slices of the other sequences in the batch negatives. The encoder (any `EventEncoder` of the stack: GRU,
LSTM, Transformer...) maps each slice to a vector; the loss pulls a sequence's slices together and pushes
other sequences' slices apart. No label is read anywhere here: `EventBatch.labels` is never touched.

    slice_batch       EventBatch of B sequences -> EventBatch of B * n_slices slices, and each slice's owner
    margin_loss       CoLES's loss: squared distance of positives, squared hinge (margin) on negatives
    infonce_loss      softmax over cosine similarities / temperature; the owner's other slices are positives
    ContrastivePretrainer  the LightningModule: encoder -> L2-normalised vectors -> loss
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Parameter
from torch.optim import AdamW, Optimizer

from behave.data.batches.batch import EventBatch
from behave.data.split import PARTS
from behave.models.encoder import EventEncoder
from behave.models.sequence_classifier import factory_config


class LossKind(str, Enum):
    margin = "margin"
    infonce = "infonce"


@dataclass(frozen=True)
class SliceSampler:
    """How the positives are drawn: `n_slices` slices per sequence, each of a length drawn uniformly from
    [min_length, max_length], both capped at the sequence's length (a 3-event sequence gives 3-event
    slices), starting anywhere the slice fits."""

    n_slices: int = 5
    min_length: int = 5
    max_length: int = 20

    def __post_init__(self) -> None:
        if self.n_slices < 2:
            raise ValueError(
                f"objective.slices.n_slices must be >= 2 (positives need a pair), got {self.n_slices}"
            )
        if not 1 <= self.min_length <= self.max_length:
            raise ValueError(
                "objective.slices needs 1 <= min_length <= max_length, "
                f"got {self.min_length}, {self.max_length}"
            )


def slice_batch(
    batch: EventBatch, sampler: SliceSampler, generator: torch.Generator
) -> tuple[EventBatch, Tensor]:
    """(B * n_slices slices, (B * n_slices,) index of each slice's sequence in `batch`).

    Slice j of sequence b starts at start[b, j] and keeps length[b, j] events of b's real (unpadded) events.
    """
    count = sampler.n_slices
    owner = torch.arange(len(batch), device=batch.tokens.device).repeat_interleave(count)
    full = batch.lengths[owner]  # (N,) each slice's sequence length
    low = torch.clamp(full, max=sampler.min_length)
    high = torch.clamp(full, max=sampler.max_length)
    draw = torch.rand(len(owner), generator=generator).to(full.device)
    length = low + torch.floor(draw * (high - low + 1).to(draw.dtype)).long()
    length = torch.minimum(length, high)
    draw = torch.rand(len(owner), generator=generator).to(full.device)
    start = torch.floor(draw * (full - length + 1).to(draw.dtype)).long()
    width = int(length.max())
    offsets = torch.arange(width, device=full.device)
    positions = start[:, None] + offsets[None, :]  # (N, W)
    real = offsets[None, :] < length[:, None]
    positions = torch.where(real, positions, torch.zeros_like(positions))
    rows = owner[:, None].expand_as(positions)
    sliced = EventBatch(
        tokens=batch.tokens[rows, positions] * real,
        numeric=batch.numeric[rows, positions] * real[..., None],
        fields=batch.fields[rows, positions] * real[..., None],
        lengths=length,
        labels=torch.full_like(owner, -1),  # slices carry no label: nothing downstream may read one
        static=batch.static[owner],
        index=owner,
    )
    return sliced, owner


def margin_loss(vectors: Tensor, owner: Tensor, margin: float, hard_negatives: int = 0) -> Tensor:
    """CoLES's contrastive loss on L2-normalised vectors: mean squared distance over positive pairs plus
    mean squared hinge max(0, margin - distance) over negative pairs; with `hard_negatives` k > 0, only
    each slice's k closest negatives count (the rest are mostly beyond the margin and add only zeros)."""
    distance = torch.cdist(vectors, vectors)
    same = owner[:, None] == owner[None, :]
    eye = torch.eye(len(owner), dtype=torch.bool, device=owner.device)
    positive_term = distance[same & ~eye].pow(2).mean()
    if same.all():
        return positive_term
    if hard_negatives > 0:
        k = min(hard_negatives, int((~same).sum(1).min()))
        negatives = distance.masked_fill(same, float("inf")).topk(k, dim=1, largest=False).values
    else:
        negatives = distance[~same]
    return positive_term + F.relu(margin - negatives).pow(2).mean()


def infonce_loss(vectors: Tensor, owner: Tensor, temperature: float) -> Tensor:
    """Multi-positive InfoNCE: each slice's softmax over its similarity to every other slice, the mean
    log-probability of its own sequence's slices."""
    similarity = vectors @ vectors.T / temperature
    eye = torch.eye(len(owner), dtype=torch.bool, device=owner.device)
    similarity = similarity.masked_fill(eye, float("-inf"))
    log_prob = similarity - torch.logsumexp(similarity, dim=1, keepdim=True)
    positive = (owner[:, None] == owner[None, :]) & ~eye
    return -(log_prob.masked_fill(~positive, 0.0).sum(1) / positive.sum(1).clamp(min=1)).mean()


@dataclass(frozen=True)
class ContrastiveLoss:
    kind: LossKind = LossKind.margin
    margin: float = 0.5
    temperature: float = 0.1
    hard_negatives: int = 5

    def __call__(self, vectors: Tensor, owner: Tensor) -> Tensor:
        if LossKind(self.kind) is LossKind.margin:
            return margin_loss(vectors, owner, self.margin, self.hard_negatives)
        return infonce_loss(vectors, owner, self.temperature)


def slice_retrieval(vectors: Tensor, owner: Tensor) -> Tensor:
    """Share of slices whose nearest other slice (cosine) comes from the same sequence: a label-free
    measure of how well the vectors tell sequences apart (chance is about (n_slices - 1) / N)."""
    similarity = vectors @ vectors.T
    similarity.fill_diagonal_(float("-inf"))
    return (owner[similarity.argmax(dim=1)] == owner).float().mean()


@dataclass(frozen=True)
class Objective:
    """A label-free objective (`conf/objective/<name>.yaml`) and how long to fit it.

    parts         the split parts whose sequences' EVENTS are pretrained on (never a label): `[train]`, the
                  default, keeps the comparison fair (no model sees a test sequence before its test);
                  `[train, val, test]` is the transductive setting of the CoLES paper, stated in the report
    val_fraction  share of those sequences held out to select the epoch (the contrastive loss on them)
    """

    name: str = "coles"
    slices: SliceSampler = SliceSampler()
    loss: ContrastiveLoss = ContrastiveLoss()
    batch_size: int = 64
    eval_batch_size: int = 256
    max_epochs: int = 30
    patience: int = 3
    lr: float = 0.002
    val_fraction: float = 0.1
    parts: Sequence[str] = ("train",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(str(part) for part in self.parts))
        if not self.parts or set(self.parts) - set(PARTS):
            raise ValueError(
                f"objective.parts must name split parts of {list(PARTS)}, got {list(self.parts)}"
            )
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"objective.val_fraction must be in (0, 1), got {self.val_fraction}")

    def describe(self) -> dict:
        return {
            "name": self.name,
            "slices": dict(vars(self.slices)),
            "loss": {k: getattr(v, "value", v) for k, v in vars(self.loss).items()},
            "batch_size": self.batch_size,
            "max_epochs": self.max_epochs,
            "patience": self.patience,
            "lr": self.lr,
            "val_fraction": self.val_fraction,
            "parts": list(self.parts),
        }


class ContrastivePretrainer(pl.LightningModule):
    """EventEncoder trained without labels. forward: EventBatch -> (B, D) L2-normalised sequence vectors."""

    def __init__(
        self,
        encoder: Callable[..., EventEncoder],
        vocab_size: int,
        n_numeric: int,
        field_sizes: Iterable[int] = (),
        slices: SliceSampler | None = None,
        loss: ContrastiveLoss | None = None,
        optimizer: Callable[[Iterable[Parameter]], Optimizer] | None = None,
        seed: int = 0,
    ):
        super().__init__()
        self.encoder = encoder(vocab_size=vocab_size, n_numeric=n_numeric, field_sizes=list(field_sizes))
        self.encoder.require_per_sequence("contrastive pretraining")
        self.slices = slices or SliceSampler()
        self.contrastive_loss = loss or ContrastiveLoss()
        self.optimizer_factory = optimizer or partial(AdamW, lr=1e-3)
        self.seed = seed
        self._train_generator = torch.Generator().manual_seed(seed)
        self._val_outputs: list[tuple[float, float, int]] = []  # (loss, retrieval) x rows, rows
        self.save_hyperparameters(
            {
                "vocab_size": vocab_size,
                "n_numeric": n_numeric,
                "field_sizes": [int(size) for size in field_sizes],
                "encoder": factory_config(encoder),
                "slices": dict(vars(self.slices)),
                "loss": {
                    k: (v.value if isinstance(v, Enum) else v) for k, v in vars(self.contrastive_loss).items()
                },
                "optimizer": factory_config(self.optimizer_factory),
            }
        )

    def forward(self, batch: EventBatch) -> Tensor:
        return F.normalize(self.encoder(batch), dim=-1)

    def _slice_step(self, batch: EventBatch, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        sliced, owner = slice_batch(batch, self.slices, generator)
        vectors = self(sliced)
        return self.contrastive_loss(vectors, owner), vectors, owner

    def training_step(self, batch: EventBatch, batch_idx: int) -> Tensor:
        loss, _, _ = self._slice_step(batch, self._train_generator)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(batch))
        return loss

    def on_validation_epoch_start(self) -> None:
        # The same validation slices every epoch, so epochs are compared on the same pairs.
        self._val_generator = torch.Generator().manual_seed(self.seed + 1)
        self._val_outputs.clear()

    def validation_step(self, batch: EventBatch, batch_idx: int) -> None:
        loss, vectors, owner = self._slice_step(batch, self._val_generator)
        self._val_outputs.append(
            (float(loss) * len(batch), float(slice_retrieval(vectors, owner)) * len(batch), len(batch))
        )

    def on_validation_epoch_end(self) -> None:
        if not self._val_outputs:
            return
        loss_sum, retrieval_sum, total = (sum(column) for column in zip(*self._val_outputs))
        loss, retrieval = loss_sum / total, retrieval_sum / total
        self._val_outputs.clear()
        # `val/selection` is what the checkpoint and early stopping callbacks watch (as for classifiers).
        self.log_dict({"val/loss": loss, "val/slice_retrieval": retrieval, "val/selection": loss})

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        if isinstance(batch, EventBatch):
            return batch.to(device)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def configure_optimizers(self) -> Optimizer:
        return self.optimizer_factory(self.parameters())
