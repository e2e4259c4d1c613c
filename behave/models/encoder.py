"""Event encoder: token embedding + numeric inputs -> GRU/LSTM over the padded batch -> a vector per sequence.

The RNN runs on right-padded batches, never packed ones: packing measured 3-10x slower on CPU. Right
padding cannot reach the real positions of a forward RNN, because it comes after them. The backward
direction is made just as blind to padding by running a second forward RNN over each sequence reversed
within its own length (so its padding also stays at the end) and reversing its outputs back. The same
sequence therefore encodes to the same vector alone or padded inside any batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from behave.data.batches.batch import EventBatch
from behave.models.embedding_size import resolve_embedding_dim
from behave.models.pooling import build_pooling, pooling_names

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


class EventEncoder(nn.Module):
    """EventBatch -> (B, output_dim) sequence vectors.

    embedding_dim is an int or a rule name (see embedding_size.py); the resolved int is `.embedding_dim`.
    Each categorical field embedded beside the token (`field_sizes`, from data: one table size per field)
    gets its own embedding of `field_embedding_dim` (an int or a rule on that field's size), concatenated
    to the token's. dropout acts between stacked RNN layers (as in nn.GRU, so none with num_layers=1);
    embedding_dropout acts on the token and field embeddings.
    """

    def __init__(
        self,
        vocab_size: int,
        n_numeric: int,
        field_sizes: Sequence[int] = (),
        embedding_dim: int | str = 32,
        field_embedding_dim: int | str = "fourth_root",
        cell: str = "gru",
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        pooling: str = "last",
        embedding_dropout: float = 0.0,
    ):
        super().__init__()
        self.embedding_dim = resolve_embedding_dim(embedding_dim, vocab_size)
        self.embedding = nn.Embedding(vocab_size, self.embedding_dim, padding_idx=0)
        self.field_embeddings = nn.ModuleList(
            nn.Embedding(size, resolve_embedding_dim(field_embedding_dim, size), padding_idx=0)
            for size in field_sizes
        )
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        input_size = self.embedding_dim + sum(e.embedding_dim for e in self.field_embeddings) + n_numeric
        self.rnn = PaddedRNN(input_size, cell, hidden_size, num_layers, bidirectional, dropout)
        self.pooling = build_pooling(pooling, hidden_size, bidirectional)
        self._output_dim = hidden_size * (2 if bidirectional else 1) * len(pooling_names(pooling))

    @property
    def output_dim(self) -> int:
        return self._output_dim

    def event_states(self, batch: EventBatch) -> Tensor:
        """(B, T, output_dim) RNN states per event; meaningless at padded positions."""
        parts = [self.embedding(batch.tokens)]
        parts += [embedding(batch.fields[..., j]) for j, embedding in enumerate(self.field_embeddings)]
        embedded = self.embedding_dropout(torch.cat(parts, dim=-1))
        inputs = torch.cat([embedded, batch.numeric.to(embedded.dtype)], dim=-1)
        return self.rnn(inputs, batch.lengths)

    def forward(self, batch: EventBatch) -> Tensor:
        return self.pooling(self.event_states(batch), batch.mask, batch.lengths)
