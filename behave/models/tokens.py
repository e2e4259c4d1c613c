"""Token encoders: an EventBatch's token ids and embedded-field codes -> one vector per event, (B, T, D).

    EmbeddingTokens   learned embeddings: the token's (size an int or a rule on the vocabulary size) and
                      one per categorical field outside the token (`field_embedding_dim`), concatenated
    OneHotTokens      fixed one-hot vectors, nothing trained: the study's baseline against embeddings

`token_encoder(embedding_dim=...)` builds either: `embedding_dim: onehot` is the one-hot encoding, any
other value an embedding, so one sweep covers one-hot and every embedding size. Padding (id 0) maps to
zeros in both, so nothing at padded positions reaches the sequence encoder. Each event's vector reads that
event alone, so both serve the encoder's causal mode unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from behave.data.batches.batch import EventBatch
from behave.models.embedding_size import resolve_embedding_dim

ONEHOT = "onehot"


class EmbeddingTokens(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        field_sizes: Sequence[int] = (),
        embedding_dim: int | str = 32,
        field_embedding_dim: int | str = "fourth_root",
        dropout: float = 0.0,
    ):
        super().__init__()
        self.embedding_dim = resolve_embedding_dim(embedding_dim, vocab_size)
        self.embedding = nn.Embedding(vocab_size, self.embedding_dim, padding_idx=0)
        self.field_embeddings = nn.ModuleList(
            nn.Embedding(size, resolve_embedding_dim(field_embedding_dim, size), padding_idx=0)
            for size in field_sizes
        )
        self.dropout = nn.Dropout(dropout)
        self.output_dim = self.embedding_dim + sum(e.embedding_dim for e in self.field_embeddings)

    def token_vectors(self) -> Tensor:
        """(V, embedding_dim) one vector per token id: the learned embedding table."""
        return self.embedding.weight

    def forward(self, batch: EventBatch) -> Tensor:
        parts = [self.embedding(batch.tokens)]
        parts += [embedding(batch.fields[..., j]) for j, embedding in enumerate(self.field_embeddings)]
        return self.dropout(torch.cat(parts, dim=-1))


class OneHotTokens(nn.Module):
    """One-hot token and field codes (padding 0 is all zeros). Nothing here is trained."""

    def __init__(self, vocab_size: int, field_sizes: Sequence[int] = ()):
        super().__init__()
        self.vocab_size = vocab_size
        self.field_sizes = [int(size) for size in field_sizes]
        self.embedding_dim = vocab_size
        self.output_dim = vocab_size + sum(self.field_sizes)

    def token_vectors(self) -> Tensor:
        return torch.eye(self.vocab_size)

    def forward(self, batch: EventBatch) -> Tensor:
        parts = [_one_hot(batch.tokens, self.vocab_size)]
        parts += [_one_hot(batch.fields[..., j], size) for j, size in enumerate(self.field_sizes)]
        return torch.cat(parts, dim=-1)


def _one_hot(ids: Tensor, size: int) -> Tensor:
    """(B, T) ids -> (B, T, size) float one-hot, all zeros for padding (id 0)."""
    out = nn.functional.one_hot(ids, size).float()
    out[..., 0] = 0.0
    return out


def token_encoder(
    vocab_size: int,
    field_sizes: Sequence[int] = (),
    embedding_dim: int | str = 32,
    field_embedding_dim: int | str = "fourth_root",
    dropout: float = 0.0,
) -> nn.Module:
    """`embedding_dim: onehot` -> OneHotTokens; an int or a size rule -> EmbeddingTokens."""
    if embedding_dim == ONEHOT:
        return OneHotTokens(vocab_size, field_sizes)
    return EmbeddingTokens(vocab_size, field_sizes, embedding_dim, field_embedding_dim, dropout)
