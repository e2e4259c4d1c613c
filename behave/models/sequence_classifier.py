"""LightningModule: EventEncoder -> MLP head over [encoding, static] -> logits, with loss and epoch metrics.

Hydra builds it: `encoder`, `optimizer` and `scheduler` arrive as partials (`_partial_: true`); sizes
learned from data (vocab_size, n_numeric, n_static, num_classes, field_sizes) come from the data. Binary tasks
get one logit and BCE, multiclass tasks one logit per class and cross-entropy. No file I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn import Parameter
from torch.optim import AdamW, Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torchmetrics import CatMetric
from torchmetrics.functional import classification as tm

from behave.data.batches.batch import EventBatch
from behave.models.encoder import EventEncoder
from behave.tasks.metric_registry import LOSS, monitor_metric

BINARY_METRICS = ("loss", "auroc", "auprc", "accuracy")
MULTICLASS_METRICS = ("loss", "accuracy", "macro_f1", "macro_auroc")


def metric_names(num_classes: int) -> tuple[str, ...]:
    """Names logged per validation epoch (as `val/<name>`) for a label with num_classes classes."""
    return BINARY_METRICS if num_classes == 2 else MULTICLASS_METRICS


def probabilities(logits: Tensor) -> Tensor:
    """(B, 1) binary logits -> (B, 2) columns [1 - p, p]; (B, C) logits -> (B, C) softmax."""
    if logits.shape[-1] == 1:
        positive = torch.sigmoid(logits[:, 0])
        return torch.stack([1.0 - positive, positive], dim=-1)
    return torch.softmax(logits, dim=-1)


def classification_loss(logits: Tensor, labels: Tensor, class_weights: Tensor | None) -> Tensor:
    """Mean BCE on (B, 1) logits (pos_weight = w[1] / w[0]) or cross-entropy on (B, C) logits (weight = w)."""
    if logits.shape[-1] == 1:
        pos_weight = None if class_weights is None else class_weights[1:] / class_weights[0]
        return F.binary_cross_entropy_with_logits(
            logits[:, 0], labels.to(logits.dtype), pos_weight=pos_weight
        )
    return F.cross_entropy(logits, labels, weight=class_weights)


def classification_metrics(probs: Tensor, labels: Tensor) -> dict[str, Tensor]:
    """Metrics over a whole epoch's (N, C) probabilities and (N,) labels, names as in metric_names()."""
    num_classes = probs.shape[-1]
    if num_classes == 2:
        positive = probs[:, 1]
        return {
            "auroc": tm.binary_auroc(positive, labels),
            "auprc": tm.binary_average_precision(positive, labels),
            "accuracy": tm.binary_accuracy(positive, labels),
        }
    return {
        # torchmetrics defaults multiclass accuracy to macro; accuracy means the share of correct rows.
        "accuracy": tm.multiclass_accuracy(probs, labels, num_classes, average="micro"),
        "macro_f1": tm.multiclass_f1_score(probs, labels, num_classes, average="macro"),
        "macro_auroc": tm.multiclass_auroc(probs, labels, num_classes, average="macro"),
    }


# How much one unit of validation loss counts against the monitored metric in `val/selection`: small enough
# never to reorder two different AUROCs seen in practice, large enough to order epochs that tie.
TIE_BREAK = 1e-6
SELECTION = "val/selection"


def selection_score(monitored: Tensor, loss: Tensor, monitor: str) -> Tensor:
    """The monitored metric with the validation loss as tie-breaker, as `val/selection`, which checkpoints
    and early stopping watch. A validation AUROC that reaches 1.0 in the first epoch would otherwise freeze
    the checkpoint there, however much further the loss (and the calibration) improves."""
    watched = monitor_metric(monitor)
    if watched.name == LOSS:  # the loss breaks no tie with itself
        return monitored
    return monitored + watched.sign * TIE_BREAK * loss


