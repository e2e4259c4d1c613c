"""The predictions files: one writer and one reader each, and what a `prob_` column means.

test_predictions.parquet (a run's test rows, what the report compares)
    sequence_id, cutoff (events seen), group (evaluation group name or null), label (class index, or the
    target of a regression task), then prob_0..prob_{C-1} (`prob_<k>`: the probability of class INDEX k,
    in the order of the run's class names), or `prediction` for a regression task.
behave-predict's output (a user's file: CSV)
    sequence_id, [cutoff: events seen, where the run's task cuts a new log's sequences,]
    prob[<class name>] per class (the probability of the class NAMED so), predicted (a class name). Its
    columns say the class by name, so a user never has to know the run's class order; the
    brackets keep them apart from `prob_<k>`, which always means a class index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from behave.data.storage.cache import atomic_path

PREDICTIONS_FILE = "test_predictions.parquet"
PREDICTION = "prediction"  # a regression task's one predicted value per row
PREDICTED_CLASS = "predicted"


def index_column(index: int) -> str:
    """The column of the probability of class index `index` in a run's prediction file."""
    return f"prob_{index}"


def class_column(name: str) -> str:
    """The column of the probability of the class named `name` in behave-predict's output."""
    return f"prob[{name}]"


@dataclass(frozen=True)
class Predictions:
    """Test predictions sorted by (sequence id, cutoff): one row per test row of the task.

    sequence_ids (n,), cutoffs (n,) events each row saw, groups (n,) evaluation group name or None,
    labels (n,) int class index (float target for regression tasks), probs (n, C) class probabilities, or
    (n, 1) the predicted value for regression tasks.
    """

    sequence_ids: np.ndarray
    cutoffs: np.ndarray
    groups: np.ndarray
    labels: np.ndarray
    probs: np.ndarray

    def take(self, rows: np.ndarray) -> Predictions:
        return Predictions(
            self.sequence_ids[rows],
            self.cutoffs[rows],
            self.groups[rows],
            self.labels[rows],
            self.probs[rows],
        )

    def in_group(self, name: str) -> Predictions:
        return self.take(np.flatnonzero(self.groups == name))

    @property
    def scores(self) -> np.ndarray:
        """What the paired comparison scores, by the file's shape: the one predicted value (n,), the
        positive-class probability (n,) of two classes, else all of probs (n, C). Whether a section
        compares errors or AUROCs is the headline's fact (`report.headline`), not read from here."""
        if self.probs.shape[1] == 1:
            return self.probs[:, 0]
        return self.probs[:, 1] if self.probs.shape[1] == 2 else self.probs


class UnreadablePredictions(ValueError):
    """A prediction file that exists but cannot be read (truncated by a kill or a full disk)."""


def write_predictions(
    run_dir: Path,
    sequence_ids: np.ndarray,
    cutoffs: np.ndarray,
    groups: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    regression: bool = False,
) -> Path:
    """Write the run's `test_predictions.parquet` (atomic); `probs` (n, C) class probabilities, or (n, 1)
    the predicted value with `regression`."""
    table = pd.DataFrame({"sequence_id": sequence_ids, "cutoff": cutoffs, "group": groups, "label": labels})
    if regression:
        table[PREDICTION] = probs[:, 0]
    for k in range(0 if regression else probs.shape[1]):
        table[index_column(k)] = probs[:, k]
    path = Path(run_dir) / PREDICTIONS_FILE
    with atomic_path(path) as temp:
        table.to_parquet(temp, index=False)
    return path


def read_predictions(run_dir: Path) -> Predictions | None:
    """The run's test predictions sorted by (sequence id, cutoff), or None when the file is missing."""
    path = Path(run_dir) / PREDICTIONS_FILE
    if not path.exists():
        return None
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # a truncated or foreign file: pyarrow raises several types
        raise UnreadablePredictions(f"{path}: cannot be read ({type(error).__name__}: {error})") from None
    if "cutoff" not in frame:  # records written before tasks: one row per whole sequence
        frame = frame.assign(cutoff=0, group=None)
    frame = frame.sort_values(["sequence_id", "cutoff"], kind="stable")
    regression = PREDICTION in frame
    if regression:
        value_columns = [PREDICTION]
    else:
        n_classes = sum(1 for column in frame.columns if column.startswith("prob_"))
        value_columns = [index_column(k) for k in range(n_classes)]
        missing = [column for column in value_columns if column not in frame]
        if missing:
            raise UnreadablePredictions(f"{path}: class probability columns {missing} are missing")
    return Predictions(
        sequence_ids=frame["sequence_id"].to_numpy(),
        cutoffs=frame["cutoff"].to_numpy(dtype=np.int64),
        groups=frame["group"].to_numpy(dtype=object),
        labels=frame["label"].to_numpy(dtype=np.float64 if regression else np.int64),
        probs=frame[value_columns].to_numpy(dtype=np.float64),
    )


def scores_table(
    sequence_ids: np.ndarray, probs: np.ndarray, class_names: list[str], cutoffs: np.ndarray | None = None
) -> pd.DataFrame:
    """behave-predict's output: sequence_id, cutoff (only given `cutoffs`: rows that saw part of their
    sequence), prob[<class name>] per class, the predicted class's name."""
    table = pd.DataFrame({"sequence_id": sequence_ids})
    if cutoffs is not None:
        table["cutoff"] = cutoffs
    for k, name in enumerate(class_names):
        table[class_column(name)] = probs[:, k]
    table[PREDICTED_CLASS] = np.asarray(class_names, dtype=object)[probs.argmax(axis=1)]
    return table


def read_scores(path: Path, class_names: list[str]) -> np.ndarray:
    """(n, C) class probabilities from a behave-predict output file, in the order of `class_names`."""
    table = pd.read_csv(path)
    columns = [class_column(name) for name in class_names]
    missing = [column for column in columns if column not in table]
    if missing:
        raise ValueError(f"{path}: no columns {missing}; is it a behave-predict output of this run?")
    return table[columns].to_numpy(dtype=np.float64)
