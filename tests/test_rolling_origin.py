"""Rolling-origin evaluation: the split of each origin (strictly before its test period, periods in time
order), the simulator's drifting label law, and the report's per-origin block and drift test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.errors import ConfigCompositionException
from scipy.stats import norm

from behave.data.errors import DataError
from behave.data.sources.simulator.source import ClickstreamSimulator
from behave.data.spec import SplitSpec
from behave.data.split import cut_to_split, split_sequences
from behave.report.__main__ import main as report_main
from behave.report.document import Bullets, Table
from behave.report.origins import cochran_q, origin_blocks
from behave.report.records import parse_record
from behave.report.sections import oracle_value
from behave.report.stats import auc
from behave.run.predictions import Predictions
from behave.tasks import metric_registry
from behave.train import run
from tests.compose import compose_train

ORIGINS = 4


@pytest.fixture
def log_(load_log, make_tables):
    """400 sequences starting over 30 days; every fifth has one more event 10 days after its start, so
    earlier sequences reach into later test periods and the strict cut has events to drop."""
    events, labels = make_tables(400, seed=5)
    late = events[events["seq"].str[1:].astype(int) % 5 == 0].groupby("seq").head(1).copy()
    late["ts"] += 10 * 86400.0
    return load_log(pd.concat([events, late], ignore_index=True), labels)[0]


def _rolling(origin: int, **keys) -> SplitSpec:
    return SplitSpec(method="rolling", origins=ORIGINS, origin=origin, **keys)


def test_each_origin_trains_only_on_events_before_its_test_period(log_):
    for origin in range(1, ORIGINS + 1):
        spec = _rolling(origin)
        cut, split, dropped = cut_to_split(log_, split_sequences(log_, spec), spec)
        test_start = cut.start_time[split.test].min()
        earlier = np.concatenate([split.train, split.val])
        # The time_strict cut: no train/val event after the period's start; every sequence starts before it.
        assert cut.time[cut.event_positions(earlier)].max() <= test_start
        assert cut.start_time[earlier].max() <= test_start
        kept = np.isin(log_.sequence_ids, cut.sequence_ids)
        assert dropped == log_.lengths[kept].sum() - cut.n_events > 0
        # Val is the latest share of what came before, as in the time split.
        assert cut.start_time[split.val].min() >= cut.start_time[split.train].max()
        # The sequences after the period are in no part and left out of the log.
        assert cut.n_sequences == sum(split.sizes().values())
        test_ids = cut.sequence_ids[split.test]
        assert np.array_equal(cut.lengths[split.test], log_.lengths[np.isin(log_.sequence_ids, test_ids)])


def test_origins_test_the_latest_periods_in_time_order(log_):
    periods = []
    for origin in range(1, ORIGINS + 1):
        split = split_sequences(log_, _rolling(origin))
        starts = log_.start_time[split.test]
        periods.append((starts.min(), starts.max(), set(log_.sequence_ids[split.test])))
        assert len(split.test) == round(0.15 * log_.n_sequences)
    for (_, end, ids), (start, _, later_ids) in zip(periods, periods[1:]):
        assert end <= start and not ids & later_ids
    tested = set().union(*(ids for *_, ids in periods))
    latest = log_.sequence_ids[np.argsort(log_.start_time)[-len(tested) :]]
    assert tested == set(latest)
    # The last origin tests what the plain time split tests.
    time_split = split_sequences(log_, SplitSpec(method="time"))
    assert periods[-1][2] == set(log_.sequence_ids[time_split.test])


def test_rolling_keys_out_of_range_name_themselves(log_):
    with pytest.raises(DataError, match="data.split: rolling needs .* got origins=4, origin=5"):
        split_sequences(log_, _rolling(5))
    with pytest.raises(DataError, match=r"origins \* test < 1 .* origins=8, origin=1, test=0.15"):
        split_sequences(log_, SplitSpec(method="rolling", origins=8, origin=1))


@pytest.mark.parametrize(
    ("overrides", "origins", "origin"),
    [(["seed=5"], 4, 2), (["seed=5", "protocol.origins=3"], 3, 3), (["seed=0"], 4, 1)],
)
def test_the_protocol_sweeps_origins_by_seed(overrides, origins, origin, tmp_path):
    cfg = compose_train(["protocol=rolling", *overrides], tmp_path / "run", tmp_path / "cache")
    split = cfg.data.split
    assert (split.method.value, split.origins, split.origin, split.seed) == ("rolling", origins, origin, 0)


def test_a_misspelled_rolling_key_fails_when_the_config_is_composed(tmp_path):
    with pytest.raises(ConfigCompositionException, match="orgin"):
        compose_train(["protocol=rolling", "data.split.orgin=2"], tmp_path / "run", tmp_path / "cache")


def _oracle_auroc_by_half(drift: float) -> tuple[float, float, float, float]:
    """The oracle's AUROC on the first and second half of users by start time, and their label shares,
    with the law of the FIRST half applied to both (what a model of the past would predict)."""
    source = ClickstreamSimulator(n_users=1500, seed=3, order_strength=2.0, label_drift=drift)
    tables = source.load()
    start = tables.events.groupby("user_id")["timestamp"].min().sort_index().to_numpy().astype(np.int64)
    labels = tables.labels.set_index("user_id")["purchase_next_week"].sort_index().to_numpy()
    past_law = (tables.extras["count_logit"] + tables.extras["order_logit"]).sort_index().to_numpy()
    late = start > np.median(start)
    return (
        auc(labels[~late], past_law[~late]),
        auc(labels[late], past_law[late]),
        labels[~late].mean(),
        labels[late].mean(),
    )


def test_the_simulator_drift_switch_changes_the_law_halfway_and_keeps_the_label_share():
    early, late, share_early, share_late = _oracle_auroc_by_half(2.0)
    assert early > 0.85 and late < 0.3  # reversed: the past's law ranks the later users backwards
    assert abs(share_early - share_late) < 0.05
    stationary = _oracle_auroc_by_half(0.0)
    assert min(stationary[:2]) > 0.85
    # Off, the switch leaves the log and its cache key as they were.
    assert "label_drift" not in ClickstreamSimulator(n_users=10).fingerprint()
    assert ClickstreamSimulator(n_users=10, label_drift=1.0).fingerprint()["label_drift"] == 1.0


def test_cochran_q_matches_its_formula():
    estimates, variances = np.array([0.7, 0.6, 0.5]), np.array([0.001, 0.002, 0.001])
    weights = 1 / variances
    mean = (weights * estimates).sum() / weights.sum()
    test = cochran_q(estimates, variances)
    assert test.value == pytest.approx((weights * (estimates - mean) ** 2).sum()) and test.df == 2
    assert test.drifts and not cochran_q(np.array([0.7, 0.71, 0.69]), variances).drifts


def _records(aurocs_by_model: dict[str, list[float]], n: int = 300, seed: int = 0):
    """Rolling records of models whose scores reach roughly the given AUROC at each origin, on shared test
    rows per origin (binary labels, one row per sequence)."""
    rng = np.random.default_rng(seed)
    records, predictions = [], {}
    for origin, _ in enumerate(next(iter(aurocs_by_model.values())), start=1):
        labels = rng.permutation(np.arange(n) < 0.3 * n).astype(np.int64)  # the same share each time
        ids = np.array([f"o{origin}-{i:04d}" for i in range(n)])
        for model, aurocs in aurocs_by_model.items():
            # A normal shift d between the classes gives AUROC Phi(d / sqrt(2)).
            shift = np.sqrt(2) * norm.ppf(aurocs[origin - 1])
            score = 1 / (1 + np.exp(-(labels * shift + rng.normal(size=n))))
            probs = np.stack([1 - score, score], axis=1)
            predictions[(model, origin - 1)] = Predictions(ids, np.zeros(n), np.full(n, None), labels, probs)
            raw = {
                "status": "ok",
                "model": {"name": model, "family": "tabular"},
                "seed": origin - 1,
                "config": {"protocol": {"name": "rolling"}, "data": {"split": {"origin": origin}}},
                "dataset": {"name": "drifting", "fingerprint": f"f{origin}", "oracle_test_auroc": 0.9},
                "test_metrics": {"auroc": auc(labels, score)},
            }
            records.append(parse_record(raw, Path(f"/runs/{model}-{origin}/result.json")))
    return records, predictions


def _blocks(aurocs_by_model, tmp_path):
    records, predictions = _records(aurocs_by_model)
    auroc = metric_registry.metric("auroc")
    pairs = [("gru", "xgboost")]
    return origin_blocks(records, predictions, auroc, pairs, 300, 0, tmp_path / "origins.png", oracle_value)


def test_the_report_says_the_metric_drifts_when_it_does(tmp_path):
    blocks = _blocks({"gru": [0.85, 0.8, 0.65, 0.55], "xgboost": [0.86, 0.78, 0.62, 0.57]}, tmp_path)
    drift = next(b for b in blocks if isinstance(b, Bullets)).items
    assert all("the AUROC changes across origins (Cochran's Q = " in line for line in drift[:2])
    assert "level 0.05" in drift[0]
    assert "no evidence that the label share changes" in drift[2]
    table = next(b for b in blocks if isinstance(b, Table))
    assert table.header[-1] == "oracle (Bayes-optimal)" and [row[0] for row in table.rows] == [
        "1",
        "2",
        "3",
        "4",
    ]
    assert (tmp_path / "origins.png").stat().st_size > 0


def test_the_report_finds_no_drift_in_a_stationary_log(tmp_path):
    blocks = _blocks({"gru": [0.75] * 4, "xgboost": [0.72] * 4}, tmp_path)
    drift = next(b for b in blocks if isinstance(b, Bullets)).items
    assert all("no evidence that the AUROC changes across origins" in line for line in drift[:2])
    assert len(drift) == 3 and all("no evidence that the" in line for line in drift)


@pytest.mark.slow
def test_a_rolling_sweep_on_a_drifting_log_reports_the_drift(tmp_path):
    """Four origins of a log whose law reverses halfway, a linear model and small boosted trees, then the
    report: the per-origin block names the drift."""
    data = ["data.source.n_users=1000", "data.source.label_drift=2"]
    models = {
        "logreg": [],
        "xgboost": ["model.params.n_estimators=40", "model.params.early_stopping_rounds=10"],
    }
    root = tmp_path / "runs"
    for model, settings in models.items():
        for seed in range(ORIGINS):
            overrides = ["protocol=rolling", f"model={model}", f"seed={seed}", *data, *settings]
            assert run(compose_train(overrides, root / f"{model}-{seed}", tmp_path / "cache")).status == "ok"
    assert report_main([str(root), "--n-boot", "200"]) == 0
    report = (root / "report.md").read_text()
    assert "(protocol rolling, 4 splits)" in report and "### Across origins" in report
    assert "**logistic regression: the AUROC changes across origins (Cochran's Q = " in report
    assert "**XGBoost: the AUROC changes across origins (Cochran's Q = " in report
    assert "| XGBoost − logistic regression | " in report or "| logistic regression − XGBoost | " in report
