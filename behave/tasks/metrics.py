"""The ONE metric function that scores every model family on the same test rows (scikit-learn based).
What each metric is (label, range, direction, headline per label kind) is declared in
`behave.tasks.metric_registry`.

Binary: auroc, auprc, accuracy, f1, log_loss, brier, ece. Multiclass: accuracy, macro_f1, log_loss,
macro_auroc (one-vs-rest). `probs` is (n, C) with rows summing to 1; binary uses column 1. A next value
(one class among many): accuracy, recall@k, MRR@10, NDCG@10, log loss, ranked over every class
(`behave.tasks.ranking_metrics`).
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from behave.tasks.ranking_metrics import mean_terms, row_terms, true_ranks


def score_regression(targets: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """RMSE and MAE of predicted values (n,) or (n, 1) against numeric targets (n,)."""
    targets = np.asarray(targets, dtype=np.float64)
    errors = np.asarray(predictions, dtype=np.float64).reshape(len(targets)) - targets
    if len(errors) == 0:
        return {"rmse": float("nan"), "mae": float("nan")}
    return {"rmse": float(np.sqrt(np.mean(errors**2))), "mae": float(np.mean(np.abs(errors)))}


def expected_calibration_error(labels: np.ndarray, positive_prob: np.ndarray, n_bins: int = 15) -> float:
    """Weighted mean |observed rate - mean predicted probability| over equal-width probability bins.

    (scikit-learn has no ECE; calibration_curve drops bin sizes, which ECE needs as weights.)
    """
    bins = np.clip((positive_prob * n_bins).astype(int), 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    observed = np.bincount(bins, weights=labels, minlength=n_bins)
    predicted = np.bincount(bins, weights=positive_prob, minlength=n_bins)
    used = counts > 0
    return float(np.sum(np.abs(observed[used] - predicted[used])) / len(labels))


def score(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """All metrics of the task (binary when probs has 2 columns), as plain floats."""
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.clip(np.asarray(probs, dtype=np.float64), 1e-7, 1 - 1e-7)
    probs = probs / probs.sum(axis=1, keepdims=True)
    n_classes = probs.shape[1]
    predicted = probs.argmax(axis=1)
    single_class = len(np.unique(labels)) < 2
    if n_classes == 2:
        positive = probs[:, 1]
        return {
            "auroc": float("nan") if single_class else float(skm.roc_auc_score(labels, positive)),
            "auprc": float("nan") if single_class else float(skm.average_precision_score(labels, positive)),
            "accuracy": float(skm.accuracy_score(labels, predicted)),
            "f1": float(skm.f1_score(labels, predicted, zero_division=0)),
            "log_loss": float(skm.log_loss(labels, probs, labels=[0, 1])),
            "brier": float(skm.brier_score_loss(labels, positive)),
            "ece": expected_calibration_error(labels, positive),
        }
    classes = list(range(n_classes))
    present = np.unique(labels)
    macro_auroc = float("nan")
    if len(present) > 1:
        # One-vs-rest AUROC over the classes present in the labels (absent classes have no ROC).
        rest = [skm.roc_auc_score(labels == k, probs[:, k]) for k in present]
        macro_auroc = float(np.mean(rest))
    return {
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "macro_f1": float(skm.f1_score(labels, predicted, average="macro", labels=classes, zero_division=0)),
        "log_loss": float(skm.log_loss(labels, probs, labels=classes)),
        "macro_auroc": macro_auroc,
    }


def score_next_value(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """accuracy, recall@5/10/20, MRR@10, NDCG@10 and log loss of probs (R, C) for labels (R,) (class
    index, -1 for a value no model could predict: a miss, left out of the log loss), ranked over all C
    classes with ties broken fairly (`behave.tasks.ranking_metrics`)."""
    return mean_terms(row_terms(true_ranks(labels, probs)))