def factory_config(factory: Callable | None) -> dict[str, Any] | None:
    """A partial's target and plain keyword values, for checkpoints that must load with weights_only=True."""
    if factory is None:
        return None
    func = getattr(factory, "func", factory)
    config: dict[str, Any] = {"_target_": f"{func.__module__}.{func.__qualname__}"}
    for key, value in getattr(factory, "keywords", {}).items():
        if isinstance(value, partial):  # a part of the encoder stack, itself a partial
            config[key] = factory_config(value)
        elif isinstance(value, (bool, int, float, str, type(None))):
            config[key] = value
        elif isinstance(value, Sequence) and all(isinstance(item, (bool, int, float, str)) for item in value):
            config[key] = list(value)  # also turns an OmegaConf ListConfig into a plain list
    return config


def optimizers(module: pl.LightningModule, monitor: str, mode: str) -> Optimizer | dict[str, Any]:
    """Lightning's `configure_optimizers` for a module with `optimizer_factory` and `scheduler_factory`: a
    per-epoch schedule, and a plateau schedule that follows `monitor` only in its direction `mode`."""
    optimizer = module.optimizer_factory(module.parameters())
    if module.scheduler_factory is None:
        return optimizer
    scheduler = module.scheduler_factory(optimizer)
    schedule: dict[str, Any] = {"scheduler": scheduler, "interval": "epoch"}
    if isinstance(scheduler, ReduceLROnPlateau):
        if scheduler.mode != mode:
            raise ValueError(
                f"ReduceLROnPlateau has mode={scheduler.mode!r} but monitor {monitor!r} needs mode={mode!r}"
            )
        schedule["monitor"] = monitor
    return {"optimizer": optimizer, "lr_scheduler": schedule}


