"""A verdict that knows its size: the difference a comparison can detect, read against the difference that
matters (--rope), decides between a winner, no significant difference and "too few test sequences"; the
data card names parts too small to measure on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from behave.data.config import prepare_from_config
from behave.data.storage.card import SMALL_PART_RESOLUTION, auroc_resolution, format_card
from behave.report.__main__ import main as report_main
from behave.report.paired import Comparison, verdict, verdict_cell, with_rope
from behave.report.resolution import Decision, decide, resolution, rope_for
from behave.report.stats import PairedAucDiff, paired_auc_comparison
from behave.tasks import metric_registry as registry
from behave.train import run
from tests.compose import compose_train


@pytest.mark.parametrize(
    ("lo", "hi", "significant", "rope", "expected"),
    [
        (-0.15, 0.17, False, 0.01, Decision.too_few),  # 40 sequences of noise: cannot see 0.01
        (-0.004, 0.006, False, 0.01, Decision.no_difference),  # narrow enough to have seen 0.01
        (0.002, 0.30, True, 0.01, Decision.too_few),  # excludes 0, reaches into the rope, wide
        (0.05, 0.35, True, 0.01, Decision.winner),  # wide, but the whole interval clears the rope
        (-0.35, -0.05, True, 0.01, Decision.winner),  # the same, the reference wins
        (0.002, 0.008, True, 0.01, Decision.winner),  # narrow: a small difference, told
        (0.002, 0.30, True, None, Decision.winner),  # no rope: judged at 0 alone, as before
        (-0.15, 0.17, False, None, Decision.no_difference),
        (np.nan, np.nan, False, 0.01, Decision.not_compared),
    ],
)
def test_decide_reads_an_interval_against_the_difference_that_matters(lo, hi, significant, rope, expected):
    assert decide(lo, hi, significant, rope) is expected


def test_the_resolution_is_the_difference_detected_with_eighty_percent_power():
    # A difference of `resolution` standard errors lands beyond 1.96 of them 80% of the time.
    rng = np.random.default_rng(0)
    se = 0.02
    estimates = rng.normal(resolution(-1.96 * se, 1.96 * se), se, 200_000)
    assert np.mean(estimates > 1.96 * se) == pytest.approx(0.80, abs=0.005)


def test_the_rope_reaches_metrics_on_the_headlines_scale_only():
    accuracy, recall, log_loss = (registry.metric(n) for n in ("accuracy", "recall@10", "log_loss"))
    assert rope_for(recall, accuracy, 0.01) == 0.01
    assert rope_for(log_loss, accuracy, 0.01) is None
    assert rope_for(recall, accuracy, None) is None


def comparison(mean: float, lo: float, hi: float, rope: float | None, over: str = "seeds") -> Comparison:
    result = PairedAucDiff(np.array([mean]), np.array([lo]), np.array([hi]), mean, lo, hi, 0.5)
    return Comparison("gru", "xgboost", [0, 1, 2], result, rope=rope, over=over)


def test_a_wide_interval_says_too_few_test_sequences_and_the_smallest_difference_it_detects():
    wide = comparison(0.012, -0.14, 0.16, rope=0.01)
    assert not wide.significant and wide.decision is Decision.too_few
    text = verdict(wide)
    assert text.startswith(
        "Too few test sequences for a verdict between GRU and XGBoost: differences smaller"
    )
    assert f"{resolution(-0.14, 0.16):.3f} AUROC" in text and "(--rope) is 0.01" in text
    assert "95% CI -0.140 to 0.160" in text and "over 3 seeds" in text
    assert verdict_cell(wide) == f"+0.012 [-0.140, +0.160] too few to tell < {resolution(-0.14, 0.16):.3f}"
    splits = comparison(0.012, -0.14, 0.16, rope=0.01, over="splits")
    assert verdict(splits).startswith("Too few splits for a verdict")
    # The same interval judged without a rope, or against a coarse one, is a bare "no significant difference".
    assert verdict(with_rope([wide], None)[0]).startswith("No significant difference between GRU and XGBoost")
    assert verdict(with_rope([wide], 0.5)[0]).startswith("No significant difference between GRU and XGBoost")
    assert verdict_cell(comparison(0.2, 0.05, 0.35, rope=0.01)) == "**+0.200 [+0.050, +0.350]**"


def noise_comparisons(n_sequences: int, replicates: int, correlated: bool) -> list[Comparison]:
    """Paired comparisons of two scorers of a pure-noise label over three seeds on `n_sequences` test
    sequences (independent scorers, or two that share most of their scores)."""
    rng = np.random.default_rng(7)
    found = []
    for replicate in range(replicates):
        labels = np.arange(n_sequences) % 5 < 2  # 40% positive
        a = rng.random((3, n_sequences))
        b = a + 0.05 * rng.normal(size=a.shape) if correlated else rng.random((3, n_sequences))
        result = paired_auc_comparison(labels.astype(int), a, b, n_boot=300, seed=replicate)
        found.append(Comparison("gru", "xgboost", [0, 1, 2], result, rope=0.01))
    return found


def test_a_pure_noise_label_on_forty_test_sequences_says_too_few_not_no_difference():
    found = noise_comparisons(40, 100, correlated=False)
    decisions = [c.decision for c in found]
    # A calibrated 95% test still crosses 0 about once in twenty; far from half the noise it says "too few".
    assert decisions.count(Decision.too_few) >= 0.9 * len(found)
    assert decisions.count(Decision.winner) <= 0.08 * len(found)
    assert Decision.no_difference not in decisions  # 40 sequences never resolve 0.01 AUROC
    assert all(c.resolution > 0.1 for c in found)
    # Two scorers that agree row by row on 4,000 sequences do resolve 0.01: a plain "no difference".
    close = noise_comparisons(4000, 5, correlated=True)
    assert all(c.resolution < 0.01 and c.decision is Decision.no_difference for c in close)


def write_run(run_dir: Path, model: str, seed: int, labels: np.ndarray, scores: np.ndarray) -> None:
    """One finished run of a binary task: result.json and its test predictions."""
    run_dir.mkdir(parents=True)
    ids = [f"s{i:03d}" for i in range(len(labels))]
    record = {
        "status": "ok",
        "model": {"name": model, "family": "neural" if model == "gru" else "tabular"},
        "seed": seed,
        "dataset": {
            "name": "tiny",
            "fingerprint": "0123456789abcdef",
            "task": "binary",
            "class_names": ["0", "1"],
            "split_sizes": {"train": 150, "val": 30, "test": len(labels)},
        },
        "config": {},
        "best_val": {"metric": "val/auroc", "value": 0.5},
        "test_metrics": {"auroc": float(roc_auc_score(labels, scores))},
    }
    (run_dir / "result.json").write_text(json.dumps(record))
    frame = pd.DataFrame({"sequence_id": ids, "label": labels, "prob_0": 1 - scores, "prob_1": scores})
    frame.to_parquet(run_dir / "test_predictions.parquet")


def test_the_report_on_forty_noise_sequences_names_no_winner(tmp_path):
    rng = np.random.default_rng(3)
    labels = (rng.random(40) < 0.4).astype(int)
    for seed in range(3):
        for model in ("gru", "xgboost"):
            write_run(tmp_path / "runs" / f"{model}-{seed}", model, seed, labels, rng.random(40))
    assert report_main([str(tmp_path / "runs"), "--n-boot", "100", "--reference", "xgboost"]) == 0
    markdown = (tmp_path / "runs" / "report.md").read_text()
    assert "beats" not in markdown
    assert (
        "**Too few test sequences for a verdict between GRU and XGBoost: differences smaller than" in markdown
    )
    assert "Against XGBoost: too few test sequences for a verdict: GRU (" in markdown
    assert 'the verdict is "too few test sequences"' in markdown
    # A difference that matters of 0.5 AUROC is one 40 sequences can see: the verdict is a bare one.
    assert report_main([str(tmp_path / "runs"), "--n-boot", "100", "--rope", "0.5"]) == 0
    coarse = (tmp_path / "runs" / "report.md").read_text()
    assert "No significant difference between GRU and XGBoost" in coarse and "Too few" not in coarse


def test_auroc_resolution_is_the_spread_of_a_chance_auroc():
    # 14 positives and 30 negatives, the test part of the 220-case log: random scores' AUROC spreads as
    # the card says.
    # AUROC from ranks (Mann-Whitney), 20,000 draws at once.
    ranks = np.random.default_rng(0).random((20_000, 44)).argsort(axis=1).argsort(axis=1) + 1
    chance = (ranks[:, :14].sum(axis=1) - 14 * 15 / 2) / (14 * 30)
    assert np.quantile(np.abs(chance - 0.5), 0.95) == pytest.approx(
        auroc_resolution(np.array([30, 14])), rel=0.04
    )
    assert auroc_resolution(np.array([30, 0])) is None


def test_the_card_names_small_parts(data_config, make_tables):
    small = prepare_from_config(data_config(*make_tables(100, seed=3))).card
    (warning,) = [w for w in small["warnings"] if w.startswith("small parts")]
    assert re.search(r"val \d+ sequences .*; test \d+ sequences", warning) and "train" not in warning
    assert small["parts"]["test"]["auroc_resolution"] > SMALL_PART_RESOLUTION
    assert "small: one AUROC ±" in format_card(small)
    large = prepare_from_config(data_config(*make_tables(1200, seed=3))).card
    assert large["parts"]["test"]["auroc_resolution"] < SMALL_PART_RESOLUTION
    assert not [w for w in large["warnings"] if w.startswith("small parts")]


@pytest.mark.slow
def test_a_trained_pair_on_a_pure_noise_label_with_forty_test_sequences_gets_no_winner(tmp_path):
    # 264 simulated users: the default 70/15/15 split leaves 40 test sequences; neither order nor counts
    # carry the label.
    noise = ["data.source.n_users=264", "data.source.order_strength=0", "data.source.count_strength=0"]
    root = tmp_path / "sweep"
    for model in ("logreg", "xgboost"):
        result = run(compose_train([*noise, f"model={model}"], root / model, tmp_path))
        assert result.status == "ok" and result.dataset["split_sizes"]["test"] == 40
    assert report_main([str(root), "--n-boot", "200"]) == 0
    markdown = (root / "report.md").read_text()
    assert "beats" not in markdown
    assert "Too few test sequences for a verdict between" in markdown
    assert "**Warning:** `small parts: val" in markdown


def test_the_per_group_summary_uses_the_verdict_rules_words():
    """A group whose interval is too wide is summarised as 'too few', as its cell says, not as 'no
    significant difference'; 'elsewhere' only when some group is left."""
    from behave.report.groups import summary_lines

    wide, narrow_win = comparison(0.05, -0.10, 0.20, rope=0.01), comparison(0.05, 0.03, 0.07, rope=0.01)
    narrow_none = comparison(0.0, -0.004, 0.004, rope=0.01)
    (line,) = summary_lines({"1": [wide], "2": [narrow_win]})
    assert "better at 2" in line and "too few test sequences for a verdict at 1" in line
    assert "elsewhere" not in line
    (line,) = summary_lines({"1": [wide], "2": [narrow_none]})
    assert "too few test sequences for a verdict at 1" in line
    assert "no significant difference elsewhere" in line
