"""EventEncoder: embedding-size rules, padding invariance, masked pooling, agreement with nn.GRU/LSTM."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from behave.data.batches.batch import EventBatch
from behave.models.embedding_size import resolve_embedding_dim
from behave.models.encoder import EventEncoder
from behave.models.pooling import AttentionPooling, MaxPooling, MeanPooling
from behave.models.rnn import reversal_index
from behave.models.sequence_encoders import CNN, RNN, Bag, Flatten, Transformer
from behave.models.tokens import EmbeddingTokens, OneHotTokens, token_encoder

VOCAB, N_NUMERIC = 20, 3
FIELD_SIZES = (6, 9)  # two categorical fields embedded beside the token
CELLS = ["gru", "lstm"]
POOLINGS = ["last", "mean", "max", "attention", "last+mean+max"]


def padded_batch(sequences: list[tuple[torch.Tensor, torch.Tensor]]) -> EventBatch:
    """Right-pad (tokens (L,), numeric (L, F)) pairs into an EventBatch with 0 at padding; the embedded
    fields' codes are a fixed function of the token, so a sequence has the same fields in any batch."""
    lengths = torch.tensor([len(tokens) for tokens, _ in sequences])
    size, max_len = len(sequences), int(lengths.max())
    tokens = torch.zeros(size, max_len, dtype=torch.long)
    numeric = torch.zeros(size, max_len, N_NUMERIC)
    for row, (seq_tokens, seq_numeric) in enumerate(sequences):
        tokens[row, : len(seq_tokens)] = seq_tokens
        numeric[row, : len(seq_tokens)] = seq_numeric
    real = tokens > 0
    fields = torch.stack([torch.where(real, 1 + tokens % (n - 1), 0) for n in FIELD_SIZES], dim=-1)
    return EventBatch(
        tokens=tokens,
        numeric=numeric,
        fields=fields,
        lengths=lengths,
        labels=torch.zeros(size, dtype=torch.long),
        static=torch.zeros(size, 0),
        index=torch.arange(size),
    )


