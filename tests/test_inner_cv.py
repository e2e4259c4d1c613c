"""Selection by inner cross-validation: the folds, that selection never reads a test row, the refit-count
rule, the policies, refusals, and one tiny run per model family."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate

from behave.data.errors import DataError
from behave.data.split import PARTS
from behave.tasks.dataset import prepare_task
from behave.tasks.sequence import SequenceTask
from behave.train import run
from behave.training.recipe import BudgetUnit, RunContext
from behave.training.selection.folds import fold_view, inner_folds
from behave.training.selection.inner_cv import budget_unit, cross_validate, refit_count
from behave.training.selection.policies import Auto, InnerCV
from tests.compose import compose_train


@pytest.fixture
def task_data(data_config, make_tables):
    """`make(n_sequences, **sections)` -> the sequence task's TaskDataset on random tables."""

    def make(n_sequences: int = 150, late_last_events: bool = False, **sections):
        events, labels = make_tables(n_sequences, seed=3)
        if late_last_events:  # every sequence's last event 10 days after the rest: spans later starts
            last = events.groupby("seq")["ts"].idxmax()
            events.loc[last, "ts"] += 10 * 86400
        return prepare_task(data_config(events, labels, **sections), SequenceTask())

    return make


def _test_sequences(data) -> set:
    return set(data.base.split.test.tolist())


def test_random_folds_are_grouped_stratified_and_cover_train_val_once(task_data):
    data = task_data(schema={"group": "user"})
    folds = inner_folds(data, folds=4, seed=0)
    user = np.asarray(data.base.log.groups)
    train_val = np.concatenate([data.base.split.train, data.base.split.val])
    validated = np.concatenate([fold.val for fold in folds])
    assert sorted(validated.tolist()) == sorted(train_val.tolist())  # each train+val sequence once
    labels = np.zeros(data.base.log.n_sequences)
    labels[data.rows.sequence] = data.rows.label
    shares = []
    for fold in folds:
        assert not set(user[fold.train]) & set(user[fold.val])  # a group never on both sides
        assert not (set(fold.train) | set(fold.val)) & _test_sequences(data)
        assert sorted(np.concatenate([fold.train, fold.val]).tolist()) == sorted(train_val.tolist())
        shares.append(labels[fold.val].mean())
    # Stratified by label (per group's first sequence): every fold's validation share near the whole's.
    assert max(shares) - min(shares) < 0.2


@pytest.mark.parametrize(
    "split",
    [{"method": "time_strict"}, {"method": "rolling", "origins": 2, "origin": 2, "train": 0.65, "test": 0.2}],
    ids=["time_strict", "rolling"],
)
def test_time_folds_chain_forward_and_cut_training_events_at_the_validation_start(task_data, split):
    data = task_data(late_last_events=True, split=split)
    log_ = data.base.log
    folds = inner_folds(data, folds=3, seed=0)
    for earlier, later in zip(folds, folds[1:]):
        assert log_.start_time[later.val].min() >= log_.start_time[earlier.val].max()  # in time order
        assert set(earlier.train) | set(earlier.val) == set(later.train)  # the past only grows
    for fold in folds:
        assert log_.start_time[fold.train].max() <= log_.start_time[fold.val].min()  # never the past
        assert fold.time_cut == log_.start_time[fold.val].min()
        view = fold_view(data, fold)
        training = view.rows.in_part("train")
        last_event = log_.offsets[view.rows.sequence[training]] + view.rows.cutoff[training] - 1
        assert (log_.time[last_event] <= fold.time_cut).all()
        cut_rows = view.rows.cutoff[training] < log_.lengths[view.rows.sequence[training]]
        assert cut_rows.any()  # the strict cut bites on this log
        # Both families read the cut rows: the tabular features are recomputed for them.
        recomputed = pd.concat(list(data.task.features(data.base, view.rows)), ignore_index=True)
        pd.testing.assert_frame_equal(view.features, recomputed)
        assert len(view.rows.in_part("test")) == 0


def test_plain_time_folds_keep_whole_training_rows(task_data):
    data = task_data(late_last_events=True, split={"method": "time"})
    fold = inner_folds(data, folds=3, seed=0)[-1]
    assert fold.time_cut is None
    view = fold_view(data, fold)
    rows = view.rows
    np.testing.assert_array_equal(rows.cutoff, data.base.log.lengths[rows.sequence])


