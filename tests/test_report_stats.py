"""Statistics of the report on synthetic predictions whose true relation is known."""

import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import roc_auc_score

from behave.report.stats import (
    auc,
    bootstrap_row_counts,
    combined_paired_auc_diff,
    paired_auc_comparison,
    paired_bootstrap_auc_diff,
    paired_error_comparison,
    seed_mean_ci,
    weighted_auc,
    weighted_error,
)


def binary_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels (n,) and a moderately informative score (n,) for them."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    return labels, 0.8 * labels + rng.normal(size=n)


def test_auc_equals_sklearn_with_ties():
    labels, score = binary_data(3000, seed=1)
    tied = np.round(score, 1)  # about 60 distinct values: many ties across classes
    assert len(np.unique(tied)) < 100
    assert auc(labels, tied) == pytest.approx(roc_auc_score(labels, tied), abs=1e-12)
    assert auc(labels, score) == pytest.approx(roc_auc_score(labels, score), abs=1e-12)


def test_auc_equals_sklearn_macro_one_vs_rest():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 4, 2000)
    logits = rng.normal(size=(2000, 4)) + 1.5 * np.eye(4)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probs = np.round(probs, 2) / np.round(probs, 2).sum(axis=1, keepdims=True)  # ties, rows still sum to 1
    expected = roc_auc_score(labels, probs, multi_class="ovr", average="macro")
    assert auc(labels, probs) == pytest.approx(expected, abs=1e-12)


def test_weighted_auc_equals_auc_of_repeated_rows():
    labels, score = binary_data(400, seed=3)
    score = np.round(score, 1)
    counts = np.random.default_rng(4).integers(0, 4, size=(400, 3)).astype(float)
    weighted = weighted_auc(labels, score, counts)
    for draw in range(3):
        repeat = counts[:, draw].astype(int)
        expected = roc_auc_score(np.repeat(labels, repeat), np.repeat(score, repeat))
        assert weighted[draw] == pytest.approx(expected, abs=1e-12)


def test_bootstrap_row_counts_are_resamples_of_all_rows():
    blocks = list(bootstrap_row_counts(n_rows=50_000, n_boot=130, rng=np.random.default_rng(0)))
    counts = np.concatenate(blocks, axis=1)
    assert len(blocks) > 1  # 50k rows force more than one block
    assert counts.shape == (50_000, 130)
    np.testing.assert_array_equal(counts.sum(axis=0), 50_000)
    again = np.concatenate(list(bootstrap_row_counts(50_000, 130, np.random.default_rng(0))), axis=1)
    np.testing.assert_array_equal(counts, again)


def test_real_advantage_gives_ci_of_the_right_sign():
    labels, score_a = binary_data(2000, seed=5)
    score_b = score_a + 0.5 * labels  # b = a plus label-dependent signal: strictly better ranking
    diff, lo, hi = paired_bootstrap_auc_diff(labels, score_a, score_b, n_boot=500, seed=0)
    assert diff == pytest.approx(auc(labels, score_a) - auc(labels, score_b))
    assert lo <= diff <= hi < 0
    diff_ba, lo_ba, hi_ba = paired_bootstrap_auc_diff(labels, score_b, score_a, n_boot=500, seed=0)
    assert 0 < lo_ba <= diff_ba <= hi_ba
    assert diff_ba == pytest.approx(-diff)


def test_equally_good_models_give_ci_that_includes_zero():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 2, 2000)
    score_a = labels + rng.normal(size=2000)
    score_b = labels + rng.normal(size=2000)  # same strength, independent noise
    diff, lo, hi = paired_bootstrap_auc_diff(labels, score_a, score_b, n_boot=500, seed=0)
    assert lo < 0 < hi
    assert lo <= diff <= hi


def test_a_model_against_itself_differs_by_exactly_zero():
    labels, score = binary_data(500, seed=7)
    assert paired_bootstrap_auc_diff(labels, score, score, n_boot=200, seed=0) == (0.0, 0.0, 0.0)


def test_paired_ci_is_narrower_than_unpaired_spread():
    # Two highly correlated models: pairing removes the shared row noise, so the CI of the difference
    # must be much narrower than the CI of either AUROC alone.
    labels, score_a = binary_data(2000, seed=8)
    score_b = score_a + np.random.default_rng(9).normal(scale=0.1, size=2000)
    _, lo, hi = paired_bootstrap_auc_diff(labels, score_a, score_b, n_boot=400, seed=0)
    _, lo_alone, hi_alone = paired_bootstrap_auc_diff(labels, score_a, np.zeros(2000), n_boot=400, seed=0)
    assert hi - lo < 0.3 * (hi_alone - lo_alone)


