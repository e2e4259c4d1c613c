"""Sequence encoders: per-event vectors (B, T, D_in) of right-padded sequences -> per-event states (B, T, H),
or one vector per sequence (B, H) for `Flatten`. Each is built with `input_size` from the data and `causal`
(the encoder's mode, decided once in EventEncoder), and says:

    output_dim      H, the width of what it returns
    backward_dims   trailing state dims that run backward in time (read at position 0 by `last` pooling)
    pools           False when it returns one vector per sequence already (no pooling after it)

`causal=True` makes every one of them return (B, T, H) states where state t reads events 0..t only (see
causal.py): the RNN's forward outputs (bidirectional refused), the Transformer with a causal mask and
positions from the start, the CNN padded on the left, `Bag` a running mean, `Flatten` a window ending at t.

Every encoder is padding-invariant: a sequence gives the same output alone or padded inside any batch
(the recurrent ones by construction, see rnn.py; the Transformer by its key padding mask; the CNN by
zeroing padded positions before every convolution, which is what zero padding does to a lone sequence).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from behave.models.attention import EncoderLayer, EncoderStack
from behave.models.causal import (
    CAUSAL_KEY,
    running_mean,
    shift_right_by,
    windows_ending_at,
)
from behave.models.rnn import PaddedRNN


class RNN(nn.Module):
    """GRU or LSTM, stacked, optionally bidirectional (see rnn.py for the padding-blind backward pass).

    Causal mode: the same forward outputs, which read events 0..t at t (and so equal `last` pooling at a
    sequence's last event); a bidirectional RNN reads the future and is refused.
    """

    pools = True

    def __init__(
        self,
        input_size: int,
        cell: str = "gru",
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        causal: bool = False,
    ):
        super().__init__()
        if causal and bidirectional:
            raise ValueError(
                f"a bidirectional RNN reads later events, which {CAUSAL_KEY}=true forbids; set "
                "model.module.encoder.sequence.bidirectional=false"
            )
        self.rnn = PaddedRNN(input_size, cell, hidden_size, num_layers, bidirectional, dropout)
        self.output_dim = hidden_size * (2 if bidirectional else 1)
        self.backward_dims = hidden_size if bidirectional else 0

    def forward(self, inputs: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        return self.rnn(inputs, lengths)


def sinusoidal(positions: Tensor, dim: int) -> Tensor:
    """(..., dim) the classic sine/cosine encoding of integer positions (...,)."""
    frequency = torch.exp(
        torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32) * (-math.log(1e4) / dim)
    )
    angle = positions.to(torch.float32).unsqueeze(-1) * frequency
    table = torch.zeros(*positions.shape, dim, device=positions.device)
    table[..., 0::2] = torch.sin(angle)
    table[..., 1::2] = torch.cos(angle[..., : dim // 2])
    return table


# Where an event sits: counted from the sequence's start, or from its end (the most recent event is 0,
# so "in the last session" looks the same in every sequence, whatever its length).
POSITIONS = ("from_end", "from_start", "none")


class Transformer(nn.Module):
    """Pre-norm Transformer encoder layers with a key padding mask (attention.py).

    Time reaches it twice: the per-event inputs carry the (scaled, log) gap to the previous event, and a
    sinusoidal encoding of the event's index is added: counted from the end (`positions: from_end`, the
    default: recency is what behaviour sequences mostly turn on), from the start, or not at all (`none`,
    order then comes from the gaps alone).

    Causal mode: a causal attention mask (position t attends to 0..t), and `from_end` counts from the start
    instead, since an index counted from the end depends on how many events follow. `from_start` and
    `none` are unchanged. The state at a sequence's last event differs from per-sequence `last` pooling:
    there, earlier positions attended to later ones in every layer below the last.

    `attention_dropout` drops attention weights; off by default, since on the CPU it costs a (B, heads,
    T, T) random mask per layer and forces the unfused attention kernel (see attention.py). `dropout`
    still applies after the attention and inside and after the feed-forward block.
    """

    pools = True
    backward_dims = 0

    def __init__(
        self,
        input_size: int,
        d_model: int = 64,
        n_heads: int = 4,
        num_layers: int = 2,
        dim_feedforward: int = 128,
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
        positions: str = "from_end",
        causal: bool = False,
    ):
        super().__init__()
        if positions not in POSITIONS:
            raise ValueError(f"positions {positions!r} is unknown; valid: {', '.join(POSITIONS)}")
        self.causal = causal
        self.positions = "from_start" if causal and positions == "from_end" else positions
        self.project = nn.Linear(input_size, d_model)
        layer = EncoderLayer(d_model, n_heads, dim_feedforward, dropout, attention_dropout)
        self.layers = EncoderStack(layer, num_layers)
        self.norm = nn.LayerNorm(d_model)
        self.output_dim = d_model

    def forward(self, inputs: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        states = self.project(inputs)
        if self.positions != "none":
            index = torch.arange(states.shape[1], device=states.device).expand(states.shape[0], -1)
            if self.positions == "from_end":
                index = (lengths[:, None] - 1 - index).clamp(min=0)  # padded positions: any value, masked
            states = states + sinusoidal(index, states.shape[2])
        return self.norm(self.layers(states, mask, causal=self.causal))


class CNN(nn.Module):
    """1-D temporal convolutions ('same' length, ReLU), padded positions zeroed before each layer.

    Causal mode: each layer's input is padded with kernel_size - 1 zeros on the left only, so output t reads
    inputs t-k+1..t and position t stays position t (any kernel size then works, even ones too). The
    weights have the same shapes in both modes. The state at a sequence's last event differs from
    per-sequence `last` pooling, whose centred kernels read later events.
    """

    pools = True
    backward_dims = 0

    def __init__(
        self,
        input_size: int,
        channels: int = 64,
        kernel_size: int = 3,
        num_layers: int = 2,
        dropout: float = 0.1,
        causal: bool = False,
    ):
        super().__init__()
        if kernel_size % 2 == 0 and not causal:
            raise ValueError(
                f"kernel_size {kernel_size} is even; valid: odd sizes (3, 5, 7...), for 'same' length"
            )
        sizes = [input_size] + [channels] * num_layers
        # Causal: no symmetric padding in the layer, the left padding is added in forward.
        self.left_padding = kernel_size - 1 if causal else 0
        padding = 0 if causal else kernel_size // 2
        self.convs = nn.ModuleList(
            nn.Conv1d(a, b, kernel_size, padding=padding) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.dropout = nn.Dropout(dropout)
        self.output_dim = channels

    def forward(self, inputs: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        keep = mask.unsqueeze(1).to(inputs.dtype)  # (B, 1, T)
        states = inputs.transpose(1, 2)
        for conv in self.convs:
            layer_input = states * keep
            if self.left_padding:
                layer_input = shift_right_by(layer_input, self.left_padding)
            states = self.dropout(torch.relu(conv(layer_input)))
        return (states * keep).transpose(1, 2)


class Bag(nn.Module):
    """No order at all: the event vectors as they are, for a mean (or max) pooling. The control model
    that shows what order adds: on a label of counts alone it should match the recurrent models.

    Causal mode: the running mean over events 0..t at each t, which at a sequence's last event is what
    per-sequence `mean` pooling gives (up to float summation order).
    """

    pools = True
    backward_dims = 0

    def __init__(self, input_size: int, causal: bool = False):
        super().__init__()
        self.causal = causal
        self.output_dim = input_size

    def forward(self, inputs: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        return running_mean(inputs, mask) if self.causal else inputs


class Flatten(nn.Module):
    """The last `last_n` events' vectors flattened into one dense layer (the textbook Keras toy).

    Shorter sequences are padded on the left with zeros, so the most recent event always sits in the
    last slot whatever the sequence's length or the batch's padding.

    Causal mode: the window of the `last_n` events ending at each position t, zeros before the start,
    through the same dense layer: (B, T, hidden_size). At a sequence's last event it is the per-sequence
    output.
    """

    pools = False
    backward_dims = 0

    def __init__(
        self,
        input_size: int,
        last_n: int = 32,
        hidden_size: int = 64,
        dropout: float = 0.1,
        causal: bool = False,
    ):
        super().__init__()
        self.causal = causal
        self.last_n = last_n
        self.dense = nn.Sequential(
            nn.Linear(input_size * last_n, hidden_size), nn.ReLU(), nn.Dropout(dropout)
        )
        self.output_dim = hidden_size

    def forward(self, inputs: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        if self.causal:
            return self.dense(windows_ending_at(inputs, self.last_n))
        slots = torch.arange(self.last_n, device=inputs.device)
        # Slot j holds event (length - last_n + j); slots before the first event stay zero.
        index = lengths[:, None] - self.last_n + slots[None, :]
        real = index >= 0
        gathered = inputs.gather(1, index.clamp(min=0).unsqueeze(-1).expand(-1, -1, inputs.shape[-1]))
        return self.dense((gathered * real.unsqueeze(-1)).flatten(1))
