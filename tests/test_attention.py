"""The hand-written Transformer layers (behave/models/attention.py) against torch's nn.TransformerEncoder:
the same function of the same weights, the same state-dict keys (older runs' weights load), and the fused
attention kernel in a training step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from behave.models.causal import causal_attention_mask
from behave.models.dropout import FastDropout
from behave.models.sequence_encoders import Transformer

D_MODEL, HEADS, FEEDFORWARD, LAYERS, INPUT = 16, 4, 32, 2, 5


def torch_transformer() -> nn.TransformerEncoder:
    """What models/sequence_encoders.Transformer held before: pre-norm torch layers, batch first."""
    layer = nn.TransformerEncoderLayer(
        D_MODEL, HEADS, FEEDFORWARD, dropout=0.1, batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)


def batch(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    lengths_t = torch.tensor(lengths)
    mask = torch.arange(max(lengths))[None, :] < lengths_t[:, None]
    return torch.randn(len(lengths), max(lengths), INPUT, generator=generator), lengths_t, mask


def behave_transformer(causal: bool = False) -> Transformer:
    torch.manual_seed(0)
    return Transformer(
        INPUT, d_model=D_MODEL, n_heads=HEADS, num_layers=LAYERS, dim_feedforward=FEEDFORWARD, causal=causal
    )


def test_state_dict_keys_are_those_of_torch_transformer_layers():
    """A run saved when the layers were nn.TransformerEncoder loads into today's module, key for key."""
    keys = {f"layers.{key}" for key in torch_transformer().state_dict()}
    ours = {key for key in behave_transformer().state_dict() if key.startswith("layers.")}
    assert ours == keys


@pytest.mark.parametrize("causal", [False, True])
def test_same_function_as_torch_layers_on_the_same_weights(causal: bool):
    """Eval mode (no dropout): the torch layers' output with their weights copied in, at real positions."""
    stack = behave_transformer(causal).layers.eval()
    reference = torch_transformer().eval()
    torch.manual_seed(1)
    for parameter in reference.parameters():  # not the identical copies nn.TransformerEncoder starts with
        nn.init.normal_(parameter, std=0.3)
    stack.load_state_dict(reference.state_dict())
    _, _, mask = batch([7, 3, 5, 1])
    states = torch.randn(*mask.shape, D_MODEL, generator=torch.Generator().manual_seed(4))
    order = causal_attention_mask(mask.shape[1], mask.device) if causal else None
    with torch.no_grad():
        expected = reference(states, mask=order, src_key_padding_mask=~mask, is_causal=causal)
        got = stack(states, mask, causal=causal)
    torch.testing.assert_close(got[mask], expected[mask], atol=1e-5, rtol=1e-5)


def test_a_training_step_runs_the_fused_attention_kernel_without_random_attention_masks():
    """With attention dropout off (the default) a training step uses the flash CPU kernel; no (B, heads,
    T, T) Bernoulli mask is drawn (only the (B, T, D) residual and feed-forward dropouts)."""
    model = behave_transformer().train()
    inputs, lengths, mask = batch([9, 4, 6])
    with torch.profiler.profile() as profile:
        model(inputs, lengths, mask).sum().backward()
    names = {event.key for event in profile.key_averages()}
    assert "aten::_scaled_dot_product_attention_math" not in names
    assert any("flash_attention" in name for name in names)


def test_attention_dropout_changes_training_outputs_only():
    torch.manual_seed(0)
    model = Transformer(INPUT, d_model=D_MODEL, n_heads=HEADS, dropout=0.0, attention_dropout=0.5)
    inputs, lengths, mask = batch([6, 6])
    model.eval()
    assert torch.equal(model(inputs, lengths, mask), model(inputs, lengths, mask))
    model.train()
    assert not torch.allclose(model(inputs, lengths, mask), model(inputs, lengths, mask))


def test_heads_must_divide_the_width():
    with pytest.raises(ValueError, match="d_model 10 is not divisible by n_heads 4"):
        Transformer(INPUT, d_model=10, n_heads=4)


def test_fast_dropout_drops_the_configured_share_and_keeps_the_expectation():
    torch.manual_seed(0)
    dropout = FastDropout(0.1).train()
    inputs = torch.ones(200, 501)  # an odd count: the last 64-bit word is only partly used
    dropped = dropout(inputs)
    kept = dropped != 0
    assert abs(kept.float().mean().item() - 0.9) < 0.005
    torch.testing.assert_close(dropped[kept], torch.full_like(dropped[kept], 1 / 0.9))
    assert abs(dropped.mean().item() - 1.0) < 0.01
    assert torch.equal(dropout.eval()(inputs), inputs)
    with pytest.raises(ValueError, match="dropout 1.0 is not a probability"):
        FastDropout(1.0)
