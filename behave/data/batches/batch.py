"""The padded batch the neural models consume."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class EventBatch:
    """B sequences right-padded to the longest one, T = max(lengths).

    tokens   (B, T)    int64, vocabulary ids; 0 = padding, 1 = unknown
    numeric  (B, T, F) float32, per-event inputs (log gap to the previous event, scaled numeric
                       fields); 0 at padding
    fields   (B, T, K) int64, codes of the categorical fields embedded beside the token; 0 = padding
    lengths  (B,)      int64, true lengths, 1 <= lengths <= T
    labels   (B,)      int64 class index (-1 where unknown)
    static   (B, D)    float32, per-sequence inputs for the head (D may be 0)
    index    (B,)      int64, position of each row within its RowInputs (to write predictions back)

    Example: lengths [3, 1] gives tokens [[5, 9, 2], [7, 0, 0]].
    """

    tokens: torch.Tensor
    numeric: torch.Tensor
    fields: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    static: torch.Tensor
    index: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """(B, T) bool, True on real events."""
        positions = torch.arange(self.tokens.shape[1], device=self.tokens.device)
        return positions[None, :] < self.lengths[:, None]

    def to(self, device: torch.device | str) -> EventBatch:
        """The batch on `device`, every tensor moved once (non-blocking: a no-op wait on the CPU, an
        asynchronous copy from pinned memory to a GPU)."""
        moved = {
            name: getattr(self, name).to(device, non_blocking=True) for name in self.__dataclass_fields__
        }
        return EventBatch(**moved)

    def pin_memory(self) -> EventBatch:
        """Called by the DataLoader with `pin_memory=True` (GPU training): page-locked copies."""
        return EventBatch(**{name: getattr(self, name).pin_memory() for name in self.__dataclass_fields__})

    def __len__(self) -> int:
        return self.tokens.shape[0]
