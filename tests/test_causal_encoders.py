"""Causal mode of every encoder of the stack: the state at position t reads events 0..t only.

Tiny random weights, no training. For each encoder: later events (tokens, fields, numeric inputs) change no
state at or before t, event t + 1 does reach state t + 1, a prefix alone gives the same states as inside the
whole sequence, and the last real state matches the per-sequence pooling where that is meant to hold.
"""

from __future__ import annotations

from functools import partial

import pytest
import torch

from behave.data.batches.batch import EventBatch
from behave.models.causal import running_mean, windows_ending_at
from behave.models.contrastive import ContrastivePretrainer
from behave.models.encoder import EventEncoder
from behave.models.sequence_classifier import SequenceClassifier
from behave.models.sequence_encoders import CNN, RNN, Transformer
from tests.test_encoder import (
    FIELD_SIZES,
    N_NUMERIC,
    SEQUENCE_ENCODERS,
    VOCAB,
    make_encoder,
    padded_batch,
    random_sequence,
)

LENGTHS = (7, 3, 10, 1, 5)
CUTS = (0, 2, 4, 8)
# The masked softmax of attention sums over a different number of exact zeros when later keys change;
# every other encoder must agree bit for bit.
TOLERANCE = {"transformer": 1e-6}


def random_batch(seed: int) -> EventBatch:
    generator = torch.Generator().manual_seed(seed)
    return padded_batch([random_sequence(length, generator) for length in LENGTHS])


def with_later_events_redrawn(batch: EventBatch, cut: int, seed: int) -> EventBatch:
    """The batch with every event after position `cut` (real or padding) replaced by random values."""
    generator = torch.Generator().manual_seed(seed)
    later = torch.arange(batch.tokens.shape[1])[None, :] > cut
    later = later.expand_as(batch.tokens)
    tokens = torch.where(
        later, torch.randint(1, VOCAB, batch.tokens.shape, generator=generator), batch.tokens
    )
    numeric = torch.where(
        later[..., None], torch.randn(batch.numeric.shape, generator=generator), batch.numeric
    )
    fields = torch.where(
        later[..., None],
        torch.randint(1, min(FIELD_SIZES), batch.fields.shape, generator=generator),
        batch.fields,
    )
    return EventBatch(**{**batch.__dict__, "tokens": tokens, "numeric": numeric, "fields": fields})


def assert_same(a: torch.Tensor, b: torch.Tensor, sequence: str) -> None:
    if sequence in TOLERANCE:
        assert torch.allclose(a, b, rtol=0.0, atol=TOLERANCE[sequence]), (a - b).abs().max()
    else:
        assert torch.equal(a, b), (a - b).abs().max()


@pytest.mark.parametrize("embedding_dim", [8, "onehot"])
@pytest.mark.parametrize("sequence", list(SEQUENCE_ENCODERS))
def test_later_events_change_no_earlier_state_and_the_next_event_reaches_its_own(sequence, embedding_dim):
    encoder = make_encoder(sequence, embedding_dim=embedding_dim, causal=True)
    batch = random_batch(seed=11)
    with torch.no_grad():
        states = encoder(batch)
    assert states.shape == (*batch.tokens.shape, encoder.output_dim)
    for cut in CUTS:
        changed = with_later_events_redrawn(batch, cut, seed=100 + cut)
        with torch.no_grad():
            redrawn = encoder(changed)
        upto = batch.mask.clone()
        upto[:, cut + 1 :] = False
        assert_same(states[upto], redrawn[upto], sequence)
        # Event cut + 1 reaches state cut + 1 (no shift of real positions, nothing ignored).
        has_next = batch.lengths > cut + 1
        if has_next.any():
            nxt = (states[has_next, cut + 1] - redrawn[has_next, cut + 1]).abs().amax(dim=-1)
            assert (nxt > 1e-4).all(), nxt


@pytest.mark.parametrize("sequence", list(SEQUENCE_ENCODERS))
def test_a_prefix_alone_gives_the_states_it_has_inside_its_sequence(sequence):
    """Removing the later events (a shorter sequence, other padding) changes no state either: this is what
    catches positions counted from the end."""
    encoder = make_encoder(sequence, causal=True)
    generator = torch.Generator().manual_seed(12)
    sequences = [random_sequence(length, generator) for length in LENGTHS]
    with torch.no_grad():
        states = encoder(padded_batch(sequences))
        for cut in CUTS:
            prefixes = [(tokens[: cut + 1], numeric[: cut + 1]) for tokens, numeric in sequences]
            alone = encoder(padded_batch(prefixes))
            for row, (tokens, _) in enumerate(prefixes):
                kept = len(tokens)
                assert torch.allclose(alone[row, :kept], states[row, :kept], rtol=0.0, atol=1e-5), (row, cut)


