"""Attributions of one run's predictions, as tables and a summary the report reads.

    features  (tree models) one row per predicted row: each feature's SHAP contribution to the margin,
              plus `bias`; summary: the share of |contribution| per kind of feature (`add_kind_shares`,
              from the kinds the task declared), the top features
    events    (neural models) one row per (predicted row, event): the event's integrated-gradients
              attribution, its position from the end (1 = the last event the row saw) and its token;
              summary: the share of |attribution| by position from the end, the top tokens

Nothing here imports torch: a tree run's explanation never pays for it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from behave.explain.tabular import contributions, share_by_kind

# Positions from the end of each row's history, grouped for the summary (1 = the last event).
POSITION_BUCKETS = ((1, 1), (2, 2), (3, 3), (4, 5), (6, 10), (11, 20), (21, 50), (51, 10**9))


@dataclass
class Explanation:
    kind: str  # "features" or "events"
    table: pd.DataFrame
    summary: dict = field(default_factory=dict)


def feature_explanation(model, features: pd.DataFrame, names: list[str]) -> Explanation:
    started = time.perf_counter()
    values, bias = contributions(model, features)
    method = "TreeSHAP, the boosting library's own exact per-row contributions to the margin"
    return _features(values, bias, names, method, started)


def _features(
    values: np.ndarray, bias: np.ndarray, names: list[str], method: str, started: float
) -> Explanation:
    """The per-row table (contributions and bias) and its summary, for any exact feature attribution."""
    table = pd.DataFrame(values, columns=names)
    table.insert(0, "row", np.arange(len(table)))
    table["bias"] = bias
    magnitude = pd.Series(np.abs(values).mean(axis=0), index=names).sort_values(ascending=False)
    summary = {
        "method": method,
        "rows": len(table),
        "top_features": [[name, round(float(v), 5)] for name, v in magnitude.head(15).items()],
        "seconds": round(time.perf_counter() - started, 2),
    }
    return Explanation("features", table, summary)


def add_kind_shares(explanation: Explanation, kinds: dict[str, str]) -> None:
    """Add to a feature explanation's summary the share of |contribution| per kind of feature; `kinds` the
    task's declared kind of each feature column (`TaskDataset.feature_kinds`)."""
    missing = [name for name in kinds if name not in explanation.table.columns]
    if missing:
        raise ValueError(f"the explanation has no contributions for the features {missing[:10]}")
    values = explanation.table[list(kinds)].to_numpy()
    shares = share_by_kind(values, list(kinds.values()))
    explanation.summary["share_by_kind"] = shares.astype(float).round(4).to_dict()


def linear_explanation(model, features: pd.DataFrame, names: list[str]) -> Explanation:
    """A fitted (scaler +) linear classifier's exact SHAP values: w_j * (z_j - mean of z_j in training), z
    the scaled inputs; the scaler's mean is the training mean, so a standardised input's mean is 0."""
    from sklearn.pipeline import Pipeline

    from behave.data.errors import DataError

    estimator, x = model, features.to_numpy(dtype=np.float64)
    if isinstance(model, Pipeline):
        *transforms, (_, estimator) = model.steps
        for _, transform in transforms:
            x = transform.transform(x)
    coef = getattr(estimator, "coef_", None)
    if coef is None or coef.shape[0] != 1:
        raise DataError(f"{type(estimator).__name__}: only binary linear models have an exact explainer here")
    started = time.perf_counter()
    values = x * coef[0]
    bias = estimator.intercept_[0] + np.zeros(len(x))
    return _features(
        values, bias, names, "exact SHAP of a linear margin (coefficient x scaled input)", started
    )


