"""The rows a task predicts: (sequence, cutoff) pairs, each with its label, split part and evaluation group.

    sequence (R,) int64  position of the row's sequence in the EventLog
    cutoff   (R,) int64  how many of the sequence's first events the row may see, 1 <= cutoff <= length
    label    (R,)        class index of the row (int64), or its numeric target (float64, regression tasks)
    part     (R,) int8   index into PARTS ("train", "val", "test") of the row's sequence
    group    (R,) int64  index into `group_names` (e.g. prefix length 5), -1 for a task without groups

Example: a prefix task with lengths [2, 3] over one sequence of 4 events gives two rows, (s, 2) and
(s, 3), both in the sequence's part. The split is by sequence, so all rows of a sequence share a part.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from behave.data.event_log import EventLog
from behave.data.split import PARTS


@dataclass(frozen=True)
class TaskRows:
    sequence: np.ndarray
    cutoff: np.ndarray
    label: np.ndarray
    part: np.ndarray
    group: np.ndarray
    group_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sequence)

    def in_part(self, name: str) -> np.ndarray:
        """Row indices of one split part, in row order."""
        return np.flatnonzero(self.part == PARTS.index(name))

    def take(self, rows: np.ndarray) -> TaskRows:
        return TaskRows(
            self.sequence[rows], self.cutoff[rows], self.label[rows], self.part[rows], self.group[rows],
            list(self.group_names),
        )  # fmt: skip

    def group_name(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows),) object array: the group name of each row, None where the task has no groups."""
        names = np.asarray([*self.group_names, None], dtype=object)
        return names[self.group[rows]]  # group -1 indexes the trailing None

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"sequence": self.sequence, "cutoff": self.cutoff, "label": self.label, "part": self.part,
             "group": self.group}
        )  # fmt: skip

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, group_names: list[str]) -> TaskRows:
        return cls(
            sequence=frame["sequence"].to_numpy(np.int64),
            cutoff=frame["cutoff"].to_numpy(np.int64),
            label=frame["label"].to_numpy(),
            part=frame["part"].to_numpy(np.int8),
            group=frame["group"].to_numpy(np.int64),
            group_names=list(group_names),
        )


def whole_sequences(log_: EventLog, label: np.ndarray, part: np.ndarray) -> TaskRows:
    """One row per sequence of `log_`, each seeing all of its events, with (S,) `label` and `part`."""
    n = log_.n_sequences
    return TaskRows(
        sequence=np.arange(n, dtype=np.int64),
        cutoff=log_.lengths.astype(np.int64),
        label=label,
        part=np.asarray(part, dtype=np.int8),
        group=np.full(n, -1, dtype=np.int64),
    )


def new_log_parts(n_rows: int) -> np.ndarray:
    """(n_rows,) int8: every row of a new log (behave-predict) is a test row; nothing of it was trained on."""
    return np.full(n_rows, PARTS.index("test"), dtype=np.int8)
