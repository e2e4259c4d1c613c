"""GRU/LSTM over right-padded batches, never packed ones: packing measured 3-10x slower on CPU.

Right padding cannot reach the real positions of a forward RNN, because it comes after them. The backward
direction is made just as blind to padding by running a second forward RNN over each sequence reversed
within its own length (so its padding also stays at the end) and reversing its outputs back. The same
sequence therefore encodes to the same states alone or padded inside any batch. The forward direction's
state at t reads events 0..t only, which is the encoder's causal mode; the backward direction reads the
future, so that mode refuses it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

RNN_CELLS: dict[str, type[nn.RNNBase]] = {"gru": nn.GRU, "lstm": nn.LSTM}


def reversal_index(lengths: Tensor, max_len: int) -> Tensor:
    """(B, T) time index that reverses positions 0..L-1 of each row and leaves its padding in place.

    Example: lengths [3, 1], T = 3 gives [[2, 1, 0], [0, 1, 2]]. Applying it twice is the identity.
    """
    positions = torch.arange(max_len, device=lengths.device).unsqueeze(0)
    last = (lengths - 1).unsqueeze(1)
    return torch.where(positions <= last, last - positions, positions)


def gather_time(values: Tensor, index: Tensor) -> Tensor:
    """(B, T, D) values reordered along time by a (B, T) index."""
    return values.gather(1, index.unsqueeze(-1).expand_as(values))


class PaddedRNN(nn.Module):
    """Stacked, optionally bidirectional GRU/LSTM over right-padded (B, T, D_in) -> (B, T, H * directions).

    Layer k + 1 reads both directions of layer k, with dropout in between, as nn.GRU(bidirectional=True)
    does. Outputs at padded positions are meaningless; outputs at real positions do not depend on padding.
    """

    def __init__(
        self,
        input_size: int,
        cell: str,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float,
    ):
        super().__init__()
        if cell not in RNN_CELLS:
            raise ValueError(f"unknown cell {cell!r}; valid: {', '.join(RNN_CELLS)}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        rnn_class = RNN_CELLS[cell]
        directions = 2 if bidirectional else 1
        layer_inputs = [input_size] + [hidden_size * directions] * (num_layers - 1)
        self.forward_layers = nn.ModuleList(
            rnn_class(size, hidden_size, batch_first=True) for size in layer_inputs
        )
        self.backward_layers = (
            nn.ModuleList(rnn_class(size, hidden_size, batch_first=True) for size in layer_inputs)
            if bidirectional
            else None
        )
        self.between_layers = nn.Dropout(dropout)

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        reverse = None if self.backward_layers is None else reversal_index(lengths, inputs.shape[1])
        states = inputs
        for layer, forward_rnn in enumerate(self.forward_layers):
            if layer > 0:
                states = self.between_layers(states)
            outputs, _ = forward_rnn(states)
            if reverse is not None:
                backward, _ = self.backward_layers[layer](gather_time(states, reverse))
                outputs = torch.cat([outputs, gather_time(backward, reverse)], dim=-1)
            states = outputs
        return states