def random_sequence(length: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = torch.randint(1, VOCAB, (length,), generator=generator)
    return tokens, torch.randn(length, N_NUMERIC, generator=generator)


SEQUENCE_ENCODERS = {
    "gru": partial(RNN, cell="gru", hidden_size=16, num_layers=2),
    "lstm": partial(RNN, cell="lstm", hidden_size=16, num_layers=2),
    "transformer": partial(Transformer, d_model=16, n_heads=2, num_layers=2, dim_feedforward=32),
    "cnn": partial(CNN, channels=16, kernel_size=3, num_layers=2),
    "bag": Bag,
    "flatten": partial(Flatten, last_n=6, hidden_size=16),
}


def make_encoder(
    sequence: str = "gru",
    embedding_dim: int | str = 8,
    pooling: str = "last",
    field_sizes=FIELD_SIZES,
    vocab_size: int = VOCAB,
    token_dropout: float = 0.0,
    causal: bool = False,
    **settings,
) -> EventEncoder:
    """An encoder of the given sequence part (settings override its defaults), eval mode, seed 0."""
    torch.manual_seed(0)
    part = SEQUENCE_ENCODERS[sequence]
    tokens = partial(token_encoder, embedding_dim=embedding_dim, dropout=token_dropout)
    return EventEncoder(
        vocab_size=vocab_size, n_numeric=N_NUMERIC, field_sizes=field_sizes, tokens=tokens,
        sequence=partial(part, **settings), pooling=pooling, causal=causal,
    ).eval()  # fmt: skip


@pytest.mark.parametrize("vocab_size", [1, 7, 250, 10_000, 3_000_000])
def test_embedding_rules_follow_their_formulas(vocab_size):
    assert resolve_embedding_dim("fourth_root", vocab_size) == max(2, round(vocab_size**0.25))
    assert resolve_embedding_dim("fastai", vocab_size) == min(600, round(1.6 * vocab_size**0.56))
    assert resolve_embedding_dim(24, vocab_size) == 24


def test_embedding_rules_reject_unknown_names_and_bad_sizes():
    with pytest.raises(ValueError, match="fourth_root") as error:
        resolve_embedding_dim("sqrt", 100)
    assert "fastai" in str(error.value) and "'sqrt'" in str(error.value)
    with pytest.raises(ValueError, match=">= 1"):
        resolve_embedding_dim(0, 100)


def test_encoder_resolves_rule_and_reports_output_dim():
    encoder = make_encoder(vocab_size=5000, embedding_dim="fastai", bidirectional=True)
    expected_dim = min(600, round(1.6 * 5000**0.56))
    assert encoder.embedding_dim == expected_dim
    assert encoder.tokens.token_vectors().shape == (5000, expected_dim)
    generator = torch.Generator().manual_seed(1)
    output = encoder(padded_batch([random_sequence(length, generator) for length in (4, 9, 1)]))
    assert encoder.output_dim == 32
    assert output.shape == (3, 32)


@pytest.mark.parametrize(
    "bad",
    [{"cell": "rnn"}, {"pooling": "sum"}, {"embedding_dim": "sqrt"}, {"sequence": "cnn", "kernel_size": 4}],
)
def test_encoder_rejects_unknown_options(bad):
    with pytest.raises(ValueError, match="valid"):
        make_encoder(**bad)


def test_reversal_index_reverses_within_length_and_is_its_own_inverse():
    lengths = torch.tensor([3, 1, 5])
    index = reversal_index(lengths, 5)
    assert index.tolist() == [[2, 1, 0, 3, 4], [0, 1, 2, 3, 4], [4, 3, 2, 1, 0]]
    assert torch.equal(index.gather(1, index), torch.arange(5).expand(3, 5))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("cell", CELLS)
def test_sequence_encodes_the_same_alone_and_padded_in_a_batch(cell, pooling, bidirectional):
    encoder = make_encoder(cell=cell, pooling=pooling, bidirectional=bidirectional)
    generator = torch.Generator().manual_seed(2)
    target = random_sequence(6, generator)
    batch = padded_batch([random_sequence(9, generator), target, random_sequence(13, generator)])
    with torch.no_grad():
        alone = encoder(padded_batch([target]))[0]
        in_batch = encoder(batch)[1]
    assert torch.allclose(alone, in_batch, atol=1e-5)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_values_at_padded_positions_do_not_matter(pooling, bidirectional):
    encoder = make_encoder(pooling=pooling, bidirectional=bidirectional)
    generator = torch.Generator().manual_seed(3)
    batch = padded_batch([random_sequence(length, generator) for length in (3, 11, 7)])
    padding = ~batch.mask
    garbage = EventBatch(
        tokens=batch.tokens.masked_fill(padding, VOCAB - 1),
        numeric=batch.numeric.masked_fill(padding.unsqueeze(-1), 1e3),
        fields=batch.fields.masked_fill(padding.unsqueeze(-1), 5),
        lengths=batch.lengths,
        labels=batch.labels,
        static=batch.static,
        index=batch.index,
    )
    with torch.no_grad():
        assert torch.allclose(encoder(batch), encoder(garbage), atol=1e-6)


def test_mean_max_attention_pooling_read_only_real_events():
    states = torch.randn(2, 4, 3)
    lengths = torch.tensor([2, 4])
    mask = torch.arange(4)[None, :] < lengths[:, None]
    states[0, 2:] = 1e6  # huge padded states would dominate a sum or a max that looked at them
    assert torch.allclose(MeanPooling(3, False)(states, mask, lengths)[0], states[0, :2].mean(dim=0))
    assert torch.equal(MaxPooling(3, False)(states, mask, lengths)[0], states[0, :2].amax(dim=0))
    attention = AttentionPooling(3, False)
    weights = attention.attention_weights(states, mask)
    assert torch.equal(weights[0, 2:], torch.zeros(2))
    assert torch.allclose(weights.sum(dim=1), torch.ones(2))
    pooled = attention(states, mask, lengths)
    assert torch.allclose(pooled[0], weights[0, :2] @ states[0, :2])


@pytest.mark.parametrize("cell", CELLS)
def test_bidirectional_stack_matches_torch_on_packed_sequences(cell):
    """Our padded two-RNN stack computes what nn.GRU/LSTM(bidirectional=True) computes on packed input."""
    encoder = make_encoder(cell, bidirectional=True, pooling="last", field_sizes=())
    reference = getattr(nn, cell.upper())(
        8 + N_NUMERIC, 16, num_layers=2, bidirectional=True, batch_first=True
    )
    with torch.no_grad():
        for layer in range(2):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(reference, f"{name}_l{layer}").copy_(
                    getattr(encoder.sequence.rnn.forward_layers[layer], f"{name}_l0")
                )
                reverse = getattr(reference, f"{name}_l{layer}_reverse")
                reverse.copy_(getattr(encoder.sequence.rnn.backward_layers[layer], f"{name}_l0"))
    generator = torch.Generator().manual_seed(4)
    batch = padded_batch([random_sequence(length, generator) for length in (5, 12, 1, 8)])
    with torch.no_grad():
        inputs = encoder.event_inputs(batch)
        packed = pack_padded_sequence(inputs, batch.lengths, batch_first=True, enforce_sorted=False)
        packed_states, final = reference(packed)
        expected_states, _ = pad_packed_sequence(packed_states, batch_first=True)
        final_hidden = final[0] if cell == "lstm" else final
        states = encoder.sequence(inputs, batch.lengths, batch.mask)
        pooled = encoder(batch)
    mask = batch.mask
    assert torch.allclose(states[mask], expected_states[mask], atol=1e-5)
    # "last" pooling is the final hidden state of the top layer's two directions.
    assert torch.allclose(pooled, torch.cat([final_hidden[-2], final_hidden[-1]], dim=-1), atol=1e-5)


def test_training_mode_dropout_changes_output_and_eval_is_deterministic():
    encoder = make_encoder(dropout=0.5, token_dropout=0.5)
    generator = torch.Generator().manual_seed(5)
    batch = padded_batch([random_sequence(length, generator) for length in (6, 10)])
    encoder.train()
    assert not torch.allclose(encoder(batch), encoder(batch))
    encoder.eval()
    assert torch.equal(encoder(batch), encoder(batch))


@pytest.mark.parametrize("sequence", list(SEQUENCE_ENCODERS))
def test_every_sequence_encoder_is_blind_to_padding(sequence):
    """Alone or padded in a batch, and whatever sits at the padded positions: the same output."""
    pooling = "last+mean+max" if sequence not in ("bag", "flatten") else "mean"
    encoder = make_encoder(sequence, pooling=pooling)
    generator = torch.Generator().manual_seed(6)
    target = random_sequence(5, generator)
    batch = padded_batch([random_sequence(9, generator), target, random_sequence(2, generator)])
    padding = ~batch.mask
    garbage = EventBatch(
        **{**batch.__dict__, "tokens": batch.tokens.masked_fill(padding, VOCAB - 1),
           "numeric": batch.numeric.masked_fill(padding.unsqueeze(-1), 1e3),
           "fields": batch.fields.masked_fill(padding.unsqueeze(-1), 5)}
    )  # fmt: skip
    with torch.no_grad():
        alone = encoder(padded_batch([target]))[0]
        in_batch, with_garbage = encoder(batch), encoder(garbage)
    assert torch.allclose(alone, in_batch[1], atol=1e-5)
    assert torch.allclose(in_batch, with_garbage, atol=1e-5)
    assert in_batch.shape == (3, encoder.output_dim)


@pytest.mark.parametrize("sequence", ["gru", "transformer", "cnn"])
def test_order_reaches_every_ordered_encoder_and_not_the_bag(sequence):
    generator = torch.Generator().manual_seed(7)
    tokens, numeric = random_sequence(8, generator)
    flipped = (tokens.flip(0), numeric.flip(0))
    for name, differs in ((sequence, True), ("bag", False)):
        encoder = make_encoder(name, pooling="mean")
        with torch.no_grad():
            a, b = encoder(padded_batch([(tokens, numeric)])), encoder(padded_batch([flipped]))
        assert (not torch.allclose(a, b, atol=1e-5)) == differs, name


def test_onehot_tokens_equal_an_embedding_frozen_at_the_identity():
    generator = torch.Generator().manual_seed(8)
    batch = padded_batch([random_sequence(length, generator) for length in (4, 7)])
    onehot = OneHotTokens(VOCAB, FIELD_SIZES)
    identity = EmbeddingTokens(VOCAB, FIELD_SIZES, embedding_dim=VOCAB, field_embedding_dim=1)
    identity.field_embeddings = torch.nn.ModuleList(
        torch.nn.Embedding(n, n, padding_idx=0) for n in FIELD_SIZES
    )
    with torch.no_grad():
        for table in [identity.embedding, *identity.field_embeddings]:
            table.weight.copy_(torch.eye(table.num_embeddings))
            table.weight[0] = 0.0  # the padding row
    assert torch.equal(onehot(batch), identity(batch))
    assert not list(onehot.parameters())  # nothing to train
    assert isinstance(token_encoder(VOCAB, embedding_dim="onehot"), OneHotTokens)
    assert onehot.output_dim == VOCAB + sum(FIELD_SIZES)
