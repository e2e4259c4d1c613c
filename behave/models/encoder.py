"""The event encoder: a stack of three parts, each an `nn.Module` built from config and testable alone.

    token encoder     EventBatch -> (B, T, D_tok)   tokens.py: embedding or one-hot
    + numeric inputs  (B, T, D_tok + F)             gap to the previous event, scaled numeric fields
    sequence encoder  -> (B, T, H) or (B, H)        sequence_encoders.py: RNN, Transformer, CNN, Bag, Flatten
    pooling           (B, T, H) -> (B, H * k)       pooling.py: last, mean, max, attention, or joined by '+'

Sizes from data (vocabulary, numeric inputs, embedded fields) arrive here; the parts arrive as partials
(`_partial_: true`) holding their own settings, so a model config swaps any part by its `_target_`.

Two modes, chosen here by `causal` (config key `model.module.encoder.causal`) and handed to the sequence
part, which is the only part that differs (tokens and numeric inputs are per event in both):

    per sequence  (causal=false, the default)  EventBatch -> (B, output_dim), pooled as configured
    causal        (causal=true)                EventBatch -> (B, T, output_dim), state t reads events 0..t
                                               only; pooling is bypassed (see causal.py)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from behave.data.batches.batch import EventBatch
from behave.models.causal import CAUSAL_KEY
from behave.models.pooling import build_pooling
from behave.models.sequence_encoders import RNN
from behave.models.tokens import token_encoder


class EventEncoder(nn.Module):
    """EventBatch -> (B, output_dim) sequence vectors, or (B, T, output_dim) causal per-event states."""

    def __init__(
        self,
        vocab_size: int,
        n_numeric: int,
        field_sizes: Sequence[int] = (),
        tokens: Callable[..., nn.Module] = token_encoder,
        sequence: Callable[..., nn.Module] = RNN,
        pooling: str = "last",
        causal: bool = False,
    ):
        super().__init__()
        if "causal" in getattr(sequence, "keywords", {}):
            raise ValueError(
                f"the sequence encoder's `causal` is set by the encoder: set {CAUSAL_KEY}, not "
                "model.module.encoder.sequence.causal"
            )
        self.causal = causal
        self.tokens = tokens(vocab_size=vocab_size, field_sizes=list(field_sizes))
        self.sequence = sequence(input_size=self.tokens.output_dim + n_numeric, causal=causal)
        self.pooling = (
            build_pooling(pooling, self.sequence.output_dim, self.sequence.backward_dims)
            if self.sequence.pools and not causal
            else None
        )
        self._output_dim = self.pooling.output_dim if self.pooling is not None else self.sequence.output_dim

    @property
    def output_dim(self) -> int:
        return self._output_dim

    def require_per_sequence(self, model: str) -> None:
        """Refuse causal mode for a `model` that reads one vector per sequence."""
        if self.causal:
            raise ValueError(
                f"{CAUSAL_KEY}=true gives one state per event, but {model} reads one vector per sequence; "
                "set it to false, or use a per-event task"
            )

    @property
    def embedding_dim(self) -> int:
        """The token vector's size (the vocabulary size for one-hot tokens)."""
        return self.tokens.embedding_dim

    def event_inputs(self, batch: EventBatch) -> Tensor:
        """(B, T, D_tok + F) what the sequence encoder reads per event."""
        embedded = self.tokens(batch)
        return torch.cat([embedded, batch.numeric.to(embedded.dtype)], dim=-1)

    def forward(self, batch: EventBatch) -> Tensor:
        return self.encode_inputs(self.event_inputs(batch), batch)

    def encode_inputs(self, inputs: Tensor, batch: EventBatch) -> Tensor:
        """(B, T, D) per-event inputs -> (B, output_dim), or (B, T, output_dim) when causal: the encoder after
        the token step, so attribution methods can vary the inputs (integrated gradients from a padding
        baseline) with the batch's masks."""
        encoded = self.sequence(inputs, batch.lengths, batch.mask)
        return encoded if self.pooling is None else self.pooling(encoded, batch.mask, batch.lengths)
