"""Paired comparison of two models on a metric that is a mean of per-row terms (accuracy, recall@k, MRR,
NDCG, log loss of a next value; MAE): the same paired bootstrap of sequences as `behave.report.stats`, but
a mean under counts only needs each sequence's sum of terms and their number, so a draw costs sequences,
not rows (a million test events of ten thousand sequences resample as ten thousand)."""

from __future__ import annotations

import numpy as np

from behave.report.stats import PairedAucDiff, bootstrap_row_counts, paired_result


def cluster_sums(terms: np.ndarray, member_of: np.ndarray, n_clusters: int) -> np.ndarray:
    """(2, n_clusters): the sum of each cluster's finite terms, and how many it has. A NaN term (a log loss
    where no model could predict the value) is left out of the mean."""
    finite = np.isfinite(terms)
    total = np.bincount(member_of, weights=np.where(finite, terms, 0.0), minlength=n_clusters)
    return np.stack([total, np.bincount(member_of, weights=finite, minlength=n_clusters)])


def _ratio(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The mean of the terms under cluster counts (n_clusters, k) -> (k,); NaN where no term is drawn."""
    totals, sizes = sums @ counts
    return np.where(sizes > 0, totals / np.where(sizes > 0, sizes, 1.0), np.nan)


def paired_mean_comparison(
    terms_a: np.ndarray,
    terms_b: np.ndarray,
    n_boot: int = 2000,
    seed: int = 0,
    clusters: np.ndarray | None = None,
) -> PairedAucDiff:
    """mean(a) - mean(b) of a metric that is a mean of per-row terms (accuracy, recall@k, log loss, ...)
    over S paired seeds; terms (S, n), clusters (n,) the sequence of each row (None: rows resampled)."""
    terms_a, terms_b = np.asarray(terms_a, dtype=float), np.asarray(terms_b, dtype=float)
    if terms_a.shape != terms_b.shape:
        raise ValueError(f"per-row terms differ in shape: {terms_a.shape}, {terms_b.shape}")
    n_rows = terms_a.shape[1]
    if clusters is None:
        member_of = np.arange(n_rows)
    else:
        member_of = np.unique(np.asarray(clusters), return_inverse=True)[1].reshape(n_rows)
    n_clusters = int(member_of.max()) + 1 if n_rows else 0
    sums_a = [cluster_sums(t, member_of, n_clusters) for t in terms_a]
    sums_b = [cluster_sums(t, member_of, n_clusters) for t in terms_b]
    ones = np.ones((n_clusters, 1))
    point = np.array([_ratio(a, ones)[0] - _ratio(b, ones)[0] for a, b in zip(sums_a, sums_b)])
    rng = np.random.default_rng(seed)
    blocks = [
        np.stack([_ratio(a, counts) - _ratio(b, counts) for a, b in zip(sums_a, sums_b)], axis=1)
        for counts in bootstrap_row_counts(n_clusters, n_boot, rng)
    ]
    return paired_result(point, np.concatenate(blocks, axis=0))
