"""The neural family on a per-event task: causal passes over all rows of a sequence, through the real model
configs (conf/model/*.yaml) built as the per-event recipe builds them.

Hand-built logs, tiny untrained models, no Lightning fit (the end-to-end fit is marked slow): a row's
prediction reads no event at or after the one it predicts, every row of a part is predicted exactly once
whatever the window, and a row predicted inside a pass equals the same row predicted alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from sklearn.metrics import roc_auc_score

from behave.data.batches.loaders import LengthBucketBatchSampler
from behave.data.batches.positions import PositionDataModule, PositionDataset, plan_passes
from behave.data.errors import DataError
from behave.data.inputs import RowInputs
from behave.data.spec import Keep, SequenceSpec
from behave.data.transforms.sequences import SequenceStore
from behave.models.next_event import NextEventModel
from behave.tasks.dataset import prepare_task
from behave.training.lightning.next_event import NextEventRecipe, predict_positions
from tests.cli import behave_ok
from tests.compose import compose_train

VOCAB, N_NUMERIC, N_STATIC, CLASSES = 40, 2, 3, 5
FIELD_SIZES = (6,)
KNOWN = {"skill": 4}
LENGTHS = (9, 4, 13, 2, 1, 7)
ENCODERS = ("gru", "lstm", "transformer", "cnn", "bag", "flatten")


def event_store(lengths=LENGTHS, seed: int = 0) -> SequenceStore:
    rng = np.random.default_rng(seed)
    n = int(sum(lengths))
    return SequenceStore(
        offsets=np.r_[0, np.cumsum(lengths)].astype(np.int64),
        tokens=rng.integers(2, VOCAB, n).astype(np.int32),
        numeric=rng.normal(size=(n, N_NUMERIC)).astype(np.float32),
        fields=rng.integers(1, FIELD_SIZES[0], (n, len(FIELD_SIZES))).astype(np.int32),
    )


def all_rows(events: SequenceStore, seed: int = 1, float_labels: bool = False) -> RowInputs:
    """A row for every cutoff 1..length-1 of every sequence, sequence-major, cutoff ascending."""
    rng = np.random.default_rng(seed)
    sequence = np.concatenate([np.full(n - 1, s) for s, n in enumerate(events.lengths) if n > 1])
    cutoff = np.concatenate([np.arange(1, n) for n in events.lengths if n > 1])
    return rows_of(events, sequence, cutoff, rng, float_labels)


def rows_of(events, sequence, cutoff, rng, float_labels=False) -> RowInputs:
    n = len(sequence)
    labels = rng.exponential(size=n) if float_labels else rng.integers(0, CLASSES, n)
    per_sequence = rng.normal(size=(events.n_sequences, N_STATIC)).astype(np.float32)
    return RowInputs(
        events=events,
        sequence=np.asarray(sequence, dtype=np.int64),
        cutoff=np.asarray(cutoff, dtype=np.int64),
        labels=labels,
        static=per_sequence[sequence],
        feature_source=pd.DataFrame(index=range(n)),
        sequence_ids=np.asarray(sequence).astype(str),
        ids={"known.skill": rng.integers(0, KNOWN["skill"], n)},
    )


@pytest.fixture(scope="module")
def neural_recipes(tmp_path_factory) -> dict:
    """The per-event recipe of every sequence encoder's model config, as the task's YAML builds it."""
    folder = Path(tmp_path_factory.mktemp("compose"))
    recipes = {}
    for name in ENCODERS:
        cfg = compose_train([f"model={name}"], folder / "run", folder / "cache")
        recipes[name] = NextEventRecipe(instantiate(cfg.model))
    return recipes


def build(recipe: NextEventRecipe, target_kind: str = "value", seed: int = 0) -> NextEventModel:
    torch.manual_seed(seed)
    sizes = {
        "vocab_size": VOCAB, "n_numeric": N_NUMERIC, "n_static": N_STATIC, "field_sizes": list(FIELD_SIZES),
        "target_kind": target_kind, "num_classes": CLASSES, "known": KNOWN, "target_offset": 2.0,
    }  # fmt: skip
    return recipe.build(sizes).eval()


def with_events_from(events: SequenceStore, sequence: int, cut: int, seed: int) -> SequenceStore:
    """The store with events cut, cut + 1, ... of one sequence redrawn (tokens, numeric inputs, fields)."""
    rng = np.random.default_rng(seed)
    changed = slice(events.offsets[sequence] + cut, events.offsets[sequence + 1])
    tokens, numeric, fields = events.tokens.copy(), events.numeric.copy(), events.fields.copy()
    size = changed.stop - changed.start
    tokens[changed] = rng.integers(2, VOCAB, size)
    numeric[changed] = rng.normal(size=(size, N_NUMERIC)) * 3
    fields[changed] = rng.integers(1, FIELD_SIZES[0], (size, len(FIELD_SIZES)))
    return SequenceStore(events.offsets, tokens, numeric, fields)


@pytest.mark.parametrize(
    ("encoder", "max_len", "keep"),
    [(name, 5, Keep.last) for name in ENCODERS] + [("gru", 64, Keep.last)],
)
def test_later_events_change_no_earlier_prediction(neural_recipes, encoder, max_len, keep):
    """Changing events c, c + 1, ... of a sequence (and the known fields of events after c) changes no
    prediction of a row with cutoff <= c; it does change a later one (the test can see a change)."""
    events = event_store()
    rows = all_rows(events)
    model = build(neural_recipes[encoder])
    sequences = SequenceSpec(max_len=max_len, keep=keep)
    before = predict_positions(model, rows, sequences, batch_size=4)
    target = 2  # the 13-event sequence: tiled into three passes at max_len 5
    for cut in (1, 4, 6, 11):
        later_rows = (rows.sequence == target) & (rows.cutoff > cut)
        known = rows.ids["known.skill"].copy()
        known[later_rows] = (known[later_rows] + 1) % KNOWN["skill"]
        changed = RowInputs(
            **{
                **rows.__dict__,
                "events": with_events_from(events, target, cut, seed=cut),
                "ids": {"known.skill": known},
            }
        )
        after = predict_positions(model, changed, sequences, batch_size=4)
        unchanged = ~later_rows
        np.testing.assert_allclose(after[unchanged], before[unchanged], rtol=0, atol=1e-6)
        assert np.abs(after[later_rows] - before[later_rows]).max() > 1e-6


def test_every_row_is_read_once_at_the_state_after_its_last_history_event():
    """Tiles of max_len events: each row sits at exactly one (pass, index), whose event is the row's
    event cutoff - 1, with the row's target and known fields; a pass never reads past its last row."""
    lengths = (13, 4, 1, 30, 6)
    events = event_store(lengths)
    events = SequenceStore(
        events.offsets, np.arange(2, 2 + events.offsets[-1]).astype(np.int32), events.numeric, events.fields
    )
    rows = all_rows(events)
    max_len = 5
    dataset = PositionDataset(rows, max_len, Keep.last, ["skill"])
    seen = np.zeros(len(rows), dtype=int)
    for passes in LengthBucketBatchSampler(dataset.lengths, 3, shuffle=False):
        batch = dataset.__getitems__(passes)
        real = batch.real.numpy()
        found = batch.rows.numpy()[real]
        np.add.at(seen, found, 1)
        flat_event = events.offsets[rows.sequence[found]] + rows.cutoff[found] - 1
        np.testing.assert_array_equal(batch.events.tokens.numpy()[real], events.tokens[flat_event])
        np.testing.assert_array_equal(batch.targets.numpy()[real], rows.labels[found])
        np.testing.assert_array_equal(batch.known.numpy()[real][:, 0], rows.ids["known.skill"][found])
        # The last state of every pass is read by a row: no pass reads an event no row of it may see.
        last = batch.events.lengths.numpy() - 1
        assert real[np.arange(len(last)), last].all()
        assert batch.events.tokens.shape[1] <= max_len
    np.testing.assert_array_equal(seen, 1)
    # 30 events, rows at cutoffs 1..29: passes end at 29, 24, 19, 14, 9, 4.
    long = dataset.passes.sequence == 3
    np.testing.assert_array_equal(np.sort(dataset.passes.end[long]), [4, 9, 14, 19, 24, 29])


