"""Many comparisons adjusted together, the bootstrap p-value, and DeLong's test as a cross-check."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from behave.report.multiplicity import Correction, adjust
from behave.report.paired import Comparison, verdict
from behave.report.stats import PairedAucDiff, bootstrap_p_value, delong_test, paired_auc_comparison


def comparison(name: str, mean: float, lo: float, hi: float, p: float) -> Comparison:
    result = PairedAucDiff(np.array([mean]), np.array([lo]), np.array([hi]), mean, lo, hi, p)
    return Comparison(name, "xgboost", [0], result)


@pytest.mark.parametrize(("correction", "method"), [(Correction.holm, "holm"), (Correction.bh, "fdr_bh")])
def test_adjusted_p_values_are_statsmodels_over_the_comparisons_that_have_one(correction, method):
    raw = [0.001, 0.04, 0.03, 0.2, 0.012]
    comparisons = [comparison(f"m{i}", 0.05, 0.01, 0.09, p) for i, p in enumerate(raw)]
    comparisons.insert(2, Comparison("broken", "xgboost", [], None, "no predictions"))
    adjusted = adjust(comparisons, correction)
    expected = multipletests(raw, method=method)[1]
    tested = [c for c in adjusted if c.result is not None]
    assert np.allclose([c.p_adjusted for c in tested], expected)
    assert all(c.n_tests == 5 for c in tested)
    assert adjusted[2].p_adjusted is None and adjusted[2].problem == "no predictions"
    assert adjust(comparisons, Correction.none) == comparisons


def test_a_difference_that_does_not_survive_the_correction_is_not_called_a_win():
    # Alone, a CI of 0.002..0.06 with p = 0.03 is a win; among five such comparisons under Holm it is not.
    alone = adjust([comparison("gru", 0.03, 0.002, 0.06, 0.03)], Correction.holm)[0]
    assert alone.significant and verdict(alone).startswith("GRU beats XGBoost by 0.030 AUROC")
    crowd = adjust([comparison(f"m{i}", 0.03, 0.002, 0.06, 0.03) for i in range(5)], Correction.holm)
    assert not any(c.significant for c in crowd)
    assert "No significant difference between m0 and XGBoost after Holm correction" in verdict(crowd[0])
    assert "Holm-adjusted p = 0.150 over 5 comparisons" in verdict(crowd[0])


def test_bootstrap_p_value_is_two_sided_from_the_bootstrap_standard_error():
    draws = np.random.default_rng(0).normal(1.0, 0.5, 20000)  # a difference two standard errors from 0
    assert bootstrap_p_value(1.0, draws) == pytest.approx(0.0455, abs=0.002)
    assert bootstrap_p_value(-1.0, -draws) == pytest.approx(bootstrap_p_value(1.0, draws))
    assert bootstrap_p_value(0.0, draws - 1.0) == pytest.approx(1.0)
    # No floor at 2 / (draws + 1) = 0.039: fifty draws five standard errors from 0 give a small p.
    clear = np.random.default_rng(1).normal(1.0, 0.2, 50)
    assert bootstrap_p_value(1.0, clear) < 1e-4


def structural_components_se(is_positive, scores_a, scores_b) -> float:
    """DeLong's standard error of AUROC(a) - AUROC(b) straight from the 1988 definitions, O(m n)."""
    placements = []
    for scores in (scores_a, scores_b):
        pos, neg = scores[is_positive], scores[~is_positive]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        placements.append((psi.mean(axis=1), psi.mean(axis=0)))
    s10 = np.cov(np.stack([placements[0][0], placements[1][0]]))
    s01 = np.cov(np.stack([placements[0][1], placements[1][1]]))
    covariance = s10 / is_positive.sum() + s01 / (~is_positive).sum()
    return float(np.sqrt(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]))


@pytest.mark.parametrize("discrete", [False, True])
def test_delong_matches_the_definition_with_and_without_ties(discrete):
    rng = np.random.default_rng(3)
    y = rng.random(400) < 0.3
    a, b = y + rng.normal(0, 1, 400), 0.6 * y + rng.normal(0, 1, 400)
    if discrete:  # scores on a coarse grid: many ties within and across classes
        a, b = np.round(a), np.round(b * 2) / 2
    test = delong_test(y, a, b)
    assert test.se == pytest.approx(structural_components_se(y, a, b), rel=1e-10)
    bootstrap = paired_auc_comparison(y.astype(int), a[None], b[None], n_boot=2000, seed=0)
    assert test.difference == pytest.approx(bootstrap.mean, abs=1e-12)
    # The two intervals agree to within the bootstrap's own noise.
    assert test.difference - 1.96 * test.se == pytest.approx(bootstrap.lo, abs=0.02)


def test_delong_rejects_about_five_percent_of_true_ties():
    rng = np.random.default_rng(0)
    rejected = 0
    for _ in range(400):
        y = rng.random(200) < 0.4
        signal = y + rng.normal(0, 1, 200)
        # Two scorers of the same quality, correlated through the shared signal.
        a, b = signal + rng.normal(0, 0.7, 200), signal + rng.normal(0, 0.7, 200)
        rejected += delong_test(y, a, b).p_value < 0.05
    assert 0.02 <= rejected / 400 <= 0.09
