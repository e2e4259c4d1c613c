"""Protocols: one split (fixed), a new split per seed (resplit), k-fold; and the report's tests over runs."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import stats as scipy_stats

from behave.data.errors import DataError
from behave.data.spec import SplitSpec
from behave.data.split import split_sequences
from behave.report.__main__ import main as report_main
from behave.report.stats import corrected_resampled_t
from behave.train import run
from tests.compose import compose_train


@pytest.fixture
def log_from(load_log, make_tables):
    def make(n_sequences: int):
        return load_log(*make_tables(n_sequences=n_sequences))[0]

    return make


def test_kfold_tests_every_sequence_once_and_keeps_parts_apart(log_from):
    log_ = log_from(n_sequences=200)
    tested = []
    for fold in range(1, 6):
        split = split_sequences(log_, SplitSpec(method="kfold", folds=5, fold=fold), log_.labels)
        parts = [set(split.part(p)) for p in ("train", "val", "test")]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert sum(map(len, parts)) == log_.n_sequences
        # Stratified: each test fold holds the label's share (within one sequence per class).
        share = log_.labels[split.test].mean()
        assert abs(share - log_.labels.mean()) < 0.03
        tested.append(split.test)
    assert np.array_equal(np.sort(np.concatenate(tested)), np.arange(log_.n_sequences))


def test_kfold_names_its_keys_when_the_fold_is_out_of_range(log_from):
    with pytest.raises(DataError, match="data.split: kfold needs .* got folds=5, fold=6"):
        split_sequences(log_from(n_sequences=50), SplitSpec(method="kfold", folds=5, fold=6))


@pytest.mark.parametrize(
    ("overrides", "method", "split_seed", "fold"),
    [
        ([], "stratified", 0, None),
        (["protocol=resplit", "seed=3"], "stratified", 3, None),
        (["protocol=kfold", "seed=7"], "kfold", 0, 3),  # 7 mod 5 + 1
        (["experiment=compare_resplit", "seed=2"], "stratified", 2, None),
    ],
)
def test_protocols_set_the_split_from_the_run_seed(overrides, method, split_seed, fold, tmp_path):
    cfg = compose_train(overrides, tmp_path / "run", tmp_path / "cache")
    assert cfg.data.split.method.value == method and cfg.data.split.seed == split_seed
    if fold is not None:
        assert cfg.data.split.fold == fold


def test_corrected_resampled_t_matches_the_formula_and_is_wider_than_the_naive_test():
    d = np.array([0.021, 0.034, 0.012, 0.027, 0.018, 0.030, 0.009, 0.025])
    k, share = len(d), 0.15 / 0.7
    mean, lo, hi, p = corrected_resampled_t(d, share)
    se = np.sqrt((1 / k + share) * d.var(ddof=1))
    t = d.mean() / se
    assert mean == pytest.approx(d.mean())
    assert p == pytest.approx(2 * scipy_stats.t.sf(abs(t), k - 1))
    assert hi - mean == pytest.approx(scipy_stats.t.ppf(0.975, k - 1) * se)
    naive = scipy_stats.ttest_1samp(d, 0.0)
    assert p > naive.pvalue and lo > 0  # wider than the naive t-test, and still clear of 0 here


def _resplit_sweep(root, data: list[str], seeds: range, models=("logreg", "xgboost")) -> str:
    for model in models:
        for seed in seeds:
            cfg = compose_train(
                ["protocol=resplit", f"model={model}", f"seed={seed}", *data],
                root / f"{model}-{seed}",
                root.parent / "cache",
            )
            assert run(cfg).status == "ok"
    assert report_main([str(root), "--n-boot", "200"]) == 0
    return (root / "report.md").read_text()


@pytest.mark.slow
def test_a_pure_noise_label_gets_no_verdict_over_twenty_resplits(tmp_path):
    noise = ["data.source.n_users=600", "data.source.order_strength=0", "data.source.count_strength=0"]
    report = _resplit_sweep(tmp_path / "noise", noise, range(20))
    assert "(protocol resplit, 20 splits)" in report
    assert "beats" not in report
    # 20 splits of 90 test sequences cannot resolve the default --rope of 0.01 AUROC: "too few splits".
    verdict = r"(No significant difference|Too few splits for a verdict) between (logistic regression|XGB)"
    assert re.search(verdict, report)
    # Every model's interval over the 20 splits holds 0.5, the oracle's AUROC on a label of pure noise.
    for line in report.splitlines():
        if line.startswith(("| 1 | ", "| 2 | ")):
            lo, hi = (float(x) for x in line.split("[")[1].split("]")[0].split(", "))
            assert lo <= 0.5 <= hi, line


@pytest.mark.slow
def test_a_planted_difference_is_found_over_resplits(tmp_path):
    report = _resplit_sweep(tmp_path / "planted", ["data.source.n_users=1500"], range(6))
    # Whichever is the reference (the better on validation), the verdict is XGBoost's.
    assert "XGBoost beats logistic regression by" in report and "over 6 splits" in report


def test_the_benchmark_sweeps_every_dataset_and_composes_for_each(tmp_path):
    from hydra import compose, initialize_config_dir

    from behave.paths import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=benchmark"], return_hydra_config=True)
    datasets = str(cfg.hydra.sweeper.params.data).split(",")
    assert datasets == ["synthetic", "movielens100k", "kddcup2015", "cdnow"]
    for data in datasets:
        job = compose_train(
            ["experiment=benchmark", f"data={data}", "protocol=kfold"], tmp_path / data, tmp_path
        )
        assert job.data.name == data and job.data.split.method.value == "kfold"


@pytest.mark.slow
def test_a_finished_run_is_not_refitted_unless_its_config_changed(tmp_path, caplog):
    """Rerunning a killed sweep's command finishes only what did not finish."""
    import logging

    overrides = ["model=logreg", "data.source.n_users=300"]
    cfg = compose_train(overrides, tmp_path / "run", tmp_path / "cache")
    first = run(cfg)
    result_file = tmp_path / "run" / "result.json"
    written = result_file.stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="behave.train"):
        again = run(cfg)
    assert "skipped" in caplog.text and again.test_metrics == first.test_metrics
    assert result_file.stat().st_mtime_ns == written  # nothing was fitted or written
    # Another config in the same folder fits again, and so does skip_finished=false.
    changed = compose_train([*overrides, "model.estimator.C=0.1"], tmp_path / "run", tmp_path / "cache")
    assert run(changed).config["model"]["estimator"]["C"] == 0.1
    rewritten = result_file.stat().st_mtime_ns
    assert rewritten > written
    refit = compose_train(
        [*overrides, "model.estimator.C=0.1", "skip_finished=false"], tmp_path / "run", tmp_path / "cache"
    )
    run(refit)
    once = result_file.stat().st_mtime_ns
    run(refit)  # the same config again: refitted, because skip_finished=false
    assert once > rewritten and result_file.stat().st_mtime_ns > once
