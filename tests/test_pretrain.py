"""Self-supervised pretraining (CoLES) and the models that start from a pretrained encoder."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from behave.data.batches.loaders import SequenceDataset
from behave.data.errors import DataError
from behave.models.contrastive import (
    ContrastiveLoss,
    ContrastivePretrainer,
    Objective,
    SliceSampler,
    slice_batch,
    slice_retrieval,
)
from behave.tasks.dataset import prepare_task
from behave.tasks.pretrain import PretrainTask
from behave.train import run, run_context
from behave.training.lightning.pretrain import (
    ENCODER_WEIGHTS,
    EncoderInit,
    PretrainRecipe,
    build_encoder,
    encoder_sizes,
    pretrain_encoder,
    sequence_inputs,
)
from behave.training.tabular.embeddings import encode_rows
from tests.cli import behave_ok
from tests.compose import SMALL_DATA, compose_train

SHORT = ["objective.max_epochs=3", "trainer.max_epochs=2"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretrain")
    cfg = compose_train(["task=pretrain", *SMALL_DATA, *SHORT], folder / "pretrain", folder / "cache")
    return folder, cfg


@pytest.fixture(scope="module")
def data(workspace):
    _, cfg = workspace
    return prepare_task(cfg.data, instantiate(cfg.task))


def first_batch(data, n: int = 32):
    train = sequence_inputs(data.base, data.base.split.part("train")[:n])
    dataset = SequenceDataset(train, data.spec.sequences.max_len, data.spec.sequences.keep)
    return dataset.__getitems__(list(range(len(train))))


def encoder_factory(cfg):
    return instantiate(cfg.model.module.encoder)


def test_slices_are_contiguous_pieces_of_their_own_sequence(data):
    batch = first_batch(data)
    sampler = SliceSampler(n_slices=4, min_length=3, max_length=8)
    sliced, owner = slice_batch(batch, sampler, torch.Generator().manual_seed(0))
    assert len(sliced) == 4 * len(batch)
    assert torch.equal(sliced.index, owner)
    assert (sliced.labels == -1).all()
    for row in range(len(sliced)):
        length, source = int(sliced.lengths[row]), int(owner[row])
        full = int(batch.lengths[source])
        assert min(3, full) <= length <= min(8, full)
        piece = sliced.tokens[row, :length]
        windows = batch.tokens[source, :full].unfold(0, length, 1)
        assert (windows == piece).all(dim=1).any(), "a slice is not a contiguous run of its sequence"
        assert (sliced.tokens[row, length:] == 0).all()


@pytest.mark.slow
def test_contrastive_loss_separates_true_pairs_from_shuffled_ones_after_a_few_steps(data, workspace):
    _, cfg = workspace
    torch.manual_seed(0)
    sampler = SliceSampler(n_slices=4, min_length=5, max_length=15)
    module = ContrastivePretrainer(encoder_factory(cfg), **encoder_sizes(data.base), slices=sampler)
    optimizer = torch.optim.AdamW(module.parameters(), lr=0.003)
    train = sequence_inputs(data.base, data.base.split.part("train"))
    dataset = SequenceDataset(train, data.spec.sequences.max_len, data.spec.sequences.keep)
    generator = torch.Generator().manual_seed(1)
    for step in range(30):
        batch = dataset.__getitems__(list(range(step * 24 % 600, step * 24 % 600 + 24)))
        loss, _, _ = module._slice_step(batch, generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    module.eval()
    held_out = dataset.__getitems__(list(range(700, 764)))
    with torch.no_grad():
        sliced, owner = slice_batch(held_out, sampler, torch.Generator().manual_seed(5))
        vectors = module(sliced)
        true_loss = float(module.contrastive_loss(vectors, owner))
        shuffled = owner[torch.randperm(len(owner), generator=torch.Generator().manual_seed(6))]
        shuffled_loss = float(module.contrastive_loss(vectors, shuffled))
        similarity = vectors @ vectors.T
        same = (owner[:, None] == owner[None, :]) & ~torch.eye(len(owner), dtype=torch.bool)
        different = owner[:, None] != owner[None, :]
    assert true_loss < 0.8 * shuffled_loss
    # Two slices of one sequence sit closer than slices of two different sequences.
    assert float(similarity[same].mean()) > float(similarity[different].mean())
    # A slice's nearest neighbour is one of its own sequence's far more often than chance (3 of 255).
    assert float(slice_retrieval(vectors, owner)) > 0.3


def test_infonce_loss_also_prefers_true_pairs():
    torch.manual_seed(0)
    owner = torch.arange(8).repeat_interleave(3)
    centres = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    vectors = torch.nn.functional.normalize(centres[owner] + 0.1 * torch.randn(24, 16), dim=-1)
    loss = ContrastiveLoss(kind="infonce", temperature=0.1)
    assert float(loss(vectors, owner)) < float(loss(vectors, owner[torch.randperm(24)]))


@pytest.mark.slow
def test_pretraining_never_reads_labels(data, workspace, tmp_path):
    folder, cfg = workspace
    objective = Objective(slices=SliceSampler(3, 3, 10), max_epochs=2, batch_size=64)
    unlabelled_log = replace(data.base.log, labels=np.full(data.base.log.n_sequences, np.nan))
    weights = []
    for name, base in (("labels", data.base), ("nan", replace(data.base, log=unlabelled_log))):
        out = tmp_path / name
        out.mkdir()
        trainer = run_context(cfg, out).lightning.trainer
        pretrain_encoder(base, encoder_factory(cfg), objective, 0, out, trainer)
        weights.append(torch.load(out / ENCODER_WEIGHTS, weights_only=True))
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key


@pytest.mark.slow
@pytest.mark.parametrize("parts", [("train",), ("train", "val", "test")])
def test_pretraining_reads_the_sequences_of_its_parts_only(data, workspace, tmp_path, parts):
    _, cfg = workspace
    seen: list[np.ndarray] = []
    original = SequenceDataset.__init__

    def spy(self, inputs, *args, **kwargs):
        seen.append(np.asarray(inputs.sequence))
        original(self, inputs, *args, **kwargs)

    objective = Objective(slices=SliceSampler(3, 3, 10), max_epochs=1, parts=parts)
    SequenceDataset.__init__ = spy
    try:
        trainer = run_context(cfg, tmp_path).lightning.trainer
        pretrain_encoder(data.base, encoder_factory(cfg), objective, 0, tmp_path, trainer)
    finally:
        SequenceDataset.__init__ = original
    read = np.unique(np.concatenate(seen))
    expected = np.sort(np.concatenate([data.base.split.part(part) for part in parts]))
    assert np.array_equal(read, expected)


def test_objective_parts_must_be_split_parts():
    with pytest.raises(ValueError, match="objective.parts"):
        Objective(parts=["train", "holdout"])


@pytest.fixture(scope="module")
def pretrain_run(workspace):
    folder, cfg = workspace
    result = run(cfg)
    assert result.status == "ok", result.error
    return folder / "pretrain", result


@pytest.mark.slow
def test_a_pretrain_run_records_label_free_scores(pretrain_run):
    run_dir, result = pretrain_run
    assert result.task["name"] == "pretrain"
    assert result.best_val["metric"] == "val/loss"
    assert set(result.test_metrics) == {"loss", "slice_retrieval"}
    assert 0.0 <= result.test_metrics["slice_retrieval"] <= 1.0
    assert (run_dir / ENCODER_WEIGHTS).exists()
    assert not (run_dir / "test_predictions.parquet").exists()


@pytest.mark.slow
def test_a_loaded_encoder_reproduces_its_sequence_vectors(pretrain_run, data, workspace):
    run_dir, _ = pretrain_run
    folder, _ = workspace
    cfg = compose_train(
        ["model=coles_gru", *SMALL_DATA, f"pretrain_from={run_dir}"], folder / "c", folder / "cache"
    )
    recipe = instantiate(cfg.model)
    sizes = {"n_static": data.n_static, "num_classes": data.num_classes, **encoder_sizes(data.base)}
    classifier = recipe.build(sizes)
    context = run_context(cfg, folder / "c")
    summary = recipe.encoder_init.apply(classifier, data.base, recipe.module.keywords["encoder"], context)
    assert summary["from"] == str(run_dir)
    pretrained = build_encoder(recipe.module.keywords["encoder"], encoder_sizes(data.base))
    pretrained.load_state_dict(torch.load(run_dir / ENCODER_WEIGHTS, weights_only=True))
    test = data.inputs("test")
    expected = encode_rows(pretrained, test, data.spec, 256)
    assert np.array_equal(encode_rows(classifier.encoder, test, data.spec, 256), expected)


@pytest.mark.slow
def test_an_encoder_pretrained_on_other_data_is_refused(pretrain_run, workspace):
    run_dir, _ = pretrain_run
    folder, _ = workspace
    cfg = compose_train(
        ["model=coles_gru", "data.source.n_users=900", f"pretrain_from={run_dir}", *SHORT],
        folder / "other",
        folder / "cache",
    )
    result = run(cfg)
    assert result.status == "failed"
    assert "pretrain_from" in result.error and "pretrained on prepared data" in result.error


def test_task_pretrain_needs_a_neural_model():
    with pytest.raises(DataError, match="model=xgboost has none"):
        PretrainTask(Objective(), PretrainRecipe).model_recipe(type("Trees", (), {"name": "xgboost"})())


@pytest.mark.slow
def test_pretrained_models_pretrain_once_per_seed_and_predict_as_they_scored(workspace, tmp_path):
    folder, _ = workspace
    results = {}
    for model in ("coles_gru", "embeddings_aggregates_xgboost"):
        cfg = compose_train([f"model={model}", *SMALL_DATA, *SHORT], tmp_path / model, folder / "cache")
        results[model] = run(cfg)
        assert results[model].status == "ok", results[model].error
    sources = {model: r.extra["encoder_init"]["from"] for model, r in results.items()}
    assert sources["coles_gru"] == sources["embeddings_aggregates_xgboost"], "pretrained twice for one seed"
    assert 0.5 < results["embeddings_aggregates_xgboost"].test_metrics["auroc"] <= 1.0
    # The embeddings model rebuilds its vectors from the saved encoder and scores the test rows the same.
    cfg = compose_train(
        ["model=embeddings_aggregates_xgboost", *SMALL_DATA], tmp_path / "x", folder / "cache"
    )
    data = prepare_task(cfg.data, instantiate(cfg.task))
    recipe = instantiate(cfg.model)
    scored = recipe.predict_proba(tmp_path / "embeddings_aggregates_xgboost", data.inputs("test"), data.spec)
    saved = __import__("pandas").read_parquet(
        tmp_path / "embeddings_aggregates_xgboost" / "test_predictions.parquet"
    )
    assert np.allclose(scored[:, 1], saved["prob_1"].to_numpy(), atol=1e-6)
    # The report says where the encoders came from and what pretraining cost, apart from the fit seconds.
    behave_ok("behave.report", str(tmp_path), "--n-boot", "200")
    report = (tmp_path / "report.md").read_text()
    assert "### Pretraining" in report and "2 runs started from 1 encoder(s)" in report


def test_freeze_epochs_keeps_the_encoder_fixed_then_trains_it(workspace):
    from behave.training.lightning.pretrain import FreezeEncoder

    _, cfg = workspace
    module = torch.nn.Module()
    module.encoder = torch.nn.Linear(2, 2)
    callback = FreezeEncoder(2)
    for epoch, trains in ((0, False), (1, False), (2, True)):
        callback.on_train_epoch_start(type("T", (), {"current_epoch": epoch})(), module)
        assert all(p.requires_grad == trains for p in module.encoder.parameters())


@pytest.mark.slow
def test_encoder_init_without_a_run_pretrains_into_the_data_cache(data, workspace, tmp_path):
    _, cfg = workspace
    init = EncoderInit(objective=Objective(slices=SliceSampler(3, 3, 8), max_epochs=1))
    context = replace(run_context(cfg, tmp_path), seed=3)
    factory = partial(encoder_factory(cfg).func, **encoder_factory(cfg).keywords)
    _, record, folder = init.pretrained(data.base, factory, context)
    assert folder.parent == data.base.directory / "pretrained"
    assert record["seed"] == 3 and record["data_fingerprint"] == data.base.fingerprint
    again = init.pretrained(data.base, factory, context)[2]
    assert again == folder