class CountingRecipe:
    """A recipe with a count to choose whose curve is computed from what it is given: per 'round' r, the
    AUROC on the validation rows of a score that mixes the first feature with the training labels' mean."""

    name, family, supported_tasks = "counting", "tabular", frozenset({"classification"})
    budget_unit = BudgetUnit.rounds

    def fit(self, data, context):
        from sklearn.metrics import roc_auc_score

        from behave.training.recipe import Fitted, SelectionCurve

        train, val = data.inputs("train"), data.inputs("val")
        level = float(np.mean(train.labels)) + float(np.nanmean(train.features.to_numpy()))
        first = val.features.to_numpy()[:, 0]
        values = [roc_auc_score(val.labels, np.nan_to_num(first) * (r + 1) + level * r * r) for r in range(8)]
        return Fitted(model=level, n_parameters=1, curve=SelectionCurve("val/auroc", np.asarray(values)))


def _poisoned(data):
    """The same data with every test row's label flipped and its features replaced by noise."""
    test = data.rows.part == PARTS.index("test")
    labels = data.rows.label.copy()
    labels[test] = 1 - labels[test]
    features = data.features.copy()
    noise = np.random.default_rng(0).normal(size=(int(test.sum()), features.shape[1])) * 1e6
    features.loc[test, :] = noise.astype(np.float32)
    return replace(data, rows=replace(data.rows, label=labels), feature_source=features)


SHRUNK_XGBOOST = ["model=xgboost", "model.params.n_estimators=20", "model.n_jobs=1"]


@pytest.mark.parametrize("recipe", ["counting", "logreg", pytest.param("xgboost", marks=pytest.mark.slow)])
def test_selection_never_reads_a_test_row(task_data, tmp_path, recipe):
    data = task_data()
    if recipe == "counting":
        model = CountingRecipe()
    else:
        overrides = SHRUNK_XGBOOST if recipe == "xgboost" else [f"model={recipe}"]
        model = instantiate(compose_train(overrides, tmp_path, tmp_path / "cache").model)
    context = RunContext(run_dir=tmp_path, seed=0, monitor="val/auroc")
    clean = cross_validate(model, data, context, folds=3)
    poisoned = cross_validate(model, _poisoned(data), context, folds=3)
    assert clean.count == poisoned.count
    assert clean.value == poisoned.value and clean.per_fold == poisoned.per_fold
    assert np.isfinite(clean.value)


def test_refit_count_grows_rounds_with_the_data_and_keeps_epochs():
    assert refit_count(BudgetUnit.rounds, 80, fold_train_rows=100.0, refit_train_rows=125) == 100
    assert refit_count(BudgetUnit.epochs, 8, fold_train_rows=100.0, refit_train_rows=125) == 8


def test_auto_cross_validates_only_below_its_size(task_data):
    data = task_data()  # 150 sequences: about 105 in the train part
    recipe = CountingRecipe()
    assert Auto(name="auto", folds=4, inner_cv_below=500).inner_folds_for(data, recipe) == 4
    assert Auto(name="auto", folds=4, inner_cv_below=50).inner_folds_for(data, recipe) is None
    assert InnerCV(name="inner_cv", folds=3).inner_folds_for(data, recipe) == 3
    # A model inner_cv refuses (pretraining) gets the holdout from auto, whatever the size.
    assert Auto(name="auto", folds=4, inner_cv_below=500).inner_folds_for(data, Pretraining()) is None


class Pretraining:
    """A recipe that declares no budget."""

    name = "coles"


def test_a_recipe_without_a_budget_is_refused_naming_selection():
    with pytest.raises(DataError, match="selection=holdout"):
        budget_unit(Pretraining())


def test_too_few_sequences_for_the_folds_names_the_key(task_data):
    data = task_data(30, split={"method": "time"})
    with pytest.raises(DataError, match="selection.folds=40"):
        inner_folds(data, folds=40, seed=0)


@pytest.mark.parametrize("override", ["selection=nested", "selection.name=nested"])
def test_an_unknown_selection_fails_when_composed(tmp_path, override):
    with pytest.raises(ConfigCompositionException):
        compose_train([override], tmp_path, tmp_path / "cache")


