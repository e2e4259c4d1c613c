"""The outcome-prediction benchmark's protocol (`experiment=outcome_benchmark`) and its encodings
(`features=aggregate|last_state|index`): each encoding's columns on a hand-built log, the default set
unchanged, the protocol's split and prefix range as composed, and the whole experiment end to end."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

import behave.train  # noqa: F401  (registers the config schemas and resolvers)
from behave.data.errors import DataError
from behave.data.features.builder import FeatureBuilder
from behave.data.features.encodings import AggregateFeatures, IndexFeatures, LastStateFeatures
from behave.data.features.selection import model_label
from behave.data.transforms.levels import MISSING, OTHER
from behave.paths import CONFIG_DIR
from behave.tasks.dataset import prepare_task, task_cache_key
from behave.tasks.prefix import PrefixTask
from behave.tasks.rating import RatingTask
from tests.cli import behave_ok
from tests.test_features import SEQUENCES, SPEC, STATIC, TOKENS, make_log


@pytest.fixture(scope="module")
def log_and_builder():
    log, token_ids = make_log(SEQUENCES, STATIC)
    return log, token_ids, FeatureBuilder(SPEC).fit(log, token_ids, TOKENS)


def encoded(log_and_builder, encoding) -> pd.DataFrame:
    log, token_ids, builder = log_and_builder
    frame = replace(builder, encoding=encoding).transform(log, token_ids)
    assert np.isfinite(frame.to_numpy()).all() and frame.dtypes.eq(np.float32).all()
    return frame


def test_aggregate_counts_values_and_aggregates_numbers_plus_static(log_and_builder):
    frame = encoded(log_and_builder, AggregateFeatures())
    # Sequence 0: view, view, cart, buy (buy is past the top 2 values: OTHER); px 100, missing, 300, 500.
    assert frame.loc[
        0, ["event_type_count[view]", "event_type_count[cart]", f"event_type_count[{OTHER}]"]
    ].tolist() == [
        2,
        1,
        1,
    ]
    assert frame.loc[0, ["px_count", "px_sum", "px_mean", "px_min", "px_max"]].tolist() == [
        3,
        900,
        300,
        100,
        500,
    ]
    assert frame["static.age"].tolist() == [30, 0, 50] and frame["static.country[de]"].tolist() == [1, 0, 1]
    assert not any(name.startswith(("last.", "first.", "bigram", "gap_s")) for name in frame.columns)


def test_last_state_is_the_last_event_with_missing_flags(log_and_builder):
    frame = encoded(log_and_builder, LastStateFeatures())
    assert frame[f"last.event_type[{OTHER}]"].tolist() == [1, 0, 0]  # buy, view, cart
    assert frame[f"last.page[{MISSING}]"].tolist() == [1, 0, 0]
    assert frame["last.px"].tolist() == [500, 0, 200] and frame["last.px_missing"].tolist() == [0, 1, 0]
    assert not any("_count" in name for name in frame.columns)


def test_index_encodes_positions_and_pads_past_the_end(log_and_builder):
    frame = encoded(log_and_builder, IndexFeatures(positions=3))
    assert frame["n_events"].tolist() == [4, 1, 3]
    assert frame["event3.event_type[cart]"].tolist() == [1, 0, 1]
    # Sequence 1 has one event: positions 2 and 3 are all zeros, its missing px is flagged.
    assert frame.filter(like="event2.").iloc[1].sum() == 0 and frame.filter(like="event3.").iloc[1].sum() == 0
    assert frame.loc[1, ["event1.px", "event1.px_missing"]].tolist() == [0, 1]
    assert frame["event3.px"].tolist() == [300, 0, 200] and "event4.px" not in frame.columns


def test_index_of_a_prefix_never_sees_events_after_its_cutoff(log_and_builder):
    log, token_ids, builder = log_and_builder
    index = replace(builder, encoding=IndexFeatures(positions=4))
    rows = np.array([0, 0, 2])
    cutoffs = np.array([2, 4, 1])
    frame = index.transform(log.cut(rows, cutoffs), token_ids[log.events_of(rows, cutoffs)])
    assert frame["n_events"].tolist() == [2, 4, 1]
    assert frame.filter(like="event3.").iloc[0].sum() == 0 and frame.filter(like="event2.").iloc[2].sum() == 0
    assert frame.loc[1, f"event4.event_type[{OTHER}]"] == 1  # the whole case still shows its last event


def test_default_set_leaves_the_builder_and_the_cache_key_as_they_were(log_and_builder):
    log, token_ids, builder = log_and_builder
    default = instantiate({"_target_": "behave.data.features.encodings.DefaultFeatures"})
    chosen = replace(builder, encoding=default)
    pd.testing.assert_frame_equal(chosen.transform(log, token_ids), builder.transform(log, token_ids))
    assert chosen.state_dict() == builder.state_dict() and "encoding" not in builder.state_dict()
    task = PrefixTask()
    assert task_cache_key(task, {}) == task_cache_key(task)


def test_a_saved_encoding_round_trips_through_json(log_and_builder):
    log, token_ids, builder = log_and_builder
    index = replace(builder, encoding=IndexFeatures(positions=2))
    restored = FeatureBuilder.from_state_dict(json.loads(json.dumps(index.state_dict())))
    assert restored.encoding == IndexFeatures(positions=2)
    pd.testing.assert_frame_equal(restored.transform(log, token_ids), index.transform(log, token_ids))
    # A run folder may come from someone else: what it names is looked up, never imported.
    foreign = {**index.state_dict(), "encoding": {"name": "os.system"}}
    with pytest.raises(DataError, match="unknown feature set 'os.system'"):
        FeatureBuilder.from_state_dict(foreign)


def test_only_feature_table_models_are_named_by_their_set():
    assert model_label("xgboost", "tabular", AggregateFeatures()) == "xgboost.aggregate"
    assert model_label("gru", "neural", AggregateFeatures()) == "gru"
    assert model_label("xgboost", "tabular", None) == "xgboost"


def test_bad_settings_name_their_key():
    with pytest.raises(DataError, match="features.positions"):
        IndexFeatures(positions=0)
    with pytest.raises(DataError, match="task.length_rounding must be one of floor, ceil"):
        PrefixTask(length_rounding="up")


def compose_train(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=overrides)


def compose_benchmark(overrides: list[str]):
    return compose_train(["experiment=outcome_benchmark", *overrides])


def test_experiment_composes_the_benchmark_protocol(tmp_path):
    # Short cases: the 90th percentile (13.8 here) lies below the cap of 40, so its rounding shows.
    cfg = compose_benchmark(
        ["data.source.n_users=300", "data.source.median_events=4", f"paths.cache_dir={tmp_path}"]
    )
    split = cfg.data.split
    assert (split.method, split.train, split.val, split.test) == ("time_strict", 0.64, 0.16, 0.2)
    assert cfg.task.include_complete and cfg.features._target_.endswith("AggregateFeatures")
    task = instantiate(cfg.task)
    data = prepare_task(cfg.data, task, instantiate(cfg.features))
    log, train = data.base.log, data.base.split.train
    positives = log.lengths[train][log.labels[train] == 1]
    percentile = np.percentile(positives, 90)
    assert percentile < 40 and not float(percentile).is_integer()
    expected = int(np.ceil(percentile))  # the benchmark rounds up
    assert task.resolve_lengths(log, data.base.split) == list(range(1, expected + 1))
    assert data.card["feature_set"]["name"] == "aggregate"
    # Complete cases are rows too: each test case's whole length is among its prefixes, up to the range.
    test_rows = data.part_rows("test")
    whole = test_rows.cutoff == log.lengths[test_rows.sequence]
    assert whole.any()


def test_a_task_with_its_own_tabular_view_refuses_a_feature_set(tmp_path):
    overrides = ["data=synthetic_outcome", "data.source.n_users=300", "features=aggregate"]
    cfg = compose_train([*overrides, f"paths.cache_dir={tmp_path}"])
    with pytest.raises(DataError, match="features=aggregate: task=rating builds its own tabular features"):
        prepare_task(cfg.data, RatingTask(target="correct", item="skill"), instantiate(cfg.features))


@pytest.mark.slow
def test_the_experiment_runs_end_to_end_and_reports_pooled_and_per_length_auroc(tmp_path):
    sweep = tmp_path / "sweep"
    # 2 inner folds instead of 5: the experiment's own selection (inner_cv below 500 training cases) runs
    tiny = ["data.source.n_users=200", "trainer.max_epochs=1", "seed=0", "selection.folds=2"]
    paths = [
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"paths.output_dir={tmp_path}",
        f"hydra.sweep.dir={sweep}",
    ]
    behave_ok("behave.train", "-m", "experiment=outcome_benchmark", *tiny, *paths)
    behave_ok("behave.report", str(sweep), "--n-boot", "200")
    records = {}
    for path in sweep.rglob("result.json"):
        record = json.loads(path.read_text())
        assert record["status"] == "ok", record["error"]
        records[record["model"]["name"]] = record
    assert set(records) == {"gru", "xgboost.aggregate"}
    for record in records.values():
        assert record["extra"]["selection"]["kind"] == "inner_cv", record["extra"]["selection"]
        assert 0.0 <= record["test_metrics"]["auroc"] <= 1.0 and "1" in record["test_metrics_by_group"]
    markdown = (sweep / "report.md").read_text()
    assert "### auroc by prefix length (events)" in markdown and "xgboost.aggregate auroc" in markdown


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONFIG_DIR / "features").glob("*.yaml")))
def test_every_feature_set_config_composes_and_builds_columns(name, log_and_builder):
    chosen = instantiate(compose_train([f"features={name}"]).features)
    assert chosen.name == name  # the option a user types is the name runs are recorded under
    frame = encoded(log_and_builder, chosen)
    own = encoded(log_and_builder, None)
    assert len(frame.columns) > 0 and (name == "default") == (list(frame.columns) == list(own.columns))
