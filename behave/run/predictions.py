"""The predictions files: one writer and one reader each, and what a `prob_` column means.

test_predictions.parquet (a run's test rows, what the report compares)
    sequence_id, cutoff (events seen), group (evaluation group name or null), label (class index, or the
    target of a regression task), then prob_0..prob_{C-1} (`prob_<k>`: the probability of class INDEX k,
    in the order of the run's class names), or `prediction` for a regression task.
    A ranked task (a next value among many classes) keeps what scoring needs instead of a full
    probability row (1,682 movies x 20k rows would be 270 MB): label (-1: a value no model could predict),
    rank_above, rank_tied, true_prob (`behave.tasks.ranking_metrics.TrueRanks`), then top_0..top_{K-1} the
    K most probable class indices, best first, and top_prob_0..top_prob_{K-1} their probabilities.
behave-predict's output (a user's file: CSV)
    sequence_id, [cutoff: events seen, where the run's task cuts a new log's sequences,]
    prob[<class name>] per class (the probability of the class NAMED so), predicted (a class name). Its
    columns say the class by name, so a user never has to know the run's class order; the
    brackets keep them apart from `prob_<k>`, which always means a class index.
    More than TOP_KEPT classes (a next movie among 1,682): instead of prob[...], top[1]..top[K] the K most
    probable class NAMES, best first (rank 1-based, as a user counts), and top_prob[1]..top_prob[K] theirs.
    A regression task: `prediction`, the predicted value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from behave.data.storage.cache import atomic_path
from behave.tasks.ranking_metrics import TrueRanks, true_ranks

PREDICTIONS_FILE = "test_predictions.parquet"
PREDICTION = "prediction"  # a regression task's one predicted value per row
PREDICTED_CLASS = "predicted"
# A ranked task's columns: where the true class stands, and how many of the most probable classes are kept.
RANK_ABOVE, RANK_TIED, TRUE_PROB = "rank_above", "rank_tied", "true_prob"
TOP_KEPT = 20


def index_column(index: int) -> str:
    """The column of the probability of class index `index` in a run's prediction file."""
    return f"prob_{index}"


def class_column(name: str) -> str:
    """The column of the probability of the class named `name` in behave-predict's output."""
    return f"prob[{name}]"


def top_column(position: int) -> str:
    """The class index at `position` (0 = most probable) in a ranked prediction file."""
    return f"top_{position}"


def top_prob_column(position: int) -> str:
    return f"top_prob_{position}"


def top_name_column(rank: int) -> str:
    """The class NAME at `rank` (1 = most probable) in behave-predict's output of a many-class task."""
    return f"top[{rank}]"


def top_name_prob_column(rank: int) -> str:
    return f"top_prob[{rank}]"


@dataclass(frozen=True)
class Ranked:
    """A ranked task's test rows: where each true class stands among all classes (`ranks`), and the K most
    probable classes of each row, best first: top_classes (n, K) class index, top_probs (n, K)."""

    ranks: TrueRanks
    top_classes: np.ndarray
    top_probs: np.ndarray

    def take(self, rows: np.ndarray) -> Ranked:
        return Ranked(self.ranks.take(rows), self.top_classes[rows], self.top_probs[rows])


def rank_rows(labels: np.ndarray, probs: np.ndarray, kept: int = TOP_KEPT) -> Ranked:
    """What a ranked file keeps of probs (n, C): the true classes' ranks and the `kept` best classes."""
    probs = np.asarray(probs, dtype=np.float64)
    return Ranked(true_ranks(labels, probs), *top_classes(probs, kept))


