"""How a per-event task (`task=next`) reads a log through what it fitted on its training rows, by name.

behave-predict never refits: the run folder carries the task's info (`task_state.json`), and a new log's
category codes differ from the training log's, so every fitted level is a name, matched to a log's values
by name. The info's keys beside the model sizes (`NextTask.info`):

    class_names    the target's classes (value, outcome kinds): `next_targets.ValueClasses.by_name`
    known_levels   field -> the names of its training levels, in id order: id k + 1 is level k, 0 unseen
    running        the running features' fitted state (`RunningFeatures.state`)
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from behave.data.errors import DataError
from behave.data.event_log import EventLog
from behave.data.features.running import RunningFeatures, RunningRows
from behave.tasks.next_targets import (
    UNPREDICTABLE,
    end_labelled,
    outcome_values,
    time_to_event,
    value_codes,
)
from behave.tasks.rows import TaskRows, new_log_parts

STATE_KEYS = ("known_levels", "running")


def fit_known_levels(log_: EventLog, name: str, train_events: np.ndarray) -> list[str]:
    """The values of field `name` at the training rows' predicted events, in category order."""
    codes = np.asarray(log_.categorical[name].codes, dtype=np.int64)[train_events]
    categories = log_.categorical[name].categories.astype(str)
    return [str(categories[code]) for code in np.unique(codes[codes >= 0])]


def known_ids(
    log_: EventLog, name: str, levels: list[str], event: np.ndarray, live: np.ndarray
) -> np.ndarray:
    """(R,) int64 1-based level of field `name` at each row's predicted `event` (0: a value training did not
    have, a missing value, or a live row's event, which is not in the log: `live` (R,) bool)."""
    values = log_.categorical[name]
    lookup = pd.Index(levels).get_indexer(values.categories.astype(str)) + 1  # -1 (not a level) -> 0
    lookup = np.append(lookup, 0).astype(np.int64)  # a missing value's code -1 reads the last entry
    codes = np.asarray(values.codes, dtype=np.int64)[np.where(live, 0, event)]
    return np.where(live, 0, lookup[codes])


def checked_state(info: dict, target_kind: str, where: str) -> dict:
    """`info` when it holds what scoring a new log needs, else a DataError naming what it lacks."""
    needed = (*STATE_KEYS, *(() if target_kind == "time" else ("class_names",)))
    missing = [key for key in needed if key not in info]
    if missing:
        raise DataError(
            f"{where}: the task's fitted state lacks {missing}: the run was trained before behave-predict "
            "could score task=next, or from a task cache written then (<data.cache_dir>/<data>/tasks/); "
            "train it again (after deleting that folder) to score new logs"
        )
    if info.get("target_kind", target_kind) != target_kind:
        raise DataError(
            f"{where}: the state was fitted for target_kind {info['target_kind']}, the task is {target_kind}"
        )
    return info


def running_frames(
    running: RunningFeatures, log_: EventLog, tokens, rows: TaskRows
) -> Iterator[pd.DataFrame]:
    """The running features of `rows`, frame by frame (indexed by row), categorical columns (the last k
    tokens and values, the known fields) as integer codes, NaN for none: what the tabular family reads."""
    for frame in running.transform(log_, np.asarray(tokens), RunningRows(rows.sequence, rows.cutoff)):
        for name in frame.columns[frame.dtypes == "category"]:
            codes = frame[name].cat.codes.to_numpy()
            frame[name] = np.where(codes >= 0, codes, np.nan).astype(np.float32)
        yield frame


class ScoresNewLogs:
    """NextTask's side that scores a new log (behave-predict): restored from a run's task info, it gives the
    log's rows, their ids and their running features, with nothing refitted. Reads the task's settings and
    its `_every_row`, `_task_rows`, `_ids` and `_value_classes`, the rules the training rows follow too."""

    def restore(self, info: dict) -> ScoresNewLogs:
        """Take the state fitted on a run's training rows (its task info, `task_state.json`): the classes,
        the known fields' levels and the running features' columns, all by name (module doc)."""
        state = checked_state(info, self.target_kind, "task_state.json")
        missing = [name for name in self.known if name not in state["known_levels"]]
        if missing:
            raise DataError(f"task_state.json: no training levels of the known fields {missing}")
        self._class_names = None if self.target_kind == "time" else list(state["class_names"])
        self._known_levels = {name: list(state["known_levels"][name]) for name in self.known}
        self._running_state = state["running"]
        return self

    def scoring_rows(self, log_: EventLog, last_only: bool = False) -> TaskRows:
        """A row per event c >= min_history of each sequence, labelled from the log (-1, NaN for time, where
        the event has no target); with `last_only`, only each sequence's live row: the event after its last
        (cutoff = length), which has not happened (label -1, NaN for time)."""
        if last_only:
            sequence = np.flatnonzero(log_.lengths >= max(self.min_history, 1)).astype(np.int64)
            cutoff = log_.lengths[sequence].astype(np.int64)
            label = np.full(len(sequence), np.nan if self.target_kind == "time" else UNPREDICTABLE)
        else:
            sequence, cutoff, _ = self._every_row(log_)  # with end_of_sequence, each sequence's end row too
            label = self._new_labels(log_, sequence, cutoff)
        return self._task_rows(sequence, cutoff, label, new_log_parts(len(sequence)))

    def _new_labels(self, log_: EventLog, sequence: np.ndarray, cutoff: np.ndarray) -> np.ndarray:
        end = cutoff >= log_.lengths[sequence]  # an end row (end_of_sequence): labelled END
        event = log_.offsets[sequence] + np.where(end, 0, cutoff)
        if self.target_kind == "time":
            return time_to_event(log_, event, self.time_unit)
        if self.target_kind == "outcome":
            values = outcome_values(log_, self.target)[event]
            return np.where(np.isnan(values), UNPREDICTABLE, np.nan_to_num(values)).astype(np.int64)
        return end_labelled(self._value_classes(log_), value_codes(log_, self.target)[event], end)

    def scoring_ids(self, log_: EventLog, rows: TaskRows) -> dict[str, np.ndarray]:
        """`row_ids` of a new log's rows, through the restored levels and classes."""
        return self._ids(log_, rows.sequence, rows.cutoff)

    def scoring_features(self, pipeline, log_: EventLog, tokens, rows: TaskRows) -> pd.DataFrame:
        """(R, F) the running features of a new log's rows, in row order, with the run's columns."""
        if self._running_state is None:
            raise RuntimeError("the task's running features are restored by restore(): call it first")
        running = RunningFeatures.restored(
            self.running_spec, self._running_state, pipeline.vocabulary.tokens_
        )
        frames = list(running_frames(running, log_, tokens, rows))
        return pd.concat(frames).sort_index().reset_index(drop=True)