def event_explanation(model, inputs, spec, batch_size: int = 64, n_steps: int = 32) -> Explanation:
    """Integrated gradients for every row of `inputs` (RowInputs), batched by length."""
    from behave.data.batches.loaders import LengthBucketBatchSampler, SequenceDataset, keep_batch
    from behave.explain.neural import integrated_gradients

    started = time.perf_counter()
    dataset = SequenceDataset(inputs, spec.sequences.max_len, spec.sequences.keep)
    frames, deltas = [], []
    for indices in LengthBucketBatchSampler(dataset.lengths, batch_size, shuffle=False):
        batch = keep_batch(dataset.__getitems__(indices))
        result = integrated_gradients(model, batch, n_steps)
        lengths = batch.lengths.numpy()
        rows, steps = np.nonzero(np.arange(batch.tokens.shape[1])[None, :] < lengths[:, None])
        frame = pd.DataFrame(
            {
                "row": batch.index.numpy()[rows],
                "cutoff": inputs.cutoff[batch.index.numpy()[rows]],
                "position_from_end": lengths[rows] - steps,
                "token_id": batch.tokens.numpy()[rows, steps],
                "attribution": result.attributions[rows, steps],
                "logit": result.logits[rows],
            }
        )
        if result.attention is not None:
            frame["attention"] = result.attention[rows, steps]
        frames.append(frame)
        deltas.append(np.abs(result.delta))
    table = pd.concat(frames, ignore_index=True).sort_values(["row", "position_from_end"], ignore_index=True)
    summary = {
        "method": f"integrated gradients over each event's inputs from a padding baseline ({n_steps} steps)",
        "rows": int(table["row"].nunique()),
        "completeness_max_error": round(float(np.concatenate(deltas).max()), 6),
        "share_by_position": share_by_position(table),
        **({"attention_by_position": share_by_position(table, "attention")} if "attention" in table else {}),
        "seconds": round(time.perf_counter() - started, 2),
    }
    return Explanation("events", table, summary)


def share_by_position(table: pd.DataFrame, column: str = "attribution") -> dict[str, float]:
    """Share of |attribution| (or of the attention weights) at each group of positions from the end."""
    magnitude = table[column].abs()
    total = float(magnitude.sum()) or 1.0
    out = {}
    for low, high in POSITION_BUCKETS:
        inside = table["position_from_end"].between(low, high)
        if inside.any():
            label = str(low) if low == high else (f"{low}-{high}" if high < 10**9 else f"{low}+")
            out[label] = round(float(magnitude[inside].sum()) / total, 4)
    return out


def top_tokens(table: pd.DataFrame, names: list[str], n: int = 15) -> list[list]:
    """Tokens by their share of |attribution|, with the mean signed attribution per occurrence."""
    magnitude = table["attribution"].abs()
    grouped = table.assign(magnitude=magnitude).groupby("token_id")
    shares = (grouped["magnitude"].sum() / (float(magnitude.sum()) or 1.0)).sort_values(ascending=False)
    mean = grouped["attribution"].mean()
    return [
        [names[int(token)] if int(token) < len(names) else str(token), round(float(share), 4),
         round(float(mean[token]), 5)]
        for token, share in shares.head(n).items()
    ]  # fmt: skip


def example_strips(table: pd.DataFrame, labels: np.ndarray, sequence_ids: np.ndarray, last: int = 30) -> list:
    """Three rows to draw as strips of events coloured by attribution (binary labels): the surest true
    positive, the worst false negative, and the surest negative, each with its last `last` events."""
    logits = table.groupby("row")["logit"].first()
    rows = logits.index.to_numpy()
    positive = labels[rows] == 1
    picks = []
    if positive.any():
        picks.append(("true positive (highest score)", rows[positive][np.argmax(logits[positive])]))
        picks.append(
            ("false negative (a positive scored lowest)", rows[positive][np.argmin(logits[positive])])
        )
    if (~positive).any():
        picks.append(("confident negative (lowest score)", rows[~positive][np.argmin(logits[~positive])]))
    out = []
    for title, row in picks:
        events = table[table["row"] == row].sort_values("position_from_end", ascending=False).tail(last)
        out.append(
            {
                "title": title,
                "sequence_id": str(sequence_ids[row]),
                "label": int(labels[row]),
                "probability": round(float(1.0 / (1.0 + np.exp(-logits[row]))), 4),
                "events": [
                    [str(t), round(float(a), 5)] for t, a in zip(events["token"], events["attribution"])
                ],
            }
        )
    return out


def top_bigrams(table: pd.DataFrame, n: int = 10) -> list[list]:
    """Events grouped by (the previous token, their own token): which tokens matter after which, by share
    of |attribution| and the mean signed attribution (needs the `token` column)."""
    ordered = table.sort_values(["row", "position_from_end"], ascending=[True, False])
    previous = ordered.groupby("row")["token"].shift(1)
    pairs = ordered.assign(pair=previous + " -> " + ordered["token"]).dropna(subset=["pair"])
    magnitude = pairs["attribution"].abs()
    grouped = pairs.assign(magnitude=magnitude).groupby("pair")
    shares = (grouped["magnitude"].sum() / (float(magnitude.sum()) or 1.0)).sort_values(ascending=False)
    mean = grouped["attribution"].mean()
    return [
        [pair, round(float(share), 4), round(float(mean[pair]), 5)] for pair, share in shares.head(n).items()
    ]