def test_multiclass_comparison_uses_macro_auroc():
    rng = np.random.default_rng(10)
    labels = rng.integers(0, 3, 1500)
    noise = rng.normal(size=(1500, 3))
    weak = np.exp(noise + 0.5 * np.eye(3)[labels])
    strong = np.exp(noise + 1.5 * np.eye(3)[labels])
    weak, strong = weak / weak.sum(1, keepdims=True), strong / strong.sum(1, keepdims=True)
    diff, lo, hi = paired_bootstrap_auc_diff(labels, strong, weak, n_boot=300, seed=0)
    expected = roc_auc_score(labels, strong, multi_class="ovr") - roc_auc_score(
        labels, weak, multi_class="ovr"
    )
    assert diff == pytest.approx(expected, abs=1e-12)
    assert 0 < lo <= diff <= hi


def test_combined_over_seeds_averages_paired_seed_differences():
    labels, base = binary_data(1500, seed=11)
    rng = np.random.default_rng(12)
    seeds_a = np.stack([base + rng.normal(scale=0.3, size=1500) for _ in range(3)])
    seeds_b = np.stack([base + 0.3 * labels + rng.normal(scale=0.3, size=1500) for _ in range(3)])
    result = paired_auc_comparison(labels, seeds_a, seeds_b, n_boot=300, seed=0)
    singles = [paired_bootstrap_auc_diff(labels, a, b, n_boot=300, seed=0) for a, b in zip(seeds_a, seeds_b)]
    np.testing.assert_allclose(result.per_seed, [s[0] for s in singles])
    # Same bootstrap seed -> the same row resamples -> each seed's CI matches its single-seed CI.
    np.testing.assert_allclose(result.per_seed_lo, [s[1] for s in singles])
    assert result.mean == pytest.approx(np.mean(result.per_seed))
    assert result.lo <= result.mean <= result.hi < 0
    assert combined_paired_auc_diff(labels, seeds_a, seeds_b, n_boot=300, seed=0) == (
        result.mean,
        result.lo,
        result.hi,
    )


def test_paired_comparison_rejects_mismatched_shapes():
    labels, score = binary_data(100, seed=13)
    with pytest.raises(ValueError, match="shapes"):
        paired_auc_comparison(labels, score[None], score[None, :50])


def test_seed_mean_ci_matches_scipy_t_interval():
    values = np.array([0.81, 0.79, 0.835, 0.80, 0.78])
    mean, std, lo, hi = seed_mean_ci(values)
    expected_lo, expected_hi = scipy_stats.t.interval(
        0.95, df=len(values) - 1, loc=values.mean(), scale=scipy_stats.sem(values)
    )
    assert mean == pytest.approx(values.mean())
    assert std == pytest.approx(values.std(ddof=1))
    assert (lo, hi) == pytest.approx((expected_lo, expected_hi))
    assert lo < mean < hi


def test_seed_mean_ci_with_one_seed_has_no_interval():
    mean, std, lo, hi = seed_mean_ci(np.array([0.7]))
    assert mean == 0.7
    assert np.isnan(std) and np.isnan(lo) and np.isnan(hi)


def rating_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Targets (n,), a better predictor's output and a worse one's (S=1 seed each, shape (1, n))."""
    rng = np.random.default_rng(seed)
    targets = rng.uniform(1, 5, n)
    return targets, (targets + rng.normal(0, 0.8, n))[None], (targets + rng.normal(0, 1.0, n))[None]


@pytest.mark.parametrize("metric", ["rmse", "mae"])
def test_weighted_error_equals_the_error_of_repeated_rows(metric):
    targets, better, _ = rating_data(200, seed=3)
    counts = np.random.default_rng(4).integers(0, 4, 200)
    repeated = np.repeat(np.arange(200), counts)
    errors = better[0][repeated] - targets[repeated]
    direct = np.sqrt(np.mean(errors**2)) if metric == "rmse" else np.mean(np.abs(errors))
    assert weighted_error(targets, better[0], counts[:, None].astype(float), metric)[0] == pytest.approx(
        direct
    )


def test_lower_error_gives_a_negative_difference_with_a_ci_below_zero():
    targets, better, worse = rating_data(4000, seed=5)
    result = paired_error_comparison(targets, better, worse, "rmse", n_boot=500, seed=0)
    direct = np.sqrt(np.mean((better[0] - targets) ** 2)) - np.sqrt(np.mean((worse[0] - targets) ** 2))
    assert result.mean == pytest.approx(direct)
    assert result.lo <= result.mean <= result.hi < 0


def test_equally_good_error_models_give_a_ci_that_includes_zero():
    rng = np.random.default_rng(6)
    targets = rng.uniform(1, 5, 3000)
    first, second = (targets + rng.normal(0, 0.9, 3000))[None], (targets + rng.normal(0, 0.9, 3000))[None]
    result = paired_error_comparison(targets, first, second, "mae", n_boot=500, seed=0)
    assert result.lo < 0 < result.hi
    itself = paired_error_comparison(targets, first, first, "rmse", n_boot=200, seed=0)
    assert itself.mean == itself.lo == itself.hi == 0.0