@pytest.mark.slow
@pytest.mark.parametrize(
    "model, shrink, unit",
    [
        ("xgboost", ["model.params.n_estimators=30", "model.n_jobs=1"], "rounds"),
        ("lightgbm", ["model.params.n_estimators=30", "model.n_jobs=1"], "rounds"),
        ("gru", ["trainer.max_epochs=3", "model.module.encoder.sequence.hidden_size=8"], "epochs"),
    ],
)
def test_inner_cv_run_refits_on_train_and_val_with_the_chosen_count(
    tmp_path, model, shrink, unit, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the folds write nothing outside the run folder: nothing lands here
    small = ["data.source.n_users=200", "selection=inner_cv", "selection.folds=3", "~logger"]
    cfg = compose_train([f"model={model}", *small, *shrink], tmp_path / "run", tmp_path / "cache")
    result = run(cfg)
    assert result.status == "ok", result.error
    chosen = result.extra["selection"]
    assert chosen["kind"] == "inner_cv" and chosen["unit"] == unit and len(chosen["per_fold"]) == 3
    assert result.best_val == {"metric": "val/auroc", "value": chosen["cv_mean"]}
    # Each family chooses on what its holdout selection watches: the boosters' early-stopping loss, the
    # neural checkpoint's monitor with loss tie-break.
    assert chosen["chosen_by"] == ("val/loss" if unit == "rounds" else "val/selection")
    assert result.fit_seconds >= chosen["seconds"] > 0  # the folds are part of the fit's cost
    if unit == "rounds":  # 30 rounds at most, grown by the refit rows over the fold-training rows (~3/2)
        assert 1 <= chosen["chosen_count"] <= 30 and chosen["refit_count"] > chosen["chosen_count"]
        assert result.extra["n_trees"] == chosen["refit_count"]
    else:
        assert 1 <= chosen["chosen_count"] <= 3 and chosen["refit_count"] == chosen["chosen_count"]
        assert result.extra["epochs_trained"] == chosen["refit_count"]
    assert 0.0 <= result.test_metrics["auroc"] <= 1.0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cache", "run"]


def test_folds_choose_the_count_as_the_holdout_would_when_the_monitor_saturates():
    """Every fold's AUROC reaches 1.0 at round 2 and stays there: the monitor alone would stop at round 2;
    the mean validation loss, which a booster's holdout stops on, keeps falling until round 4, so the folds
    choose round 4 and report the AUROC there. Without a chooser the monitor chooses."""
    from behave.training.recipe import SelectionCurve
    from behave.training.selection.inner_cv import chosen_index

    auroc = np.array([0.9, 1.0, 1.0, 1.0, 1.0])
    losses = [np.array([0.6, 0.4, 0.3, 0.2, 0.25]), np.array([0.5, 0.45, 0.3, 0.25, 0.3])]
    curves = [SelectionCurve("val/auroc", auroc, "val/loss", loss, "min") for loss in losses]
    assert chosen_index(curves, 5, auroc, "val/auroc") == (3, "val/loss")
    plain = [SelectionCurve("val/auroc", auroc) for _ in losses]
    assert chosen_index(plain, 5, auroc, "val/auroc") == (1, "val/auroc")


def test_the_run_summary_says_the_value_is_a_fold_mean():
    from behave.run.summary import run_summary

    record = {
        "model": {"name": "xgboost"}, "seed": 0, "status": "ok", "run_dir": "r", "fit_seconds": 1.0,
        "test_metrics": {"auroc": 0.8}, "best_val": {"metric": "val/auroc", "value": 0.75},
        "extra": {"selection": {"kind": "inner_cv", "folds": 3, "chosen_count": 12, "unit": "rounds"}},
    }  # fmt: skip
    assert "(best val/auroc 0.750: mean of 3 inner folds at 12 rounds)" in run_summary(record)
    record["extra"]["selection"] = {"kind": "holdout"}
    assert "(best val/auroc 0.750)" in run_summary(record)


def test_a_task_that_splits_a_sequence_across_parts_is_refused(task_data):
    data = task_data()
    rows = data.rows
    sequence = rows.sequence.copy()
    test = rows.in_part("test")
    sequence[test[0]] = rows.sequence[rows.in_part("train")[0]]  # a training sequence with a test row
    with pytest.raises(DataError, match="selection=holdout"):
        inner_folds(replace(data, rows=replace(rows, sequence=sequence)), folds=3, seed=0)


def test_the_report_says_how_each_model_selected_and_where_they_differ(tmp_path):
    from behave.report.document import Paragraph
    from behave.report.records import parse_record
    from behave.report.selection import selection_blocks

    def record(model: str, selection: dict | None):
        raw = {"status": "ok", "model": {"name": model}, "seed": 0}
        if selection is not None:
            raw["extra"] = {"selection": selection}
        return parse_record(raw, tmp_path / model / "result.json")

    inner = {"kind": "inner_cv", "folds": 5}
    assert selection_blocks([record("gru", None), record("xgboost", {"kind": "holdout"})]) == []
    (same,) = selection_blocks([record("gru", inner), record("xgboost", inner)])
    assert isinstance(same, Paragraph) and "gru: inner_cv (5 folds)" in same.text
    assert "did not all choose the same way" not in same.text
    (mixed,) = selection_blocks([record("gru", inner), record("xgboost", {"kind": "holdout"})])
    assert "xgboost: holdout" in mixed.text and "did not all choose the same way" in mixed.text
