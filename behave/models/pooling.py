"""Pool per-event RNN states (B, T, D) into one vector per sequence (B, D), reading only real events.

Every pooling takes `states` (B, T, D), `mask` (B, T) bool (True on real events) and `lengths` (B,), so the
encoder can swap them by name. States at padded positions may hold anything; none of them leaks into the
result.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LastPooling(nn.Module):
    """The state where each direction finishes: forward at the last real event, backward at the first.

    With `bidirectional`, D = 2 * hidden_size and the second half is the backward direction, which ran over
    the sequence reversed and so ends at position 0.
    """

    def __init__(self, hidden_size: int, bidirectional: bool):
        super().__init__()
        self.hidden_size = hidden_size
        self.bidirectional = bidirectional

    def forward(self, states: Tensor, mask: Tensor, lengths: Tensor) -> Tensor:
        last_index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, states.shape[-1])
        last = states.gather(1, last_index).squeeze(1)
        if not self.bidirectional:
            return last
        return torch.cat([last[:, : self.hidden_size], states[:, 0, self.hidden_size :]], dim=-1)


class MeanPooling(nn.Module):
    """Average over real events."""

    def __init__(self, hidden_size: int, bidirectional: bool):
        super().__init__()

    def forward(self, states: Tensor, mask: Tensor, lengths: Tensor) -> Tensor:
        # masked_fill rather than multiplying by the mask, so a non-finite padded state cannot give NaN.
        total = states.masked_fill(~mask.unsqueeze(-1), 0.0).sum(dim=1)
        return total / lengths.unsqueeze(-1).to(states.dtype)


class MaxPooling(nn.Module):
    """Element-wise maximum over real events."""

    def __init__(self, hidden_size: int, bidirectional: bool):
        super().__init__()

    def forward(self, states: Tensor, mask: Tensor, lengths: Tensor) -> Tensor:
        return states.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)


class AttentionPooling(nn.Module):
    """Weighted average with learned additive-attention weights; padding gets weight exactly 0."""

    def __init__(self, hidden_size: int, bidirectional: bool):
        super().__init__()
        dim = hidden_size * (2 if bidirectional else 1)
        self.score = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1))

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

    def __init__(self, poolings: list[nn.Module]):
        super().__init__()
        self.poolings = nn.ModuleList(poolings)

    def forward(self, states: Tensor, mask: Tensor, lengths: Tensor) -> Tensor:
        return torch.cat([pooling(states, mask, lengths) for pooling in self.poolings], dim=-1)


def pooling_names(name: str) -> list[str]:
    """`last+mean` -> ["last", "mean"]; each must be a known pooling."""
    names = name.split("+")
    unknown = [n for n in names if n not in POOLINGS]
    if unknown or not name:
        raise ValueError(f"unknown pooling {name!r}; valid: {', '.join(POOLINGS)}, or several joined by '+'")
    return names


def build_pooling(name: str, hidden_size: int, bidirectional: bool) -> nn.Module:
    """The pooling called `name` for RNN states of width hidden_size * directions; output width is
    that width times the number of poolings joined by '+'."""
    names = pooling_names(name)
    if len(names) == 1:
        return POOLINGS[name](hidden_size, bidirectional)
    return ConcatPooling([POOLINGS[n](hidden_size, bidirectional) for n in names])
