"""What a per-event row gives each reader (`task=next`, a part of `NextTask`): the ids the neural head and the
count baselines read (the known fields' training levels, the previous target values), the tabular family's
running features, the info models are built with and behave-predict restores from, and the task card's
extras (the oracle's ceiling, the rows no model can predict). Everything is fitted on the training rows."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from behave.data.event_log import EventLog
from behave.data.features.running import RunningFeatures
from behave.data.inputs import KNOWN_ID_PREFIX, PREVIOUS_IDS, known_id, previous_id
from behave.data.split import PARTS
from behave.data.storage.prepared import PreparedDataset
from behave.tasks.next_oracle import oracle_scores
from behave.tasks.next_scoring import fit_known_levels, known_ids, running_frames
from behave.tasks.next_targets import UNPREDICTABLE, ValueClasses, outcome_values, value_codes
from behave.tasks.rows import TaskRows

TRAIN, VAL, TEST = (PARTS.index(name) for name in PARTS)


class NextInputs:
    """The readers' view of `NextTask`'s rows (it holds the settings and the fitted classes)."""

    def row_ids(self, base: PreparedDataset, rows: TaskRows) -> dict[str, np.ndarray]:
        """`known.<field>`: the 1-based training level of event c's known field (0: unseen in training);
        `previous.<j>`: 1 + the class of event c-j's target (0: before the start, or no class)."""
        # An end row's event is no event of its sequence: it fits no level.
        train = (rows.part == TRAIN) & (rows.cutoff < base.log.lengths[rows.sequence])
        train_events = (base.log.offsets[rows.sequence] + rows.cutoff)[train]
        self._known_levels = {name: fit_known_levels(base.log, name, train_events) for name in self.known}
        return self._ids(base.log, rows.sequence, rows.cutoff)

    def _ids(self, log_: EventLog, sequence: np.ndarray, cutoff: np.ndarray) -> dict[str, np.ndarray]:
        """`row_ids` of rows of any log, through the fitted levels and classes (matched by name)."""
        event = log_.offsets[sequence] + cutoff
        live = cutoff >= log_.lengths[sequence]  # the event after the last: nothing of it is known
        ids = {
            known_id(name): known_ids(log_, name, self._known_levels[name], event, live)
            for name in self.known
        }
        if self.target_kind == "time":
            return ids
        classes = self._event_classes(log_)
        for j in range(1, PREVIOUS_IDS + 1):
            before = cutoff - j >= 0
            previous = np.where(before, classes[np.where(before, event - j, 0)] + 1, 0)
            ids[previous_id(j)] = np.maximum(previous, 0).astype(np.int64)
        return ids

    def unseen_in_train(self, ids: dict[str, np.ndarray], test: np.ndarray) -> dict[str, int]:
        """Only the known fields have unseen values; a previous value of 0 is mostly "before the start"."""
        known = {name: index for name, index in ids.items() if name.startswith(KNOWN_ID_PREFIX)}
        return super().unseen_in_train(known, test)

    def _event_classes(self, log_: EventLog) -> np.ndarray:
        """(N,) the class of every event's target (-1: none)."""
        if self.target_kind == "outcome":
            values = outcome_values(log_, self.target)
            return np.where(np.isnan(values), -1, np.nan_to_num(values)).astype(np.int64)
        return self._value_classes(log_).classes(value_codes(log_, self.target))

    def _value_classes(self, log_: EventLog) -> ValueClasses:
        return ValueClasses.by_name(self.class_names, log_.categorical[self.target].categories)

    def info(self, base: PreparedDataset, rows: TaskRows) -> dict:
        train = rows.part == TRAIN
        info = {
            "target": self.target,
            "target_kind": self.target_kind,
            "min_history": self.min_history,
            "split": self.split,
            "time_unit": self.time_unit,
            # Levels per known field, 0 (unseen in training) included: the size of a model's lookup table.
            "known": {
                name[len(KNOWN_ID_PREFIX) :]: int(ids.max(initial=0)) + 1
                for name, ids in self.row_ids(base, rows).items()
                if name.startswith(KNOWN_ID_PREFIX)
            },
            # What scoring a new log reads through (`next_scoring.py`): behave-predict never refits.
            "known_levels": dict(self._known_levels),
            "running": self._fitted_running(base).state(),
        }
        if self.target_kind == "time":
            info["train_target_mean"] = float(np.mean(rows.label[train])) if train.any() else 0.0
        else:
            info["class_names"] = self.class_names
        return info

    def card_extras(self, base: PreparedDataset, rows: TaskRows) -> dict:
        """Test rows whose value no model can predict, and the oracle's scores on the test rows where the
        source knows the distribution each event was drawn from (the simulator): the ceiling."""
        extras = {}
        if self.target_kind == "value":
            test = rows.part == TEST
            extras["unpredictable_test_rows"] = int(np.count_nonzero(rows.label[test] == UNPREDICTABLE))
        if self.end_of_sequence:  # (the label shares list the first classes only: END is the last)
            ended = rows.cutoff >= base.log.lengths[rows.sequence]
            extras["end_rows"] = {name: int(np.sum(ended & (rows.part == k))) for k, name in enumerate(PARTS)}
        classes = [] if self.target_kind == "time" else self.class_names
        oracle = oracle_scores(base.log, rows, self.target, classes)
        if oracle is not None:
            extras["oracle"] = oracle
        return extras

    def _fitted_running(self, base: PreparedDataset) -> RunningFeatures:
        """Running features fitted on the pipeline's training sequences (which tokens and values count)."""
        if self._running is None:
            train = base.split.train
            events = base.log.event_positions(train)
            self._running = RunningFeatures(self.running_spec).fit(
                base.log.select(train),
                np.asarray(base.events.tokens)[events],
                base.pipeline.vocabulary.tokens_,
            )
        return self._running

    def features(self, base: PreparedDataset, rows: TaskRows) -> Iterator[pd.DataFrame]:
        """The running features of each row's history (and its known fields), in row order (rows are in
        event order: so are the frames)."""
        frames = running_frames(self._fitted_running(base), base.log, base.events.tokens, rows)
        for frame in frames:
            yield frame.reset_index(drop=True)

    def feature_kinds(self, base: PreparedDataset) -> dict[str, str]:
        return self._fitted_running(base).feature_kinds

    def family_inputs(self, feature_names: list[str]) -> dict:
        known = ", ".join(self.known) or "none"
        return {
            "neural": ["the history's events (causal encoder)", *[f"known: {name}" for name in self.known]],
            "tabular": feature_names,
            "tabular_only": [],
            "notes": [
                f"Both families see each row's earlier events and the known fields of the predicted event "
                f"({known}); nothing else of it. The tabular family reads the whole history through running "
                "counts, recencies and the last few values; the neural family reads the last "
                "data.sequences.max_len events (a longer history restarts the encoder every max_len events).",
            ],
        }