def test_rows_of_one_part_that_skip_cutoffs_get_one_window_each():
    """Leave-last-out's validation part: one row per sequence (cutoff length - 2), a full window each."""
    events = event_store((13, 4, 30))
    rows = rows_of(events, [0, 1, 2], [11, 2, 28], np.random.default_rng(0))
    passes = plan_passes(rows.sequence, rows.cutoff, max_len=8)
    np.testing.assert_array_equal(passes.lengths, [8, 2, 8])
    np.testing.assert_array_equal(passes.row_index, [7, 1, 7])
    with pytest.raises(DataError, match="data.sequences.keep=last"):
        plan_passes(rows.sequence, rows.cutoff, max_len=8, keep=Keep.first)


def test_a_row_predicted_in_a_pass_equals_the_row_predicted_alone(neural_recipes):
    """Every row's prediction inside its batched, padded pass equals its own window fed alone."""
    events = event_store((13, 4, 9))
    rows = all_rows(events)
    model = build(neural_recipes["gru"])
    max_len = 5
    together = predict_positions(model, rows, SequenceSpec(max_len=max_len), batch_size=2)
    passes = plan_passes(rows.sequence, rows.cutoff, max_len)
    for r in range(len(rows)):
        # The events the row's pass holds before the one it predicts: fed alone as a window of their own.
        seen = rows.cutoff[r] - passes.start[passes.row_pass[r]]
        alone = RowInputs(**{**rows.__dict__, **take(rows, [r])})
        single = predict_positions(model, alone, SequenceSpec(max_len=seen), batch_size=1)
        np.testing.assert_allclose(single[0], together[r], rtol=0, atol=1e-5)