class SequenceClassifier(pl.LightningModule):
    """Classify event sequences. forward: EventBatch -> (B, 1) binary or (B, C) multiclass logits."""

    def __init__(
        self,
        encoder: Callable[..., EventEncoder],
        vocab_size: int,
        n_numeric: int,
        n_static: int,
        num_classes: int,
        field_sizes: Sequence[int] = (),
        head_hidden: int = 64,
        head_dropout: float = 0.1,
        optimizer: Callable[[Iterable[Parameter]], Optimizer] | None = None,
        scheduler: Callable | None = None,
        class_weights: Sequence[float] | None = None,
        monitor: str = "val/auroc",
    ):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        valid_monitors = [f"val/{name}" for name in metric_names(num_classes)]
        if monitor not in valid_monitors:
            raise ValueError(
                f"monitor {monitor!r} is not logged for {num_classes} classes; valid: {valid_monitors}"
            )
        if class_weights is not None and len(class_weights) != num_classes:
            raise ValueError(f"class_weights has {len(class_weights)} entries for {num_classes} classes")
        self.num_classes = num_classes
        self.monitor = monitor
        self.encoder = encoder(vocab_size=vocab_size, n_numeric=n_numeric, field_sizes=list(field_sizes))
        self.encoder.require_per_sequence("a sequence classifier")
        self.head = nn.Sequential(
            nn.Linear(self.encoder.output_dim + n_static, head_hidden),
            nn.ReLU(),
            nn.Dropout(head_dropout),
            nn.Linear(head_hidden, 1 if num_classes == 2 else num_classes),
        )
        self.optimizer_factory = optimizer or partial(AdamW, lr=1e-3)
        self.scheduler_factory = scheduler
        # Not persistent: a checkpoint's weights must load into a module built with or without class weights.
        weights = None if class_weights is None else torch.tensor([float(w) for w in class_weights])
        self.register_buffer("class_weights", weights, persistent=False)
        # The epoch's validation logits and labels, as metric objects: under data-parallel training each
        # process sees its share of the rows, and compute() gathers every process's rows before scoring.
        self.val_logits = CatMetric(nan_strategy="disable")
        self.val_labels = CatMetric(nan_strategy="disable")
        # An explicit dict of plain values, so checkpoints carry their config and load with weights_only=True.
        self.save_hyperparameters(
            {
                "vocab_size": vocab_size,
                "n_numeric": n_numeric,
                "n_static": n_static,
                "num_classes": num_classes,
                "field_sizes": [int(size) for size in field_sizes],
                "head_hidden": head_hidden,
                "head_dropout": head_dropout,
                "class_weights": None if weights is None else weights.tolist(),
                "monitor": monitor,
                "embedding_dim": self.encoder.embedding_dim,
                "encoder": factory_config(encoder),
                "optimizer": factory_config(self.optimizer_factory),
                "scheduler": factory_config(scheduler),
            }
        )

    @property
    def embedding_dim(self) -> int:
        """The resolved token embedding size (a rule such as `fastai` becomes an int)."""
        return self.encoder.embedding_dim

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @property
    def monitor_mode(self) -> str:
        """`min` for the loss or another lower-is-better metric, else `max` (the metric registry's)."""
        return monitor_metric(self.monitor).direction

    def forward(self, batch: EventBatch) -> Tensor:
        return self.logits_from_inputs(self.encoder.event_inputs(batch), batch)

    def logits_from_inputs(self, inputs: Tensor, batch: EventBatch) -> Tensor:
        """Logits from (B, T, D) per-event inputs (what attribution methods vary) and the batch's masks."""
        encoding = self.encoder.encode_inputs(inputs, batch)
        return self.head(torch.cat([encoding, batch.static.to(encoding.dtype)], dim=-1))

    def predict_proba(self, batch: EventBatch) -> Tensor:
        """(B, C) class probabilities; binary gives C = 2 with columns [1 - p, p]."""
        return probabilities(self(batch))

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        return classification_loss(logits, labels, self.class_weights)

    def training_step(self, batch: EventBatch, batch_idx: int) -> Tensor:
        loss = self.loss(self(batch), batch.labels)
        # One point per epoch under `train/loss`: the tag the tree family logs per boosting round.
        # sync_dist: under data-parallel training, the mean over every process's batches.
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(batch), sync_dist=True)
        return loss

    def validation_step(self, batch: EventBatch, batch_idx: int) -> None:
        self.val_logits.update(self(batch).detach().float())
        self.val_labels.update(batch.labels)

    def on_validation_epoch_start(self) -> None:
        self.val_logits.reset()
        self.val_labels.reset()

    def on_validation_epoch_end(self) -> None:
        """Metrics over all of the epoch's rows at once: AUROC averaged over batches would be wrong.

        Test rows are scored outside Lightning, by the task's metric function, like every other family."""
        if not self.val_logits.update_called:
            return
        # On CPU: cheap at epoch end, and sidesteps CUDA ops without a deterministic implementation.
        logits = self.val_logits.compute().float().cpu().reshape(-1, self.head[-1].out_features)
        labels = self.val_labels.compute().cpu().long()
        self.val_logits.reset()
        self.val_labels.reset()
        class_weights = None if self.class_weights is None else self.class_weights.cpu()
        metrics = {"loss": classification_loss(logits, labels, class_weights)}
        metrics |= classification_metrics(probabilities(logits), labels)
        metrics["selection"] = selection_score(
            metrics[self.monitor.split("/", 1)[1]], metrics["loss"], self.monitor
        )
        # Every process scored the same gathered rows: sync_dist averages equal values (and keeps Lightning's
        # early stopping and checkpoints agreeing across processes). On the module's device: NCCL only
        # reduces GPU tensors.
        logged = {f"val/{name}": value.to(self.device) for name, value in metrics.items()}
        self.log_dict(logged, sync_dist=True)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        # Lightning cannot rebuild a frozen dataclass; the batch knows how to move itself.
        if isinstance(batch, EventBatch):
            return batch.to(device)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def configure_optimizers(self) -> Optimizer | dict[str, Any]:
        return optimizers(self, self.monitor, self.monitor_mode)
