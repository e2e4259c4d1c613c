"""The source's ceiling for a per-event task: its oracle (`EventLog.oracle`) scored on the task's test rows.

Row (s, c) predicts event c of sequence s (0-based, after c events of history), so its oracle is the
distribution of event `offsets[s] + c`. A value target maps the oracle's values onto the task's classes: a
value the task pools as "(other)" adds its probability to that class, and a test row whose value no training
row had (label -1) is a miss in accuracy and left out of log loss, as it is for every model. A 0/1 outcome is
scored as a binary classifier. Only the simulator knows its oracle; every real log gives None.

The walk has no end probability (its sequence lengths are drawn apart from its steps), so with
`task.end_of_sequence` the oracle does not cover the end rows (cutoff = length): it is scored on the other
test rows, and `n_end_rows` says how many it left out (the models' scores include them).

    {"target": "activity", "n_rows": 1200, "metrics": {"accuracy": 0.61, "log_loss": 1.02},
     "by_group": [{"group": "1", "n_rows": 300, "accuracy": 0.52, "log_loss": 1.31}, ...]}
"""

from __future__ import annotations

import math

import numpy as np

from behave.data.event_log import EventLog, Oracle
from behave.data.transforms.levels import OTHER
from behave.tasks.metrics import score
from behave.tasks.rows import TaskRows

# Probabilities are clipped as `metrics.score` clips a model's, so the oracle's log loss is comparable.
_EPS = 1e-7


def oracle_scores(log_: EventLog, rows: TaskRows, target: str, class_names: list[str]) -> dict | None:
    """The oracle's scores on the TEST rows of a per-event task, overall and per history-length group; None
    when the log has no oracle of `target`, the task has no classes (a time target) or no test rows."""
    oracle = log_.oracle(target)
    test = rows.in_part("test")
    ended = rows.cutoff[test] >= log_.lengths[rows.sequence[test]]
    test = test[~ended]
    if oracle is None or not class_names or len(test) == 0:
        return None
    events = log_.offsets[rows.sequence[test]] + rows.cutoff[test]
    probs = class_probabilities(oracle, events, class_names)
    labels = np.asarray(rows.label[test], dtype=np.int64)
    scorer = _binary_scores if oracle.binary else _value_scores
    groups = rows.group[test]
    by_group = [
        {"group": name, "n_rows": int(np.sum(groups == g)), **scorer(labels[groups == g], probs[groups == g])}
        for g, name in enumerate(rows.group_names)
        if np.any(groups == g)
    ]
    scores = {"target": target, "n_rows": len(test), "metrics": scorer(labels, probs), "by_group": by_group}
    return {**scores, "n_end_rows": int(ended.sum())} if ended.any() else scores


def class_probabilities(oracle: Oracle, events: np.ndarray, class_names: list[str]) -> np.ndarray:
    """(R, C) the oracle's probability of each of the task's classes at the given events. A value the
    classes lack goes to "(other)" when the task has it (else its mass is no class's: no model can
    predict it either)."""
    if oracle.binary:
        positive = oracle.probability[events]
        by_value = {"0": 1.0 - positive, "1": positive}
        return np.stack([by_value[name] for name in class_names], axis=1)
    index = {name: k for k, name in enumerate(class_names)}
    fallback = index.get(OTHER, -1)
    column = np.array([index.get(value, fallback) for value in oracle.values], dtype=np.int64)
    mapping = np.zeros((len(oracle.values), len(class_names)))
    known = column >= 0
    mapping[np.flatnonzero(known), column[known]] = 1.0
    return oracle.probability[events] @ mapping


def _value_scores(labels: np.ndarray, probs: np.ndarray) -> dict[str, float | None]:
    """Accuracy over every row (label -1 is a miss) and log loss (nats) over rows with a known label."""
    known = labels >= 0
    p_true = probs[np.flatnonzero(known), labels[known]]
    log_loss = float(-np.mean(np.log(np.clip(p_true, _EPS, 1.0)))) if known.any() else None
    return {"accuracy": float(np.mean(probs.argmax(axis=1) == labels)), "log_loss": log_loss}


def _binary_scores(labels: np.ndarray, probs: np.ndarray) -> dict[str, float | None]:
    """AUROC, log loss and the rest of the binary metrics, by the function that scores the models."""
    metrics = score(labels, probs)
    return {name: None if math.isnan(value) else value for name, value in metrics.items()}
