"""The Transformer's pre-norm encoder layers, written around `F.scaled_dot_product_attention`.

Why not `nn.TransformerEncoderLayer`: in training (grad on, dropout on) it takes its slow path, which
turns the key padding mask into a float (B * heads, T, T) mask and, with dropout on the attention weights,
runs the math kernel with a (B, heads, T, T) random mask per layer: a torch profile of a demo-size step
on the CPU spent 29% of it in `bernoulli_` and most of the rest in the masks' fill and copy. Here the
padding mask stays a (B, 1, 1, T) bool and attention dropout defaults to off, so the fused (flash) CPU
kernel runs; the residual and feed-forward dropouts (B, T, D) are kept, with cheaper masks (dropout.py).

Parameter names are those of `nn.TransformerEncoder` (`layers.<i>.self_attn.in_proj_weight`, `linear1`,
`norm1`...), so weights saved by runs made with it load unchanged and compute the same function.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from behave.models.causal import causal_attention_mask
from behave.models.dropout import FastDropout


class SelfAttention(nn.Module):
    """The query/key/value projection in one matrix and the output projection, as `nn.MultiheadAttention`
    holds (and initialises) them."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, states: Tensor, attend: Tensor, dropout: float) -> Tensor:
        """(B, T, D) states and `attend` (B or 1, 1, T or 1, T) bool, True where a query may read a key."""
        batch, length, width = states.shape
        heads = self.n_heads
        qkv = F.linear(states, self.in_proj_weight, self.in_proj_bias)
        query, key, value = qkv.view(batch, length, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(query, key, value, attn_mask=attend, dropout_p=dropout)
        return self.out_proj(attended.transpose(1, 2).reshape(batch, length, width))


class EncoderLayer(nn.Module):
    """Pre-norm: x + attention(norm1(x)), then x + feed_forward(norm2(x)), ReLU, dropout after each block
    and inside the feed-forward block; `attention_dropout` on the attention weights (0: the fused kernel)."""

    def __init__(
        self, d_model: int, n_heads: int, dim_feedforward: int, dropout: float, attention_dropout: float
    ):
        super().__init__()
        self.self_attn = SelfAttention(d_model, n_heads)
        self.attention_dropout = attention_dropout
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = FastDropout(dropout)
        self.dropout1 = FastDropout(dropout)
        self.dropout2 = FastDropout(dropout)

    def forward(self, states: Tensor, attend: Tensor) -> Tensor:
        dropout = self.attention_dropout if self.training else 0.0
        states = states + self.dropout1(self.self_attn(self.norm1(states), attend, dropout))
        feed = self.linear2(self.dropout(F.relu(self.linear1(self.norm2(states)))))
        return states + self.dropout2(feed)


class EncoderStack(nn.Module):
    """`num_layers` copies of one freshly initialised layer (as `nn.TransformerEncoder` starts them).

    forward: (B, T, D) states, (B, T) bool mask of real events -> (B, T, D); `causal` adds "key s <= query t".
    Padded queries read the real keys, so no row of the attention is empty (every sequence has an event).
    """

    def __init__(self, layer: EncoderLayer, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))

    def forward(self, states: Tensor, mask: Tensor, causal: bool = False) -> Tensor:
        attend = mask[:, None, None, :]  # (B, 1, 1, T): every query reads the real keys
        if causal:
            attend = attend & ~causal_attention_mask(states.shape[1], states.device)
        for layer in self.layers:
            states = layer(states, attend)
        return states
