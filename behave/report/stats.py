"""Statistics of the comparison report, as pure functions over numpy arrays.

Scores follow one convention everywhere: binary tasks pass the positive-class probability, shape (n,);
multiclass tasks pass all class probabilities, shape (n, C), and AUROC means macro one-vs-rest.

The paired bootstrap resamples SEQUENCES: every draw is a vector of row counts (how often each row was
picked: as often as its sequence was), and both models (and all seeds) are scored with the same counts, so
the differences are paired. Rows of one sequence are not independent (its prefixes, its events), so they
are drawn together; where each sequence has one row this is the plain bootstrap of rows, draw for draw.
AUROC under row counts is a weighted Mann-Whitney statistic, computed for a block of draws at once from
one sort of the scores (cumulative sums, no per-draw sort): 2000 draws on 10k rows, about a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

# The t quantile from scipy.special: importing scipy.stats costs about a second on every CLI start.
from scipy.special import stdtrit

# Draws per block: keeps the (rows, draws) count matrix near 16 MB whatever the number of rows.
_CELLS_PER_BLOCK = 2_000_000


@dataclass(frozen=True)
class PairedAucDiff:
    """metric(a) - metric(b) (AUROC, or RMSE/MAE for regression) on shared test rows, per seed and averaged
    over seeds; 95% percentile CIs.

    per_seed, per_seed_lo, per_seed_hi  (S,)  one entry per paired seed
    mean, lo, hi                              the per-seed differences averaged, CI from the same draws
    """

    per_seed: np.ndarray
    per_seed_lo: np.ndarray
    per_seed_hi: np.ndarray
    mean: float
    lo: float
    hi: float
    # Two-sided bootstrap p-value of the mean difference being 0 (NaN where it could not be computed).
    p_value: float = float("nan")


def weighted_binary_auc(is_positive: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC of `scores` for `is_positive` under row weights (counts); ties count one half.

    is_positive (n,) bool, scores (n,), weights (n, k) one column per weighting -> (k,); NaN where a
    weighting has no positive or no negative row. Rows first, so sorting rows gathers contiguous memory.
    """
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    starts_tie = np.r_[True, sorted_scores[1:] != sorted_scores[:-1]]
    tie_first = np.flatnonzero(starts_tie)
    tie_end = np.r_[tie_first[1:], len(sorted_scores)]
    sorted_weights = weights[order]
    positive = is_positive[order]
    # neg_cum[i] = negative weight among the first i sorted rows; a positive row in tie group g beats the
    # negatives below g and half of those inside g: 0.5 * (neg_cum[first of g] + neg_cum[end of g]).
    neg_cum = np.zeros((len(sorted_scores) + 1, weights.shape[1]), dtype=weights.dtype)
    np.cumsum(sorted_weights * ~positive[:, None], axis=0, out=neg_cum[1:])
    positive_rows = np.flatnonzero(positive)
    group = (np.cumsum(starts_tie) - 1)[positive_rows]
    positive_weights = sorted_weights[positive_rows]
    twice_wins = (positive_weights * (neg_cum[tie_first[group]] + neg_cum[tie_end[group]])).sum(
        0, dtype=float
    )
    pairs = positive_weights.sum(axis=0, dtype=float) * neg_cum[-1].astype(float)
    return np.where(pairs > 0, 0.5 * twice_wins / np.where(pairs > 0, pairs, 1.0), np.nan)


def weighted_auc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Binary AUROC (scores (n,)) or macro one-vs-rest AUROC (scores (n, C)) per weighting (n, k) -> (k,)."""
    labels = np.asarray(labels)
    if scores.ndim == 1:
        return weighted_binary_auc(labels == 1, scores, weights)
    per_class = [weighted_binary_auc(labels == c, scores[:, c], weights) for c in range(scores.shape[1])]
    return np.mean(per_class, axis=0)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """AUROC on all rows once; equals sklearn's roc_auc_score (multiclass: multi_class="ovr", macro)."""
    scores = np.asarray(scores, dtype=float)
    return float(weighted_auc(labels, scores, np.ones((scores.shape[0], 1)))[0])