def take(rows: RowInputs, index: list[int]) -> dict:
    return {
        "sequence": rows.sequence[index], "cutoff": rows.cutoff[index], "labels": rows.labels[index],
        "static": rows.static[index], "sequence_ids": rows.sequence_ids[index],
        "ids": {name: ids[index] for name, ids in rows.ids.items()},
    }  # fmt: skip


@pytest.mark.parametrize("kind", ["value", "outcome", "time"])
def test_predictions_and_losses_of_each_target_kind(neural_recipes, kind):
    events = event_store()
    rows = all_rows(events, float_labels=kind == "time")
    if kind == "outcome":
        rows = RowInputs(**{**rows.__dict__, "labels": rows.labels % 2})
    model = build(neural_recipes["gru"], target_kind=kind)
    out = predict_positions(model, rows, SequenceSpec(max_len=6), batch_size=4)
    width = {"value": CLASSES, "outcome": 2, "time": 1}[kind]
    assert out.shape == (len(rows), width)
    if kind == "time":  # the head starts near the training mean, not at zero
        assert np.abs(out - 2.0).max() < 1.0
    else:
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-6)
    dataset = PositionDataset(rows, 6, Keep.last, ["skill"], float_targets=kind == "time")
    outputs, targets = model.scored(dataset.__getitems__(list(range(len(dataset)))))
    losses = model.row_losses(outputs, targets)
    assert losses.shape == (len(rows),) and torch.isfinite(losses).all()


def test_unknown_value_rows_are_predicted_but_carry_no_loss(neural_recipes):
    events = event_store()
    rows = all_rows(events)
    labels = rows.labels.copy()
    labels[::3] = -1  # test rows whose value never occurs in training
    rows = RowInputs(**{**rows.__dict__, "labels": labels})
    model = build(neural_recipes["gru"])
    dataset = PositionDataset(rows, 64, Keep.last, ["skill"])
    outputs, targets = model.scored(dataset.__getitems__(list(range(len(dataset)))))
    assert len(targets) == np.count_nonzero(labels >= 0) and (targets >= 0).all()


def test_bad_rows_and_models_are_refused(neural_recipes, tmp_path):
    events = event_store((5, 3))
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match="share a sequence and a cutoff"):
        PositionDataset(rows_of(events, [0, 0], [2, 2], rng), 8, Keep.last, ["skill"])
    with pytest.raises(DataError, match="past their sequence's last event"):
        PositionDataset(rows_of(events, [1], [4], rng), 8, Keep.last, ["skill"])
    with pytest.raises(DataError, match="known.level"):
        PositionDataset(rows_of(events, [1], [2], rng), 8, Keep.last, ["level"])
    cfg = compose_train(["model=gru", "model.module.encoder.sequence.bidirectional=true"], tmp_path, tmp_path)
    with pytest.raises(ValueError, match="bidirectional"):
        build(NextEventRecipe(instantiate(cfg.model)))
    cfg = compose_train(["model=gru", "model.module.class_weights=[1,2]"], tmp_path, tmp_path)
    with pytest.raises(DataError, match="class_weights"):
        NextEventRecipe(instantiate(cfg.model))


