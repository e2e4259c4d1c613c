"""Verdicts across datasets: average ranks, Wilcoxon-Holm, the Bayesian signed-rank test, the answer first."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon
from statsmodels.stats.multitest import multipletests

from behave.report.across import summarize, wilcoxon_holm
from behave.report.records import group_by_dataset, parse_record


def record(dataset: str, model: str, seed: int, auroc: float, family: str = "neural"):
    raw = {
        "status": "ok",
        "model": {"name": model, "family": family},
        "seed": seed,
        "dataset": {"name": dataset, "fingerprint": f"fp-{dataset}"},
        "task": {"name": "sequence", "headline": "auroc"},
        "test_metrics": {"auroc": auroc},
        "config": {"protocol": {"name": "fixed"}},
    }
    return parse_record(raw, Path(f"/runs/{dataset}/{model}/{seed}/result.json"))


def records_for(table: dict[str, dict[str, float]]):
    """{dataset: {model: mean AUROC}} -> two seeds per cell, +-0.001 around the mean."""
    out = []
    for dataset, models in table.items():
        for model, value in models.items():
            family = "tabular" if model == "xgboost" else "neural"
            out += [record(dataset, model, s, value + d, family) for s, d in ((0, -0.001), (1, 0.001))]
    return out


def test_ranks_and_wilcoxon_holm_over_datasets():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.6, 0.9, 8)
    table = {
        f"d{i}": {"xgboost": base[i], "gru": base[i] + 0.03 + rng.normal(0, 0.005), "bag": base[i] - 0.02}
        for i in range(8)
    }
    summary = summarize(group_by_dataset(records_for(table)), "auto", 0.01)
    assert summary.reference == "xgboost"  # the best-ranked tabular model
    assert summary.ranks.mean().to_dict() == pytest.approx({"gru": 1.0, "xgboost": 2.0, "bag": 3.0})
    scores = summary.scores
    pairs = [("bag", "gru"), ("bag", "xgboost"), ("gru", "xgboost")]
    raw = [wilcoxon(scores[a] - scores[b], zero_method="zsplit").pvalue for a, b in pairs]
    expected = multipletests(raw, method="holm")[1]
    matrix = wilcoxon_holm(scores)
    assert [matrix.loc[a, b] for a, b in pairs] == pytest.approx(list(expected))
    # Better on all eight datasets by 0.03 (ROPE 0.01): the Bayesian test is sure; the bag is surely worse.
    assert summary.bayes["gru"][0] > 0.95 and summary.bayes["bag"][2] > 0.95


def test_equal_models_are_equivalent_and_a_missing_model_is_left_out():
    table = {f"d{i}": {"xgboost": 0.7 + 0.02 * i, "gru": 0.7 + 0.02 * i + 0.001} for i in range(6)}
    table["d0"]["lstm"] = 0.9  # ran on one dataset only
    summary = summarize(group_by_dataset(records_for(table)), "xgboost", 0.01)
    assert summary.dropped == ["lstm"] and list(summary.scores.columns) == ["gru", "xgboost"]
    assert summary.bayes["gru"][1] > 0.9  # within +-0.01 everywhere: practically equivalent


def test_one_dataset_gives_no_cross_dataset_summary():
    table = {"d0": {"xgboost": 0.7, "gru": 0.8}}
    assert summarize(group_by_dataset(records_for(table)), "auto", 0.01) is None


@pytest.mark.slow
def test_the_report_leads_with_one_answer_per_dataset_then_the_cross_dataset_view(tmp_path):
    """Two real (tiny) multiruns, one report: the answer block comes before any dataset's details."""
    from behave.report.__main__ import main as report_main
    from behave.train import run
    from tests.compose import compose_train

    for users in (500, 700):
        for model in ("logreg", "xgboost"):
            cfg = compose_train(
                [f"model={model}", f"data.source.n_users={users}", f"data.name=sim{users}"],
                tmp_path / f"sim{users}" / model,
                tmp_path / "cache",
            )
            assert run(cfg).status == "ok"
    assert (
        report_main([str(tmp_path / "sim500"), str(tmp_path / "sim700"), "--out", str(tmp_path / "r")]) == 0
    )
    report = (tmp_path / "r" / "report.md").read_text()
    answer, across, details = (
        report.index(h) for h in ("## The answer", "## Across datasets", "## Dataset:")
    )
    assert answer < across < details
    block = report[answer:across]
    assert "On **sim500**" in block and "On **sim700**" in block and "ranks first by AUROC" in block
    assert "Across 2 datasets" in block
    assert (tmp_path / "r" / "figures" / "across_datasets_critical_difference.png").stat().st_size > 0
    frame = pd.read_csv(tmp_path / "r" / "results.csv")
    assert set(frame["model"]) == {"logreg", "xgboost"}
    # The HTML: an index (the answer, the view across datasets, a link per dataset) and one page each.
    index = (tmp_path / "r" / "report.html").read_text()
    pages = re.findall(r'<a href="(report-[^"]+\.html)">', index)
    assert len(pages) == 2 and "The answer" in index and "<h2>Dataset:" not in index
    for page in pages:
        text = (tmp_path / "r" / page).read_text()
        assert '<a href="report.html">' in text and "<h2>Dataset: sim" in text and "The answer" not in text
