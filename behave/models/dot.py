"""Embeddings learned from ratings: a rating predicted as the dot product of a user's and an item's vectors.

    DotProduct(biases=False)   r = mean + u . i
    DotProduct(biases=True)    r = mean + u . i + b_user + b_item   (factors 0: the bias-only baseline)
    y_range (lo, hi)           r = lo + (hi - lo) * sigmoid(offset + ...), squashed into the range, with
                               the offset that maps 0 to the mean

`mean` is the training ratings' mean, a constant: the learned part of `dot` is the dot product alone.
Index 0 of every table is the "unseen in training" row, fixed at zero: an unseen user or item contributes
nothing, so the prediction falls back to the global mean plus whatever bias the other side has.
`RatingRegressor` trains it with MSE, logs val/rmse, val/mae (and val/selection) per epoch and does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torch.nn import Parameter
from torch.optim import AdamW, Optimizer

from behave.models.sequence_classifier import selection_score


class DotProduct(nn.Module):
    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_factors: int = 32,
        biases: bool = True,
        global_mean: float = 0.0,
        y_range: Sequence[float] | None = None,
    ):
        super().__init__()
        self.users = nn.Embedding(n_users, n_factors, padding_idx=0)
        self.items = nn.Embedding(n_items, n_factors, padding_idx=0)
        for table in (self.users, self.items):
            nn.init.normal_(table.weight, std=0.05)
            table.weight.data[0] = 0.0
        self.user_bias = nn.Embedding(n_users, 1, padding_idx=0) if biases else None
        self.item_bias = nn.Embedding(n_items, 1, padding_idx=0) if biases else None
        for table in (self.user_bias, self.item_bias):
            if table is not None:
                nn.init.zeros_(table.weight)
        self.y_range = None if y_range is None else (float(y_range[0]), float(y_range[1]))
        self.offset = float(global_mean) if y_range is None else _logit_of(global_mean, self.y_range)

    def penalty(self, user: Tensor, item: Tensor) -> Tensor:
        """Mean squared norm of the batch's vectors and biases: an L2 penalty on the rows a batch uses, so
        an often-rated item is regularised per rating, as in classic matrix factorisation."""
        total = (self.users(user) ** 2).sum(-1) + (self.items(item) ** 2).sum(-1)
        if self.user_bias is not None:
            total = total + self.user_bias(user).squeeze(-1) ** 2 + self.item_bias(item).squeeze(-1) ** 2
        return total.mean()

    def forward(self, user: Tensor, item: Tensor) -> Tensor:
        """(B,) predicted ratings for (B,) user and item indices."""
        raw = (self.users(user) * self.items(item)).sum(dim=-1) + self.offset
        if self.user_bias is not None:
            raw = raw + self.user_bias(user).squeeze(-1) + self.item_bias(item).squeeze(-1)
        if self.y_range is None:
            return raw
        low, high = self.y_range
        return low + (high - low) * torch.sigmoid(raw)


def _logit_of(value: float, y_range: tuple[float, float]) -> float:
    """The raw score the squashed output maps to `value` (clipped inside the range)."""
    low, high = y_range
    share = min(max((value - low) / (high - low), 1e-4), 1 - 1e-4)
    return float(torch.logit(torch.tensor(share)).item())


class RatingRegressor(pl.LightningModule):
    """A rating model trained with MSE; batches are (user, item, rating) tensors."""

    def __init__(
        self,
        model: Callable[..., nn.Module],
        n_users: int,
        n_items: int,
        global_mean: float,
        target_range: Sequence[float],
        squash: bool = False,
        l2: float = 0.0,
        optimizer: Callable[[Iterable[Parameter]], Optimizer] | None = None,
        monitor: str = "val/rmse",
    ):
        super().__init__()
        # Squashing leaves half a rating of room at both ends, so the extreme ratings stay reachable.
        low, high = float(target_range[0]), float(target_range[1])
        y_range = (low - 0.5, high + 0.5) if squash else None
        self.model = model(n_users=n_users, n_items=n_items, global_mean=global_mean, y_range=y_range)
        self.l2 = float(l2)
        self.optimizer_factory = optimizer or partial(AdamW, lr=1e-2)
        self.monitor = monitor
        self._val: list[tuple[Tensor, Tensor]] = []

    def forward(self, user: Tensor, item: Tensor) -> Tensor:
        return self.model(user, item)

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> Tensor:
        user, item, rating = batch
        mse = nn.functional.mse_loss(self(user, item), rating)
        self.log("train/loss", mse, on_step=False, on_epoch=True, batch_size=len(rating))
        return mse + self.l2 * self.model.penalty(user, item) if self.l2 else mse

    def validation_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> None:
        user, item, rating = batch
        self._val.append((self(user, item).detach(), rating))

    def on_validation_epoch_start(self) -> None:
        self._val.clear()

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        predicted = torch.cat([p for p, _ in self._val]).float().cpu()
        rating = torch.cat([r for _, r in self._val]).float().cpu()
        self._val.clear()
        mse = nn.functional.mse_loss(predicted, rating)
        metrics = {"loss": mse, "rmse": mse.sqrt(), "mae": (predicted - rating).abs().mean()}
        metrics["selection"] = selection_score(metrics[self.monitor.split("/", 1)[1]], mse, self.monitor)
        self.log_dict({f"val/{name}": value for name, value in metrics.items()})

    def configure_optimizers(self) -> Optimizer:
        return self.optimizer_factory(self.parameters())
