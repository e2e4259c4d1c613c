"""SequenceClassifier: learns an order-dependent task, epoch metrics, determinism, checkpoints, config."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch.optim import AdamW
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.utils.data import DataLoader

from behave.data.batches.batch import EventBatch
from behave.models.encoder import EventEncoder
from behave.models.sequence_classifier import SequenceClassifier
from behave.models.sequence_encoders import RNN
from behave.models.tokens import token_encoder

VOCAB = 16  # 0 padding, 1 unknown, 5 and 7 are the signal tokens, the rest is noise
NOISE_TOKENS = np.array([2, 3, 4, 6, 8, 9, 10, 11, 12, 13, 14, 15])


@dataclass(frozen=True)
class Example:
    tokens: np.ndarray  # (L,)
    numeric: np.ndarray  # (L, 1)
    static: np.ndarray  # (D,)
    label: int
    index: int  # row within its split part


def rnn_encoder(embedding_dim: int | str = 8, pooling: str = "last", **rnn_settings) -> partial:
    """The encoder partial a model config builds: embedding tokens, a GRU, a pooling."""
    tokens = partial(token_encoder, embedding_dim=embedding_dim)
    return partial(
        EventEncoder, tokens=tokens, sequence=partial(RNN, cell="gru", **rnn_settings), pooling=pooling
    )


def collate(examples: list[Example]) -> EventBatch:
    lengths = torch.tensor([len(example.tokens) for example in examples])
    tokens = torch.zeros(len(examples), int(lengths.max()), dtype=torch.long)
    numeric = torch.zeros(len(examples), int(lengths.max()), 1)
    for row, example in enumerate(examples):
        tokens[row, : len(example.tokens)] = torch.from_numpy(example.tokens)
        numeric[row, : len(example.tokens)] = torch.from_numpy(example.numeric)
    return EventBatch(
        tokens=tokens,
        numeric=numeric,
        fields=torch.zeros(*tokens.shape, 0, dtype=torch.long),
        lengths=lengths,
        labels=torch.tensor([example.label for example in examples]),
        static=torch.from_numpy(np.stack([example.static for example in examples])),
        index=torch.tensor([example.index for example in examples]),
    )


def order_task(n: int, seed: int, n_static: int = 0) -> list[Example]:
    """Label 1 when token 5 comes after token 7. Both appear once in every sequence, so only order tells."""
    rng = np.random.default_rng(seed)
    examples = []
    for index in range(n):
        length = int(rng.integers(3, 12))
        tokens = rng.choice(NOISE_TOKENS, size=length)
        first, second = rng.choice(length, size=2, replace=False)
        tokens[first], tokens[second] = 7, 5
        numeric = rng.normal(size=(length, 1)).astype(np.float32)
        static = rng.normal(size=n_static).astype(np.float32)
        examples.append(Example(tokens, numeric, static, int(second > first), index))
    return examples


def which_token_task(n: int, seed: int) -> list[Example]:
    """Three classes: which of the tokens 5, 6, 7 the sequence contains (exactly one)."""
    rng = np.random.default_rng(seed)
    examples = []
    for index in range(n):
        length = int(rng.integers(3, 12))
        label = int(rng.integers(0, 3))
        tokens = rng.choice(NOISE_TOKENS[NOISE_TOKENS != 6], size=length)
        tokens[rng.integers(length)] = 5 + label
        numeric = rng.normal(size=(length, 1)).astype(np.float32)
        examples.append(Example(tokens, numeric, rng.normal(size=2).astype(np.float32), label, index))
    return examples


def loader(examples: list[Example], shuffle: bool = False, batch_size: int = 32) -> DataLoader:
    return DataLoader(examples, batch_size=batch_size, shuffle=shuffle, collate_fn=collate)


def make_model(num_classes: int = 2, n_static: int = 0, **kwargs) -> SequenceClassifier:
    settings = dict(
        encoder=rnn_encoder(embedding_dim=16, hidden_size=32, pooling="last"),
        optimizer=partial(AdamW, lr=1e-2),
        head_hidden=32,
        head_dropout=0.0,
    )
    if num_classes > 2:
        settings["monitor"] = "val/macro_auroc"
    return SequenceClassifier(
        vocab_size=VOCAB,
        n_numeric=1,
        n_static=n_static,
        num_classes=num_classes,
        **(settings | kwargs),
    )


def make_trainer(max_epochs: int, deterministic: bool = False) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=deterministic,
    )


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Models this small gain nothing from intra-op threads, and spinning threads crawl on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def restore_determinism_flag():
    """Trainer(deterministic=True) flips a process-wide torch flag; leave it as other tests found it."""
    enabled = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(enabled)


@pytest.mark.slow
def test_learns_that_event_order_matters():
    pl.seed_everything(0)
    model = make_model()
    val = loader(order_task(300, seed=2))
    (untrained,) = make_trainer(max_epochs=1).validate(model, val, verbose=False)
    trainer = make_trainer(max_epochs=4)
    trainer.fit(model, loader(order_task(600, seed=1), shuffle=True), val)
    (metrics,) = trainer.validate(model, val, verbose=False)
    assert metrics["val/auroc"] > 0.9
    assert metrics["val/loss"] < 0.5 * untrained["val/loss"]
    assert metrics["val/accuracy"] > 0.8
    assert {"val/loss", "val/auprc"} <= metrics.keys()


@pytest.mark.slow
def test_multiclass_head_reduces_loss_and_logs_multiclass_metrics():
    pl.seed_everything(0)
    model = make_model(num_classes=3, n_static=2)
    val = loader(which_token_task(150, seed=4))
    trainer = make_trainer(max_epochs=4)
    (before,) = trainer.validate(model, val, verbose=False)
    trainer.fit(model, loader(which_token_task(400, seed=3), shuffle=True), val)
    (after,) = trainer.validate(model, val, verbose=False)
    assert after.keys() == {"val/loss", "val/accuracy", "val/macro_f1", "val/macro_auroc", "val/selection"}
    assert after["val/loss"] < 0.5 * before["val/loss"]
    assert after["val/accuracy"] > 0.8
    probs = model.predict_proba(next(iter(val)))
    assert probs.shape == (32, 3)
    assert torch.allclose(probs.sum(dim=1), torch.ones(32))


def test_epoch_metrics_cover_all_rows_not_a_mean_over_batches():
    pl.seed_everything(0)
    model = make_model()
    examples = order_task(90, seed=5)
    # Batches of 7 give per-batch AUROCs whose mean would differ from the AUROC over all 90 rows.
    (metrics,) = make_trainer(max_epochs=1).validate(model, loader(examples, batch_size=7), verbose=False)
    model.eval()
    with torch.no_grad():
        positive = model.predict_proba(collate(examples))[:, 1].numpy()
    labels = np.array([example.label for example in examples])
    assert metrics["val/auroc"] == pytest.approx(roc_auc_score(labels, positive), abs=1e-5)
    assert metrics["val/accuracy"] == pytest.approx(np.mean((positive >= 0.5) == labels), abs=1e-6)


def test_predict_proba_gives_binary_probabilities_from_the_logit():
    pl.seed_everything(0)
    model = make_model().eval()
    batch = collate(order_task(40, seed=6))
    with torch.no_grad():
        probs = model.predict_proba(batch)
        logits = model(batch)
    assert probs.shape == (40, 2)
    assert torch.allclose(probs.sum(dim=1), torch.ones(40))
    assert torch.allclose(probs[:, 1], torch.sigmoid(logits[:, 0]), atol=1e-6)


def test_static_inputs_reach_the_head():
    pl.seed_everything(0)
    model = make_model(n_static=2).eval()
    batch = collate(order_task(8, seed=7, n_static=2))
    shifted = EventBatch(**{**batch.__dict__, "static": batch.static + 3.0})
    with torch.no_grad():
        assert not torch.allclose(model(batch), model(shifted))


def train_weights(seed: int) -> dict[str, torch.Tensor]:
    pl.seed_everything(seed)
    model = make_model(encoder=rnn_encoder(embedding_dim=8, hidden_size=16, dropout=0.3, num_layers=2))
    trainer = make_trainer(max_epochs=2, deterministic=True)
    trainer.fit(model, loader(order_task(128, seed=8), shuffle=True), loader(order_task(32, seed=9)))
    return model.state_dict()


@pytest.mark.slow
def test_same_seed_gives_identical_weights():
    first, second, other_seed = train_weights(11), train_weights(11), train_weights(12)
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert not all(torch.equal(first[name], other_seed[name]) for name in first)


@pytest.mark.slow
def test_checkpoint_loads_weights_only_into_a_fresh_module(tmp_path):
    pl.seed_everything(0)
    scheduler = partial(ReduceLROnPlateau, mode="max", patience=1)
    model = make_model(scheduler=scheduler, class_weights=[1.0, 2.0])
    trainer = make_trainer(max_epochs=1)
    trainer.fit(model, loader(order_task(64, seed=10), shuffle=True), loader(order_task(32, seed=11)))
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)

    checkpoint = torch.load(path, weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    assert hparams["embedding_dim"] == model.embedding_dim == 16
    sequence = hparams["encoder"]["sequence"]
    assert sequence["cell"] == "gru" and sequence["hidden_size"] == 32
    assert hparams["optimizer"] == {"_target_": "torch.optim.adamw.AdamW", "lr": 1e-2}
    assert hparams["class_weights"] == [1.0, 2.0]

    pl.seed_everything(1)
    fresh = make_model()  # built without class weights: they are config, not state
    batch = collate(order_task(16, seed=12))
    with torch.no_grad():
        assert not torch.allclose(fresh.eval()(batch), model.eval()(batch))
        fresh.load_state_dict(checkpoint["state_dict"])
        assert torch.equal(fresh(batch), model(batch))


def test_class_weights_set_bce_pos_weight_and_cross_entropy_weight():
    logits, labels = torch.randn(50, 1), torch.randint(0, 2, (50,))
    weighted = make_model(class_weights=[0.5, 2.0])
    expected = F.binary_cross_entropy_with_logits(logits[:, 0], labels.float(), pos_weight=torch.tensor(4.0))
    assert torch.allclose(weighted.loss(logits, labels), expected)
    assert not torch.allclose(make_model().loss(logits, labels), expected)

    logits, labels = torch.randn(50, 3), torch.randint(0, 3, (50,))
    weights = [1.0, 2.0, 0.5]
    expected = F.cross_entropy(logits, labels, weight=torch.tensor(weights))
    assert torch.allclose(make_model(num_classes=3, class_weights=weights).loss(logits, labels), expected)
    assert "class_weights" not in weighted.state_dict()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"num_classes": 3, "monitor": "val/auroc"}, "val/macro_auroc"),
        ({"monitor": "val/f1"}, "val/auprc"),
        ({"class_weights": [1.0, 2.0, 3.0]}, "3 entries for 2 classes"),
        ({"num_classes": 1}, ">= 2"),
    ],
)
def test_rejects_inconsistent_config(settings, message):
    with pytest.raises(ValueError, match=message):
        make_model(**settings)


def test_plateau_scheduler_monitors_the_metric_in_its_direction():
    model = make_model(scheduler=partial(ReduceLROnPlateau, mode="max"))
    config = model.configure_optimizers()
    assert config["lr_scheduler"]["monitor"] == "val/auroc"
    assert isinstance(config["optimizer"], AdamW)
    wrong_direction = make_model(scheduler=partial(ReduceLROnPlateau, mode="min"))
    with pytest.raises(ValueError, match="mode='max'"):
        wrong_direction.configure_optimizers()
    assert make_model(monitor="val/loss").monitor_mode == "min"


def test_reports_resolved_embedding_dim_and_trainable_parameter_count():
    model = make_model(encoder=rnn_encoder(embedding_dim="fourth_root", hidden_size=8))
    assert model.embedding_dim == max(2, round(VOCAB**0.25)) == model.hparams["embedding_dim"]
    model.encoder.tokens.embedding.weight.requires_grad_(False)
    all_parameters = sum(p.numel() for p in model.parameters())
    assert model.n_parameters == all_parameters - VOCAB * model.embedding_dim
