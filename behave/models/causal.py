"""What the sequence encoders do differently in causal mode: the state at position t reads events 0..t only.

Causal mode scores every position of a sequence in one forward pass (the next event after each prefix), so no
state may read a later event. Batches are right-padded (EventBatch), so padding always lies after every
real event and is unreachable for a causal state just as later events are. The pieces here build that:

    causal_attention_mask   (T, T) the Transformer's mask: query t sees keys 0..t
    shift_right_by          left zero padding of a convolution's input, so output t reads inputs t-k+1..t
    running_mean            (B, T, D) mean over 0..t at each t (the causal `bag`)
    windows_ending_at       (B, T, N * D) events t-N+1..t at each t, zeros before the start (causal `flatten`)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# The config key that switches it, named in every refusal.
CAUSAL_KEY = "model.module.encoder.causal"


def causal_attention_mask(length: int, device: torch.device) -> Tensor:
    """(T, T) bool, True where attention is forbidden: key s > query t."""
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(diagonal=1)


def shift_right_by(states: Tensor, width: int) -> Tensor:
    """(B, C, T) -> (B, C, T + width) with `width` zero steps before position 0 and none after: an
    unpadded convolution of kernel width + 1 over it gives T outputs, output t reading inputs t-width..t."""
    return F.pad(states, (width, 0))


def running_mean(inputs: Tensor, mask: Tensor) -> Tensor:
    """(B, T, D) mean of inputs over positions 0..t at each t. Padding is zeroed first, so a non-finite
    padded input cannot turn a real position's mean into NaN (it comes after every real position anyway)."""
    real = inputs.masked_fill(~mask.unsqueeze(-1), 0.0)
    counts = torch.arange(1, inputs.shape[1] + 1, device=inputs.device, dtype=inputs.dtype)
    return real.cumsum(dim=1) / counts.view(1, -1, 1)


def windows_ending_at(inputs: Tensor, size: int) -> Tensor:
    """(B, T, D) -> (B, T, size * D): at each t, events t-size+1..t in time order (slot size-1 holds event
    t), slots before the sequence's start zero. The slot order matches the per-sequence `Flatten`, so the
    window at a sequence's last event is exactly the per-sequence input."""
    padded = F.pad(inputs, (0, 0, size - 1, 0))  # (B, size - 1 + T, D)
    windows = padded.unfold(1, size, 1)  # (B, T, D, size)
    return windows.transpose(2, 3).flatten(2)
