"""Pool per-event RNN states (B, T, D) into one vector per sequence (B, D), reading only real events.

Every pooling takes `states` (B, T, D), `mask` (B, T) bool (True on real events) and `lengths` (B,), so the
encoder can swap them by name. States at padded positions may hold anything; none of them leaks into the
result. The encoder's causal mode (per-event states) bypasses pooling.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LastPooling(nn.Module):
    """The state where each direction finishes: forward at the last real event, backward at the first.

    The trailing `backward_dims` of the D state dims ran over the sequence reversed (a bidirectional RNN's
    backward half) and so end at position 0.
    """

    def __init__(self, width: int, backward_dims: int = 0):
        super().__init__()
        self.forward_dims = width - backward_dims
        self.backward_dims = backward_dims

    def forward(self, states: Tensor, mask: Tensor, lengths: Tensor) -> Tensor:
        last_index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, states.shape[-1])
        last = states.gather(1, last_index).squeeze(1)
        if not self.backward_dims:
            return last
        return torch.cat([last[:, : self.forward_dims], states[:, 0, self.forward_dims :]], dim=-1)


class MeanPooling(nn.Module):
    """Average over real events."""

    def __init__(self, width: int, backward_dims: int = 0):
        super().__init__()

    def forward(self, states: Tensor, mask: Tensor, lengths: Tensor) -> Tensor:
        # masked_fill rather than multiplying by the mask, so a non-finite padded state cannot give NaN.
        total = states.masked_fill(~mask.unsqueeze(-1), 0.0).sum(dim=1)
        return total / lengths.unsqueeze(-1).to(states.dtype)


class MaxPooling(nn.Module):
    """Element-wise maximum over real events."""

    def __init__(self, width: int, backward_dims: int = 0):
        super().__init__()

    def forward(self, states: Tensor, mask: Tensor, lengths: Tensor) -> Tensor:
        return states.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)


class AttentionPooling(nn.Module):
    """Weighted average with learned additive-attention weights; padding gets weight exactly 0."""

    def __init__(self, width: int, backward_dims: int = 0):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))

    def attention_weights(self, states: Tensor, mask: Tensor) -> Tensor:
        """(B, T) softmax weights over real events, 0 at padding."""
        scores = self.score(states).squeeze(-1).masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=1)

    def forward(self, states: Tensor, mask: Tensor, lengths: Tensor) -> Tensor:
        weights = self.attention_weights(states, mask)
        # Zero padded states too: 0 * inf would be NaN if a padded state were not finite.
        real_states = states.masked_fill(~mask.unsqueeze(-1), 0.0)
        return torch.einsum("bt,btd->bd", weights, real_states)


POOLINGS: dict[str, type[nn.Module]] = {
    "last": LastPooling,
    "mean": MeanPooling,
    "max": MaxPooling,
    "attention": AttentionPooling,
}


class ConcatPooling(nn.Module):
    """Several poolings side by side, e.g. `last+mean`: recency from the last state, totals from the mean."""

    def __init__(self, poolings: list[nn.Module], width: int):
        super().__init__()
        self.poolings = nn.ModuleList(poolings)
        self.output_dim = width * len(poolings)

    def forward(self, states: Tensor, mask: Tensor, lengths: Tensor) -> Tensor:
        return torch.cat([pooling(states, mask, lengths) for pooling in self.poolings], dim=-1)


def pooling_names(name: str) -> list[str]:
    """`last+mean` -> ["last", "mean"]; each must be a known pooling."""
    names = name.split("+")
    unknown = [n for n in names if n not in POOLINGS]
    if unknown or not name:
        raise ValueError(f"unknown pooling {name!r}; valid: {', '.join(POOLINGS)}, or several joined by '+'")
    return names


def build_pooling(name: str, width: int, backward_dims: int = 0) -> ConcatPooling:
    """The pooling called `name` for states of `width` (of which the trailing `backward_dims` ran backward);
    its `output_dim` is that width times the number of poolings joined by '+'."""
    return ConcatPooling([POOLINGS[n](width, backward_dims) for n in pooling_names(name)], width)