def bootstrap_row_counts(n_rows: int, n_boot: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield blocks of resamples as row counts, float (n_rows, k), one column per draw, n_boot in total."""
    block = max(1, _CELLS_PER_BLOCK // max(n_rows, 1))
    for start in range(0, n_boot, block):
        k = min(block, n_boot - start)
        # Cell (row, draw) of a row-major (n_rows, k) matrix, so bincount lays the counts out rows first.
        cells = rng.integers(0, n_rows, size=(k, n_rows)) * k + np.arange(k)[:, None]
        yield np.bincount(cells.ravel(), minlength=k * n_rows).reshape(n_rows, k).astype(np.float32)


def bootstrap_counts(
    n_rows: int, n_boot: int, rng: np.random.Generator, clusters: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """Blocks of resamples as row counts (n_rows, k), n_boot draws in total: rows drawn with replacement,
    or with `clusters` (n_rows,) (a sequence id per row) whole clusters drawn, each row counted as often
    as its cluster. With one row per cluster, in sorted order, the draws are the rows' draws exactly."""
    member_of = None if clusters is None else np.unique(np.asarray(clusters), return_inverse=True)[1]
    n_clusters = n_rows if member_of is None or not n_rows else int(member_of.max()) + 1
    if n_clusters == n_rows:  # one row per cluster: resampling rows is resampling clusters
        yield from bootstrap_row_counts(n_rows, n_boot, rng)
        return
    # Blocks sized by rows, so the expanded (rows, draws) matrix stays near the row bootstrap's size.
    block = max(1, _CELLS_PER_BLOCK // max(n_rows, 1))
    for start in range(0, n_boot, block):
        k = min(block, n_boot - start)
        for counts in bootstrap_row_counts(n_clusters, k, rng):
            yield counts[member_of]


def percentile_ci(draws: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap draws along axis 0, ignoring NaN draws: (k, ...) -> lo, hi (...)."""
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.nanpercentile(draws, [tail, 100 - tail], axis=0)
    return lo, hi


def bootstrap_p_value(difference: float, draws: np.ndarray) -> float:
    """Two-sided p-value that the difference is 0, from the bootstrap's standard error (normal
    approximation). Counting draws beyond 0 cannot give less than 2 / (draws + 1), which no correction
    over several comparisons can pass with a few hundred draws; the standard error has no such floor."""
    from scipy.special import ndtr  # the normal CDF, without importing scipy.stats

    draws = np.asarray(draws, dtype=float)
    draws = draws[np.isfinite(draws)]
    if len(draws) < 2 or not np.isfinite(difference):
        return float("nan")
    se = float(draws.std(ddof=1))
    if se == 0.0:
        return 1.0 if difference == 0 else 0.0
    return float(2.0 * ndtr(-abs(difference) / se))


@dataclass(frozen=True)
class DeLong:
    """DeLong's test of AUROC(a) = AUROC(b) on the same rows: the difference, its standard error, z, p."""

    difference: float
    se: float
    z: float
    p_value: float


def _midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their mean rank."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    ranks = np.empty(len(values))
    start = 0
    while start < len(values):
        stop = start
        while stop + 1 < len(values) and ordered[stop + 1] == ordered[start]:
            stop += 1
        ranks[order[start : stop + 1]] = 0.5 * (start + stop) + 1.0
        start = stop + 1
    return ranks


def delong_test(is_positive: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray) -> DeLong:
    """DeLong, DeLong & Clarke-Pearson (1988) with the midrank algorithm of Sun & Xu (2014): the AUROCs'
    covariance from each positive's and each negative's placement values, no resampling. A cross-check of
    the paired bootstrap for one pair of binary scorers (n,) on the same rows."""
    from scipy.special import ndtr  # the normal CDF, without importing scipy.stats

    positive = np.asarray(is_positive, dtype=bool)
    m, n = int(positive.sum()), int((~positive).sum())
    if m == 0 or n == 0:
        return DeLong(float("nan"), float("nan"), float("nan"), float("nan"))
    placements_pos, placements_neg, aucs = [], [], []
    for scores in (np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)):
        pos, neg = scores[positive], scores[~positive]
        ranks_all = _midranks(np.concatenate([pos, neg]))
        ranks_pos, ranks_neg = _midranks(pos), _midranks(neg)
        v10 = (ranks_all[:m] - ranks_pos) / n  # share of negatives each positive outscores
        v01 = 1.0 - (ranks_all[m:] - ranks_neg) / m  # share of positives outscoring each negative
        placements_pos.append(v10)
        placements_neg.append(v01)
        aucs.append(v10.mean())
    s10, s01 = np.cov(np.stack(placements_pos)), np.cov(np.stack(placements_neg))
    covariance = s10 / m + s01 / n
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    difference = float(aucs[0] - aucs[1])
    if variance <= 0:
        return DeLong(difference, 0.0, float("nan"), 1.0 if difference == 0 else 0.0)
    se = float(np.sqrt(variance))
    z = difference / se
    return DeLong(difference, se, float(z), float(2 * ndtr(-abs(z))))


def paired_auc_comparison(
    labels: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    n_boot: int = 2000,
    seed: int = 0,
    clusters: np.ndarray | None = None,
) -> PairedAucDiff:
    """Compare models a and b over S paired seeds on the same test rows.

    labels (n,) int class index; scores_a, scores_b (S, n) binary or (S, n, C) multiclass, seed s of a
    paired with seed s of b; clusters (n,) the sequence of each row (`bootstrap_counts`). Each draw
    resamples once and scores every seed of both models on it, so the combined CI reflects the sampling
    of sequences AND averages the seed-to-seed variation.
    """
    scores_a, scores_b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    if scores_a.shape != scores_b.shape or scores_a.shape[1] != len(labels):
        raise ValueError(f"score shapes differ or do not match labels: {scores_a.shape}, {scores_b.shape}")
    n_seeds = scores_a.shape[0]
    point = np.array([auc(labels, scores_a[s]) - auc(labels, scores_b[s]) for s in range(n_seeds)])
    draws = np.concatenate(list(_diff_draws(labels, scores_a, scores_b, n_boot, seed, clusters)), axis=0)
    return paired_result(point, draws)


def _diff_draws(
    labels: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    n_boot: int,
    seed: int,
    clusters: np.ndarray | None,
) -> Iterator[np.ndarray]:
    """Yield blocks (k, S) of bootstrap AUROC differences, all seeds scored on the same row counts."""
    rng = np.random.default_rng(seed)
    for counts in bootstrap_counts(len(labels), n_boot, rng, clusters):
        yield np.stack(
            [
                weighted_auc(labels, scores_a[s], counts) - weighted_auc(labels, scores_b[s], counts)
                for s in range(scores_a.shape[0])
            ],
            axis=1,
        )


def weighted_error(
    targets: np.ndarray, predictions: np.ndarray, weights: np.ndarray, metric: str
) -> np.ndarray:
    """RMSE or MAE of predictions (n,) under row weights (n, k) -> (k,)."""
    errors = np.asarray(predictions, dtype=float) - np.asarray(targets, dtype=float)
    totals = weights.sum(axis=0)
    if metric == "rmse":
        return np.sqrt((errors**2) @ weights / totals)
    return np.abs(errors) @ weights / totals


def paired_error_comparison(
    targets: np.ndarray,
    preds_a: np.ndarray,
    preds_b: np.ndarray,
    metric: str,
    n_boot: int = 2000,
    seed: int = 0,
    clusters: np.ndarray | None = None,
) -> PairedAucDiff:
    """metric(a) - metric(b) (RMSE or MAE, lower is better) over S paired seeds on the same test rows;
    preds (S, n). The same paired bootstrap (of sequences, given `clusters`) as for AUROC."""
    preds_a, preds_b = np.asarray(preds_a, dtype=float), np.asarray(preds_b, dtype=float)
    if preds_a.shape != preds_b.shape or preds_a.shape[1] != len(targets):
        raise ValueError(
            f"prediction shapes differ or do not match targets: {preds_a.shape}, {preds_b.shape}"
        )
    ones = np.ones((len(targets), 1))
    point = np.array(
        [weighted_error(targets, a, ones, metric)[0] - weighted_error(targets, b, ones, metric)[0]
         for a, b in zip(preds_a, preds_b)]
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    blocks = [
        np.stack(
            [
                weighted_error(targets, a, counts, metric) - weighted_error(targets, b, counts, metric)
                for a, b in zip(preds_a, preds_b)
            ],
            axis=1,
        )  # fmt: skip
        for counts in bootstrap_counts(len(targets), n_boot, rng, clusters)
    ]
    return paired_result(point, np.concatenate(blocks, axis=0))


def paired_result(point: np.ndarray, draws: np.ndarray) -> PairedAucDiff:
    """Point differences (S,) and bootstrap draws (k, S) -> per-seed and seed-mean CIs and p-value."""
    seed_lo, seed_hi = percentile_ci(draws)
    mean_lo, mean_hi = percentile_ci(draws.mean(axis=1))
    p_value = bootstrap_p_value(float(point.mean()), draws.mean(axis=1))
    return PairedAucDiff(
        point, seed_lo, seed_hi, float(point.mean()), float(mean_lo), float(mean_hi), p_value
    )


def paired_bootstrap_auc_diff(
    labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """AUROC(a) - AUROC(b) for one pair of prediction vectors, with a 95% paired bootstrap CI.

    labels (n,); scores (n,) binary or (n, C) multiclass -> (diff, lo, hi).
    """
    one_seed_a, one_seed_b = np.asarray(scores_a)[None], np.asarray(scores_b)[None]
    result = paired_auc_comparison(labels, one_seed_a, one_seed_b, n_boot, seed)
    return result.mean, result.lo, result.hi


def combined_paired_auc_diff(
    labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean over paired seeds of AUROC(a) - AUROC(b), CI from bootstrapping rows; scores (S, n[, C])."""
    result = paired_auc_comparison(labels, scores_a, scores_b, n_boot, seed)
    return result.mean, result.lo, result.hi


def corrected_resampled_t(
    differences: np.ndarray, test_share: float, confidence: float = 0.95
) -> tuple[float, float, float, float]:
    """Nadeau & Bengio's corrected resampled t-test over k runs, each on its own split: (mean, lo, hi, p).

    differences (k,) metric(a) - metric(b), one per split; test_share = n_test / n_train. The variance of
    the mean is (1/k + n_test/n_train) * var(differences), not var / k: training sets of different runs
    overlap, so their results are correlated and the plain t-test is far too confident.
    """
    from scipy.special import stdtr  # the t CDF, without importing scipy.stats

    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    k = len(d)
    if k < 2:
        return (float(d.mean()) if k else float("nan")), float("nan"), float("nan"), float("nan")
    mean = float(d.mean())
    se = float(np.sqrt((1.0 / k + test_share) * d.var(ddof=1)))
    if se == 0.0:
        return mean, mean, mean, (1.0 if mean == 0 else 0.0)
    margin = float(stdtrit(k - 1, 0.5 + confidence / 2)) * se
    p_value = float(2.0 * stdtr(k - 1, -abs(mean) / se))
    return mean, mean - margin, mean + margin, p_value


def seed_mean_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """Mean, sample std and t-interval of per-seed values (n,) -> (mean, std, lo, hi).

    With one value the spread is unknown: std, lo and hi are NaN.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return (np.nan,) * 4
    mean = float(values.mean())
    if values.size == 1:
        return mean, np.nan, np.nan, np.nan
    std = float(values.std(ddof=1))
    half_width = stdtrit(values.size - 1, 0.5 + confidence / 2) * std / np.sqrt(values.size)
    return mean, std, mean - half_width, mean + half_width
