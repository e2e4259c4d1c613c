"""How a next value (one class among many) is ranked and scored, over the FULL set of classes: no sampled
negatives, which mis-rank models (Krichene & Rendle 2020). Tasks score by `metrics.score_next_value`;
what each metric is lives in `behave.tasks.metric_registry` (label kind `next_value`).

Every metric here is a mean over rows of one term per row, and each term depends only on where the true
class stands: how many classes the model put strictly above it (`above`), how many others it tied with
(`tied`), and the probability it gave it. Ties are broken fairly: a term is its expectation when the tied
block is put in a uniformly random order, so a model that ties every class scores what random guessing
scores (recall@k = k / C), not 0 (the pessimistic order) nor 1 (the optimistic one).

A label of -1 is a value no model could predict (never seen in training): a miss in accuracy, recall, MRR
and NDCG, and left out of the log loss (whose mean is over the predictable rows only). The task's data
card counts those rows; the scores do not carry a count, since every key of a score is a metric.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RECALL_CUTOFFS = (5, 10, 20)
RANK_CUTOFF = 10  # of MRR@k and NDCG@k
# Probabilities are clipped to this floor before the log, as `behave.tasks.metrics.score` does.
PROB_FLOOR = 1e-7
# Rows ranked per block: bounds the (rows, classes) comparison matrices to a few tens of MB.
_ROWS_PER_BLOCK = 4096


@dataclass(frozen=True)
class TrueRanks:
    """Where each row's true class stands among all C classes.

    above (R,) int64: classes with a strictly higher probability (C for an unpredictable row);
    tied (R,) int64: OTHER classes with exactly its probability;
    prob (R,) float64: its probability (NaN for an unpredictable row)."""

    above: np.ndarray
    tied: np.ndarray
    prob: np.ndarray

    def take(self, rows: np.ndarray) -> TrueRanks:
        return TrueRanks(self.above[rows], self.tied[rows], self.prob[rows])

    @property
    def predictable(self) -> np.ndarray:
        return np.isfinite(self.prob)


def true_ranks(labels: np.ndarray, probs: np.ndarray) -> TrueRanks:
    """labels (R,) class index or -1, probs (R, C) -> where each true class stands (`TrueRanks`)."""
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[0] != len(labels):
        raise ValueError(f"probs must be (rows, classes) for {len(labels)} labels, got shape {probs.shape}")
    n_classes = probs.shape[1]
    if len(labels) and labels.max() >= n_classes:
        raise ValueError(f"label {int(labels.max())} is not a class index below {n_classes}")
    predictable = labels >= 0
    above = np.full(len(labels), n_classes, dtype=np.int64)
    tied = np.zeros(len(labels), dtype=np.int64)
    prob = np.full(len(labels), np.nan)
    for start in range(0, len(labels), _ROWS_PER_BLOCK):
        rows = np.arange(start, min(start + _ROWS_PER_BLOCK, len(labels)))
        rows = rows[predictable[rows]]
        block = probs[rows]
        true = block[np.arange(len(rows)), labels[rows]][:, None]
        above[rows] = (block > true).sum(axis=1)
        tied[rows] = (block == true).sum(axis=1) - 1
        prob[rows] = true[:, 0]
    return TrueRanks(above, tied, prob)


def expected_gain(ranks: TrueRanks, gains: np.ndarray) -> np.ndarray:
    """(R,) the mean of gains[p - 1] over the positions p the true class may take in its tied block
    (above + 1 .. above + tied + 1, each equally likely); gains (k,) per position 1..k, 0 beyond k and for
    an unpredictable row."""
    total = np.zeros(len(ranks.above))
    for position, gain in enumerate(gains, start=1):
        in_block = (ranks.above < position) & (position <= ranks.above + ranks.tied + 1)
        total += gain * in_block
    return np.where(ranks.predictable, total / (ranks.tied + 1), 0.0)


def row_terms(ranks: TrueRanks) -> dict[str, np.ndarray]:
    """Each next-value metric's term per row (R,), keyed by the registry's names; a metric is the mean of
    its terms (log loss: over the finite ones, the predictable rows). The report pairs these per row."""
    terms = {"accuracy": expected_gain(ranks, np.ones(1))}
    for k in RECALL_CUTOFFS:
        terms[f"recall@{k}"] = expected_gain(ranks, np.ones(k))
    positions = np.arange(1, RANK_CUTOFF + 1)
    terms[f"mrr@{RANK_CUTOFF}"] = expected_gain(ranks, 1.0 / positions)
    # One relevant class: the ideal DCG is 1, so NDCG is the discounted gain at the true class's position.
    terms[f"ndcg@{RANK_CUTOFF}"] = expected_gain(ranks, 1.0 / np.log2(positions + 1))
    terms["log_loss"] = -np.log(np.clip(ranks.prob, PROB_FLOOR, 1.0))
    return terms


def mean_terms(terms: dict[str, np.ndarray]) -> dict[str, float]:
    """Each metric as the mean of its finite terms (NaN where there is none)."""
    means = {}
    for name, values in terms.items():
        finite = values[np.isfinite(values)]
        means[name] = float(finite.mean()) if len(finite) else float("nan")
    return means