def top_classes(probs: np.ndarray, kept: int = TOP_KEPT) -> tuple[np.ndarray, np.ndarray]:
    """The `kept` most probable classes of each row of probs (n, C), best first: (n, K) class indices and
    (n, K) their probabilities."""
    probs = np.asarray(probs, dtype=np.float64)
    kept = min(kept, probs.shape[1])
    best = np.argpartition(-probs, kept - 1, axis=1)[:, :kept] if kept else np.zeros((len(probs), 0), int)
    order = np.argsort(-np.take_along_axis(probs, best, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(best, order, axis=1)
    return top, np.take_along_axis(probs, top, axis=1)


@dataclass(frozen=True)
class Predictions:
    """Test predictions sorted by (sequence id, cutoff): one row per test row of the task.

    sequence_ids (n,), cutoffs (n,) events each row saw, groups (n,) evaluation group name or None,
    labels (n,) int class index (float target for regression tasks), probs (n, C) class probabilities, or
    (n, 1) the predicted value for regression tasks, or (n, 0) for a ranked task, whose `ranked` holds
    what its file keeps instead.
    """

    sequence_ids: np.ndarray
    cutoffs: np.ndarray
    groups: np.ndarray
    labels: np.ndarray
    probs: np.ndarray
    ranked: Ranked | None = None

    def take(self, rows: np.ndarray) -> Predictions:
        return Predictions(
            self.sequence_ids[rows],
            self.cutoffs[rows],
            self.groups[rows],
            self.labels[rows],
            self.probs[rows],
            None if self.ranked is None else self.ranked.take(rows),
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
    ranked: bool = False,
) -> Path:
    """Write the run's `test_predictions.parquet` (atomic); `probs` (n, C) class probabilities, or (n, 1)
    the predicted value with `regression`; with `ranked`, only what ranking scores need (module doc)."""
    table = pd.DataFrame({"sequence_id": sequence_ids, "cutoff": cutoffs, "group": groups, "label": labels})
    if regression:
        table[PREDICTION] = probs[:, 0]
    elif ranked:
        table = pd.concat([table, ranked_columns(rank_rows(labels, probs))], axis=1)
    for k in range(0 if regression or ranked else probs.shape[1]):
        table[index_column(k)] = probs[:, k]
    path = Path(run_dir) / PREDICTIONS_FILE
    with atomic_path(path) as temp:
        table.to_parquet(temp, index=False)
    return path


def ranked_columns(ranked: Ranked) -> pd.DataFrame:
    columns = {
        RANK_ABOVE: ranked.ranks.above,
        RANK_TIED: ranked.ranks.tied,
        TRUE_PROB: ranked.ranks.prob,
    }
    for position in range(ranked.top_classes.shape[1]):
        columns[top_column(position)] = ranked.top_classes[:, position]
        columns[top_prob_column(position)] = ranked.top_probs[:, position]
    return pd.DataFrame(columns)


def read_ranked(frame: pd.DataFrame) -> Ranked:
    kept = sum(1 for column in frame.columns if column.startswith("top_prob_"))
    ranks = TrueRanks(
        frame[RANK_ABOVE].to_numpy(dtype=np.int64),
        frame[RANK_TIED].to_numpy(dtype=np.int64),
        frame[TRUE_PROB].to_numpy(dtype=np.float64),
    )
    top = frame[[top_column(k) for k in range(kept)]].to_numpy(dtype=np.int64)
    return Ranked(ranks, top, frame[[top_prob_column(k) for k in range(kept)]].to_numpy(dtype=np.float64))


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
    regression, ranked = PREDICTION in frame, RANK_ABOVE in frame
    if regression:
        value_columns = [PREDICTION]
    elif ranked:
        value_columns = []
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
        probs=frame[value_columns].to_numpy(dtype=np.float64).reshape(len(frame), len(value_columns)),
        ranked=read_ranked(frame) if ranked else None,
    )


def scores_table(
    sequence_ids: np.ndarray,
    probs: np.ndarray,
    class_names: list[str],
    cutoffs: np.ndarray | None = None,
    regression: bool = False,
) -> pd.DataFrame:
    """behave-predict's output: sequence_id, cutoff (only given `cutoffs`: rows that saw part of their
    sequence), then prob[<class name>] per class and the predicted class's name; for more than TOP_KEPT
    classes the TOP_KEPT most probable by name instead of prob[...]; with `regression`, the predicted value
    (probs (n, 1))."""
    table = pd.DataFrame({"sequence_id": sequence_ids})
    if cutoffs is not None:
        table["cutoff"] = cutoffs
    if regression:
        table[PREDICTION] = probs[:, 0]
        return table
    names = np.asarray(class_names, dtype=object)
    if len(class_names) <= TOP_KEPT:
        for k, name in enumerate(class_names):
            table[class_column(name)] = probs[:, k]
        table[PREDICTED_CLASS] = names[probs.argmax(axis=1)]
        return table
    top, top_probs = top_classes(probs)
    for position in range(top.shape[1]):
        table[top_name_column(position + 1)] = names[top[:, position]]
        table[top_name_prob_column(position + 1)] = top_probs[:, position]
    table[PREDICTED_CLASS] = table[top_name_column(1)]
    return table


def read_scores(path: Path, class_names: list[str]) -> np.ndarray:
    """(n, C) class probabilities from a behave-predict output file, in the order of `class_names`."""
    table = pd.read_csv(path)
    columns = [class_column(name) for name in class_names]
    missing = [column for column in columns if column not in table]
    if missing:
        raise ValueError(f"{path}: no columns {missing}; is it a behave-predict output of this run?")
    return table[columns].to_numpy(dtype=np.float64)
