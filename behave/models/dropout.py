"""Dropout whose random mask costs a quarter of torch's on the CPU.

`nn.Dropout` draws one Bernoulli number per element (`bernoulli_`), which dominated the Transformer's CPU
step (17% of it after the attention kernel was fixed, 3 ms per (64, 31, 128) tensor). Here one 64-bit random
integer gives four 16-bit draws: the mask of the same tensor takes ~0.5 ms, forward and backward together
half of `F.dropout`'s time. The drop probability is rounded to a multiple of 1/65536; everything else is
plain inverted dropout (kept values scaled by 1 / (1 - p), identity in eval mode).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

DRAWS_PER_WORD = 4  # 16-bit draws per 64-bit random integer
LEVELS = 1 << 16


class FastDropout(nn.Module):
    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout {p} is not a probability in [0, 1)")
        self.p = p
        # A 16-bit draw is uniform over -32768..32767: keep it when it lands in the top (1 - p) of that range.
        self.keep_from = round(p * LEVELS) - LEVELS // 2

    def forward(self, inputs: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return inputs
        count = inputs.numel()
        words = torch.empty(-(-count // DRAWS_PER_WORD), dtype=torch.int64, device=inputs.device)
        draws = words.random_(torch.iinfo(torch.int64).min, None).view(torch.int16)[:count]
        keep = (draws >= self.keep_from).view(inputs.shape)
        return inputs * keep.to(inputs.dtype).mul_(1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"
