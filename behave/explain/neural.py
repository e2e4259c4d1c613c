"""Why a neural model decides: integrated gradients over each event's inputs (Captum), per event.

The attributed output is the logit of the positive class (binary) or of the predicted class. The baseline
is padding: every event's input vector set to zero (the padding token's embedding is zero), with the
sequence's length and mask kept, so the attributions say how much each event's content moves the logit
away from "events with no content". Completeness: the attributions of a row sum to logit(x) - logit(0),
up to the integration error Captum reports (`delta`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import IntegratedGradients

from behave.data.batches.batch import EventBatch
from behave.models.pooling import AttentionPooling


@dataclass(frozen=True)
class EventAttributions:
    """attributions (B, T) per event (0 at padding); delta (B,) completeness error; logits (B,)."""

    attributions: np.ndarray
    delta: np.ndarray
    logits: np.ndarray
    # (B, T) the attention pooling's weights per event, where the encoder pools by attention; else None.
    attention: np.ndarray | None = None


def integrated_gradients(
    model, batch: EventBatch, n_steps: int = 32, sequences_per_pass: int = 512
) -> EventAttributions:
    """Per-event integrated gradients of `model` (a SequenceClassifier) on one batch; the integration
    steps run `sequences_per_pass` (interpolated) sequences at a time, which bounds the memory."""
    model.eval()
    with torch.no_grad():
        inputs = model.encoder.event_inputs(batch).detach()
        logits = model.logits_from_inputs(inputs, batch)
    target = 0 if logits.shape[-1] == 1 else logits.argmax(dim=-1)

    def forward(varied: torch.Tensor) -> torch.Tensor:
        # Captum stacks the integration steps along the batch axis: repeat the batch's masks to match.
        repeats = varied.shape[0] // len(batch)
        expanded = batch if repeats == 1 else _repeat(batch, repeats)
        return model.logits_from_inputs(varied, expanded)

    # cuDNN's RNN kernels refuse a backward pass in eval mode; with cuDNN off, eval-mode RNNs differentiate.
    with torch.backends.cudnn.flags(enabled=False):
        attributions, delta = IntegratedGradients(forward).attribute(
            inputs,
            baselines=torch.zeros_like(inputs),
            target=target,
            n_steps=n_steps,
            internal_batch_size=max(len(batch), sequences_per_pass),
            return_convergence_delta=True,
        )
    per_event = (attributions.sum(dim=-1) * batch.mask).detach().cpu().numpy()
    chosen = logits[:, 0] if logits.shape[-1] == 1 else logits.gather(1, target[:, None])[:, 0]
    return EventAttributions(
        per_event, delta.detach().cpu().numpy(), chosen.cpu().numpy(), attention_weights(model, inputs, batch)
    )


@torch.no_grad()
def attention_weights(model, inputs: torch.Tensor, batch: EventBatch) -> np.ndarray | None:
    """(B, T) the weights of the encoder's attention pooling over the events, or None without one."""
    pooling = model.encoder.pooling
    attention = [p for p in getattr(pooling, "poolings", []) if isinstance(p, AttentionPooling)]
    if not attention:
        return None
    states = model.encoder.sequence(inputs, batch.lengths, batch.mask)
    return attention[0].attention_weights(states, batch.mask).cpu().numpy()


def _repeat(batch: EventBatch, repeats: int) -> EventBatch:
    """The batch repeated `repeats` times along its first axis (Captum's layout: step-major)."""
    fields = {name: getattr(batch, name) for name in batch.__dataclass_fields__}
    return EventBatch(**{name: v.repeat(repeats, *([1] * (v.dim() - 1))) for name, v in fields.items()})
