"""Why a tree model decides: exact per-prediction SHAP values from the boosting libraries themselves
(XGBoost's `pred_contribs`, LightGBM's `pred_contrib`: TreeSHAP), summed by kind of feature (each column's
kind is declared by the feature group or task that writes it: `TaskDataset.feature_kinds`).

Contributions are on the margin (log-odds for a binary label): a row's contributions plus the bias sum to
its margin. Multiclass rows: the contributions to the predicted class.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def contributions(model, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """((R, F) per-feature contributions, (R,) bias) to each row's margin, from a fitted XGBoost
    classifier/regressor or a LightGBM booster."""
    x = features.to_numpy(dtype=np.float32)
    if hasattr(model, "get_booster"):  # XGBoost's scikit-learn wrapper
        import xgboost as xgb

        # The frame as the model was fitted (its column names are the booster's feature names).
        matrix = xgb.DMatrix(features)
        raw = model.get_booster().predict(matrix, pred_contribs=True, iteration_range=_rounds(model))
    else:  # a LightGBM Booster
        raw = np.asarray(model.predict(x, pred_contrib=True))
    n_features = features.shape[1]
    if raw.ndim == 3:  # XGBoost multiclass: (R, C, F + 1)
        chosen = raw[..., :-1].sum(axis=2).argmax(axis=1)
        raw = raw[np.arange(len(raw)), chosen]
    elif raw.shape[1] > n_features + 1:  # LightGBM multiclass: C blocks of F + 1 side by side
        blocks = raw.reshape(len(raw), -1, n_features + 1)
        chosen = blocks[..., :-1].sum(axis=2).argmax(axis=1)
        raw = blocks[np.arange(len(raw)), chosen]
    return raw[:, :-1], raw[:, -1]


def _rounds(model) -> tuple[int, int]:
    best = getattr(model, "best_iteration", None)
    return (0, int(best) + 1) if best is not None else (0, 0)


def share_by_kind(values: np.ndarray, kinds: list[str]) -> pd.Series:
    """Share of the mean absolute contribution held by each kind of feature (sums to 1); `kinds` (F,) the
    kind of each column of `values`, as the task's feature table records them."""
    magnitude = pd.Series(np.abs(values).mean(axis=0))
    by_kind = magnitude.groupby(kinds).sum()
    return (by_kind / by_kind.sum()).sort_values(ascending=False)
