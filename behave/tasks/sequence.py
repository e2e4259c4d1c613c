"""`task=sequence` (the default): one row per sequence, predicted from its whole history."""

from __future__ import annotations

import numpy as np

from behave.data.event_log import EventLog
from behave.data.split import Split
from behave.tasks.base import ClassificationTask
from behave.tasks.rows import TaskRows


class SequenceTask(ClassificationTask):
    name = "sequence"
    # The simulator's oracle probability is P(label | the whole sequence): exactly these rows' ceiling.
    oracle_applies = True

    def rows(self, log_: EventLog, split: Split) -> TaskRows:
        n = log_.n_sequences
        return TaskRows(
            sequence=np.arange(n, dtype=np.int64),
            cutoff=log_.lengths.astype(np.int64),
            label=np.asarray(log_.labels, dtype=np.int64),
            part=split.part_index(n),
            group=np.full(n, -1, dtype=np.int64),
        )