def learnable_rows(n_sequences: int, seed: int) -> RowInputs:
    """Rows whose next value is (the last history event's token + the predicted event's known skill) mod
    CLASSES: learnable only from both the causal state and the known field joined at the head."""
    rng = np.random.default_rng(seed)
    events = event_store(tuple(rng.integers(2, 30, n_sequences)), seed)
    rows = all_rows(events, seed)
    last_token = events.tokens[events.offsets[rows.sequence] + rows.cutoff - 1]
    labels = (last_token + rows.ids["known.skill"]) % CLASSES
    return RowInputs(**{**rows.__dict__, "labels": labels})


@pytest.mark.slow
def test_a_fit_learns_from_history_and_the_known_field(neural_recipes):
    train, val = learnable_rows(300, seed=0), learnable_rows(100, seed=1)
    torch.manual_seed(0)
    model = neural_recipes["gru"].build(
        {"vocab_size": VOCAB, "n_numeric": N_NUMERIC, "n_static": N_STATIC, "field_sizes": list(FIELD_SIZES),
         "target_kind": "value", "num_classes": CLASSES, "known": KNOWN}
    )  # fmt: skip
    data = PositionDataModule(train, val, SequenceSpec(max_len=16), 32, 256, 0, ["skill"])
    trainer = pl.Trainer(
        max_epochs=6, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, datamodule=data)
    logged = {name: float(value) for name, value in trainer.callback_metrics.items()}
    majority = np.bincount(val.labels).max() / len(val)
    assert logged["val/accuracy"] > majority + 0.2, (logged, majority)
    assert logged["val/selection"] == logged["val/loss"] < np.log(CLASSES)
    assert "train/loss" in logged
    # The module's own accuracy agrees with its predictions over all val rows.
    probs = predict_positions(model, val, SequenceSpec(max_len=16), batch_size=64)
    assert np.mean(probs.argmax(axis=1) == val.labels) == pytest.approx(logged["val/accuracy"], abs=1e-6)


E2E_RUNS = {
    "value": ["data=synthetic_next"],
    "outcome": [
        "data=synthetic_outcome",
        "task.target=correct",
        "task.target_kind=outcome",
        "task.known=[skill]",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(E2E_RUNS))
def test_behave_train_fits_the_per_event_gru_and_its_saved_model_predicts_again(tmp_path, kind):
    """`behave-train task=next model=gru` on the simulator: the next activity beats the training majority
    (the outcome: AUROC above chance), and the saved model predicts the test rows as the run scored them."""
    overrides = ["task=next", *E2E_RUNS[kind], "model=gru", "debug=fast", "trainer.max_epochs=4"]
    folders = [f"paths.run_dir={tmp_path / 'run'}", f"paths.cache_dir={tmp_path / 'cache'}"]
    behave_ok("behave.train", *overrides, *folders, f"data.cache_dir={tmp_path / 'cache'}")
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["status"] == "ok" and result["task"]["monitor"] == "val/loss"
    tested = result["test_metrics"]
    cfg = compose_train(overrides, tmp_path / "run", tmp_path / "cache")
    data = prepare_task(cfg.data, instantiate(cfg.task))
    test = data.inputs("test")
    recipe = NextEventRecipe(instantiate(cfg.model))
    outputs = recipe.predict_proba(tmp_path / "run", test, data.spec)
    if kind == "value":
        majority = result["dataset"]["task_card"]["parts"]["test"]["label_share"][data.class_names[0]]
        assert tested["accuracy"] > majority + 0.05, (tested, majority)
        assert outputs.shape == (len(test), data.num_classes)
        assert np.mean(outputs.argmax(axis=1) == test.labels) == pytest.approx(tested["accuracy"], abs=1e-9)
    else:
        assert tested["auroc"] > 0.58, tested
        assert outputs.shape == (len(test), 2)
        assert roc_auc_score(test.labels, outputs[:, 1]) == pytest.approx(tested["auroc"], abs=1e-9)