# Where the causal state at the last real event equals a per-sequence pooling of the same encoder and weights.
# Not the Transformer with more than one layer (per sequence, earlier positions attend to later ones in the
# layers below the last) nor the CNN (its per-sequence kernels are centred, so they read later events).
LAST_STATE_EQUALS = {
    "gru": ("last", {}),
    "lstm": ("last", {}),
    "bag": ("mean", {}),
    "flatten": ("last", {}),  # Flatten does its own pooling: the window ending at the last event
    "transformer": ("last", {"num_layers": 1, "positions": "from_start"}),
}


@pytest.mark.parametrize("sequence", list(LAST_STATE_EQUALS))
def test_causal_state_at_the_last_event_equals_the_per_sequence_encoding(sequence):
    pooling, settings = LAST_STATE_EQUALS[sequence]
    causal = make_encoder(sequence, pooling=pooling, causal=True, **settings)
    whole = make_encoder(sequence, pooling=pooling, **settings)
    batch = random_batch(seed=13)
    with torch.no_grad():
        states, encoded = causal(batch), whole(batch)
    last = states[torch.arange(len(batch)), batch.lengths - 1]
    if sequence in ("gru", "lstm"):
        assert torch.equal(last, encoded)
    else:
        assert torch.allclose(last, encoded, rtol=0.0, atol=1e-6), (last - encoded).abs().max()


def test_the_per_sequence_cnn_reads_later_events_and_the_causal_one_does_not():
    """Why the CNN is not in LAST_STATE_EQUALS: its per-sequence state at t reads event t + 1."""
    batch = random_batch(seed=14)
    changed = with_later_events_redrawn(batch, cut=2, seed=15)
    for causal, leaks in ((False, True), (True, False)):
        encoder = make_encoder("cnn", causal=causal, pooling="mean")
        with torch.no_grad():
            states = encoder.sequence(encoder.event_inputs(batch), batch.lengths, batch.mask)
            redrawn = encoder.sequence(encoder.event_inputs(changed), changed.lengths, changed.mask)
        assert (not torch.equal(states[:, 2], redrawn[:, 2])) == leaks


def test_bidirectional_rnn_is_refused_naming_the_config_key():
    with pytest.raises(ValueError, match=r"model\.module\.encoder\.sequence\.bidirectional=false"):
        make_encoder("gru", bidirectional=True, causal=True)
    with pytest.raises(ValueError, match="bidirectional"):
        RNN(input_size=4, bidirectional=True, causal=True)


def test_transformer_counts_positions_from_the_start_in_causal_mode_only():
    assert Transformer(input_size=4, d_model=8, n_heads=2).positions == "from_end"
    assert Transformer(input_size=4, d_model=8, n_heads=2, causal=True).positions == "from_start"
    assert Transformer(input_size=4, d_model=8, n_heads=2, positions="none", causal=True).positions == "none"


def test_causal_cnn_keeps_the_weights_shapes_and_takes_even_kernels():
    assert [c.weight.shape for c in CNN(4, causal=True).convs] == [c.weight.shape for c in CNN(4).convs]
    CNN(4, kernel_size=2, causal=True)
    with pytest.raises(ValueError, match="even"):
        CNN(4, kernel_size=2)


def test_running_mean_and_windows_by_hand():
    inputs = torch.tensor([[[1.0], [3.0], [8.0], [99.0]]])
    mask = torch.tensor([[True, True, True, False]])
    assert running_mean(inputs, mask)[0, :3, 0].tolist() == [1.0, 2.0, 4.0]
    windows = windows_ending_at(inputs, 2)
    assert windows[0, :3].tolist() == [[0.0, 1.0], [1.0, 3.0], [3.0, 8.0]]


def test_causal_is_set_on_the_encoder_only():
    sequence = partial(SEQUENCE_ENCODERS["gru"], causal=True)
    with pytest.raises(ValueError, match=r"model\.module\.encoder\.causal"):
        EventEncoder(vocab_size=VOCAB, n_numeric=N_NUMERIC, sequence=sequence)
    assert make_encoder("gru", causal=True).pooling is None


def test_the_sequence_classifier_refuses_a_causal_encoder():
    encoder = partial(EventEncoder, sequence=SEQUENCE_ENCODERS["gru"], causal=True)
    with pytest.raises(ValueError, match=r"model\.module\.encoder\.causal"):
        SequenceClassifier(encoder=encoder, vocab_size=VOCAB, n_numeric=N_NUMERIC, n_static=0, num_classes=2)


def test_contrastive_pretraining_refuses_a_causal_encoder():
    encoder = partial(EventEncoder, sequence=SEQUENCE_ENCODERS["gru"], causal=True)
    with pytest.raises(ValueError, match="contrastive pretraining"):
        ContrastivePretrainer(encoder=encoder, vocab_size=VOCAB, n_numeric=N_NUMERIC)
