"""A task kind that lives outside behave (tests only): one row per sequence, cut at half its length and
labelled with the sequence's label. It proves that a task module and its YAML (tests/conf/task/halfway.yaml)
are all a new task kind takes: behave-train, behave-report and behave-predict run it with no edit in behave/.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from behave.data.event_log import EventLog
from behave.data.split import Split
from behave.tasks.base import ClassificationTask
from behave.tasks.rows import TaskRows, new_log_parts, whole_sequences


def halfway(lengths: np.ndarray) -> np.ndarray:
    """(S,) the first half of each sequence's events (at least one)."""
    return np.maximum(np.asarray(lengths, dtype=np.int64) // 2, 1)


class HalfwayTask(ClassificationTask):
    name = "halfway"
    rows_description = "one prediction per sequence, from the first half of its events"

    def rows(self, log_: EventLog, split: Split) -> TaskRows:
        return self._cut(log_, split.part_index(log_.n_sequences))

    def scoring_rows(self, log_: EventLog) -> TaskRows:
        return self._cut(log_, new_log_parts(log_.n_sequences))

    @staticmethod
    def _cut(log_: EventLog, part: np.ndarray) -> TaskRows:
        rows = whole_sequences(log_, np.asarray(log_.labels, dtype=np.int64), part)
        return replace(rows, cutoff=halfway(log_.lengths))
