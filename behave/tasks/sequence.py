"""`task=sequence` (the default): one row per sequence, predicted from its whole history."""

from __future__ import annotations

import numpy as np

from behave.data.event_log import EventLog
from behave.data.split import Split
from behave.tasks.base import ClassificationTask
from behave.tasks.rows import TaskRows, whole_sequences


class SequenceTask(ClassificationTask):
    name = "sequence"
    # The simulator's oracle probability is P(label | the whole sequence): exactly these rows' ceiling.
    oracle_applies = True
    rows_description = "one prediction per sequence, from its whole history"
    # The data's own question: titles name the dataset alone.
    named_in_titles = False

    def rows(self, log_: EventLog, split: Split) -> TaskRows:
        labels = np.asarray(log_.labels, dtype=np.int64)
        return whole_sequences(log_, labels, split.part_index(log_.n_sequences))
