"""`task=next`: what happens at every event. A row for every event c >= `min_history` of every sequence,
predicted from the events before it (c of them) and the `known` fields of event c itself (the question's
skill, when predicting whether the answer is right); every other field of event c, and everything after it,
is hidden from both families.

    behave-train task=next data=synthetic_next                        # the next activity, GRU
    behave-train task=next data=synthetic_outcome task.target=correct task.target_kind=outcome \
        'task.known=[skill]' model=logreg                             # knowledge tracing
    behave-train task=next task.target_kind=time model=xgboost        # the time to the next event

The target kinds and their classes: `next_targets.py`. Splits (`split`): `sequence` (the data's split by
sequence: every row of a sequence is in its part) or `leave_last_out` (each sequence's last row tests, the
one before validates, the rest train: the recommender protocol; every sequence is in every part).

`end_of_sequence` (value kind, split=sequence; off by default, only for logs whose sequences are complete):
every sequence gets one row more, after its last event (cutoff = length, the whole sequence as history),
labelled with the class "(end)", the last class. Both families read it as they read the live row
behave-predict scores: no field of the predicted event is known, and the neural pass reads the state after
the last event. leave_last_out refuses it: the end row would be each sequence's last row, so it would test
and no training row would teach the end. The oracle knows no end: it is scored on the other test rows.

What each family reads of a row (`family_inputs`): the neural family runs a causal encoder over the
history (`behave/training/lightning/next_event.py`: every position of a sequence in one pass, through the
task's `neural_recipe`) and joins the known fields at its head; the tabular family reads running features
of the same history (`behave/data/features/running.py`) and the known fields; the baselines (markov,
popularity) read the previous values of the target and the known fields (`row_ids`).

What the task fits on the training rows (classes, known-field levels, running-feature columns) is kept by
name in its info, which a run carries as task_state.json: behave-predict restores the task from it and
scores a new log per event, or only each sequence's next event (`next_scoring.py`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from behave.data.errors import DataError
from behave.data.event_log import EventLog
from behave.data.features.running import RunningFeatures, RunningSpec
from behave.data.split import PARTS, Split
from behave.tasks import metric_registry, metrics
from behave.tasks.base import SequenceSplitTask
from behave.tasks.next_inputs import NextInputs
from behave.tasks.next_scoring import ScoresNewLogs
from behave.tasks.next_targets import (
    TARGET_KINDS,
    TIME_UNITS,
    UNPREDICTABLE,
    end_labelled,
    fit_value_classes,
    outcome_values,
    time_to_event,
    value_codes,
    with_end,
)
from behave.tasks.rows import TaskRows

SPLITS = ("sequence", "leave_last_out")
TRAIN, VAL, TEST = (PARTS.index(name) for name in PARTS)
# Evaluation groups by history length: one per length up to 5, then widening ranges.
HISTORY_BUCKETS = ((1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 10), (11, 20), (21, 50), (51, None))
HEADLINES = {"value": "accuracy", "outcome": "auroc", "time": "mae"}
NEURAL_FAMILIES, PASSED_FAMILIES = ("neural",), ("tabular", "baseline")


def history_groups(cutoff: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(R,) bucket index of each row's history length, and the bucket names ("1", ..., "6-10", "51+")."""
    names = [str(lo) if lo == hi else f"{lo}+" if hi is None else f"{lo}-{hi}" for lo, hi in HISTORY_BUCKETS]
    lows = np.array([lo for lo, _ in HISTORY_BUCKETS])
    return np.searchsorted(lows, cutoff, side="right").astype(np.int64) - 1, names


def _end_of_sequence(value, target_kind: str, split: str) -> bool:
    """task.end_of_sequence, checked: a value target's, and not with leave_last_out (module doc)."""
    if not isinstance(value, bool):
        raise DataError(f"task.end_of_sequence must be true or false, got {value!r}")
    if value and target_kind != "value":
        raise DataError(
            f"task.end_of_sequence adds an end class to a value target; task.target_kind={target_kind} "
            "has no classes of values to add it to: set it false"
        )
    if value and split == "leave_last_out":
        raise DataError(
            "task.end_of_sequence with task.split=leave_last_out: each sequence's last row would be its end "
            "row, so every end row would test and none would train; use task.split=sequence"
        )
    return value


def _whole(value, key: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise DataError(f"{key} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


class NextTask(NextInputs, ScoresNewLogs, SequenceSplitTask):
    name = "next"
    reads_label = False  # the target is a field of each event: a log without a sequence label is fine
    group_label = "history length"

    def __init__(
        self,
        target: str = "activity",
        target_kind: str = "value",
        min_history: int = 1,
        max_classes: int = 50,
        known: list[str] | tuple[str, ...] = (),
        split: str = "sequence",
        time_unit: str = "hours",
        headline: str | None = None,
        end_of_sequence: bool = False,
        running: dict | None = None,
        neural_recipe: Callable | None = None,
    ) -> None:
        for key, value, valid in (
            ("target_kind", target_kind, TARGET_KINDS),
            ("split", split, SPLITS),
            ("time_unit", time_unit, tuple(TIME_UNITS)),
        ):
            if value not in valid:
                raise DataError(f"task.{key} '{value}' is unknown; valid: {', '.join(valid)}")
        self.target, self.target_kind, self.split = str(target), target_kind, split
        self.min_history = _whole(min_history, "task.min_history")
        self.max_classes = _whole(max_classes, "task.max_classes", minimum=2)
        self.known = tuple(str(name) for name in known)
        if self.target in self.known:
            raise DataError(f"task.known names the target '{self.target}': it would give the answer away")
        self.time_unit = time_unit
        self.end_of_sequence = _end_of_sequence(end_of_sequence, target_kind, split)
        self.headline_name = headline or HEADLINES[target_kind]
        if self.headline_name not in metric_registry.metrics_for(self.scored_kind()):
            registered = metric_registry.metrics_for(self.scored_kind())
            if registered:  # (a kind the registry has not declared yet checks nothing)
                raise DataError(
                    f"task.headline '{self.headline_name}' is not a metric of this target "
                    f"({self.target_kind}); valid: {', '.join(registered)}"
                )
        self.running_spec = RunningSpec(
            **{key: value for key, value in (running or {}).items()},
            outcome=self.target if target_kind == "outcome" else None,
            known=self.known,
        )
        self.neural_recipe = neural_recipe
        # Fitted on the training rows (`rows`, `row_ids`, `features`), or restored from a run (`restore`).
        self._class_names: list[str] | None = None
        self._known_levels: dict[str, list[str]] = {}
        self._running: RunningFeatures | None = None
        self._running_state: dict | None = None

    @property
    def kind(self) -> str:
        return "regression" if self.target_kind == "time" else "classification"

    @property
    def rows_description(self) -> str:
        what = {"value": "value of", "outcome": "outcome", "time": "time until"}[self.target_kind]
        field = "the next event" if self.target_kind == "time" else f"`{self.target}`"
        return f"one prediction per event (from {self.min_history}+ earlier events): the {what} {field}"

    def fingerprint(self) -> dict:
        keys = ("target", "target_kind", "min_history", "max_classes", "known", "split", "time_unit")
        # Named only when on: the rows, and so the task caches, of a task without it are as they were.
        ended = {"end_of_sequence": True} if self.end_of_sequence else {}
        return {
            "name": self.name,
            **{key: getattr(self, key) for key in keys},
            **ended,
            "running": {k: v for k, v in vars(self.running_spec).items() if k not in ("outcome", "known")},
        }

    def describe_config(self) -> dict:
        """The settings a reader of the report needs (the running features' sizes are in the run's config)."""
        settings = {key: value for key, value in self.fingerprint().items() if key != "running"}
        return {**settings, "headline": self.headline_name}

    def describe(self, label_kind: str = "") -> dict:
        # How the neural family trains here, for the report (a per-row recipe's rows_per_sequence is unused).
        return {**super().describe(label_kind), "neural_rows": "every row of a sequence in one causal pass"}

    # --- metrics ----------------------------------------------------------------------------------------
    def scored_kind(self, label_kind: str = "") -> str:
        return {
            "value": "next_value",
            "outcome": metric_registry.BINARY,
            "time": metric_registry.REGRESSION,
        }[self.target_kind]

    def headline(self, label_kind: str = "") -> str:
        return self.headline_name

    @classmethod
    def monitor(cls, label_kind: str = "") -> str:
        """Every family selects on its own validation loss (a proper scoring rule, smooth at the edges: a
        validation accuracy at 1.0 would freeze a checkpoint); the run reports the headline beside it."""
        return f"val/{metric_registry.LOSS}"

    def score(self, labels: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
        if self.target_kind == "time":
            return metrics.score_regression(labels, outputs)
        if self.target_kind == "outcome":
            return metrics.score(labels, outputs)
        return metrics.score_next_value(labels, outputs)

    # --- rows -------------------------------------------------------------------------------------------
    def rows(self, log_: EventLog, split: Split) -> TaskRows:
        sequence, cutoff, n_rows = self._every_row(log_)
        part = self._parts(log_, split, sequence, n_rows)
        label, keep = self._labels(log_, sequence, cutoff, part)
        sequence, cutoff, part = sequence[keep], cutoff[keep], part[keep]
        if not np.any(part == TRAIN):
            raise DataError(
                f"task=next: no training rows (task.min_history={self.min_history}, split {self.split}): "
                "lower task.min_history or use longer sequences"
            )
        return self._task_rows(sequence, cutoff, label[keep], part)

    def _task_rows(self, sequence, cutoff, label, part) -> TaskRows:
        """Rows grouped by history length."""
        group, names = history_groups(cutoff)
        return TaskRows(sequence, cutoff, label, part.astype(np.int8), group, names)

    def _every_row(self, log_: EventLog) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(R,) sequence and cutoff of a row per event c >= min_history, and with end_of_sequence the end
        row (c = length) of every sequence with min_history events, sequence-major; (S,) rows each."""
        n_rows = np.maximum(log_.lengths - self.min_history + int(self.end_of_sequence), 0)
        sequence = np.repeat(np.arange(log_.n_sequences, dtype=np.int64), n_rows)
        first_row = np.concatenate([[0], np.cumsum(n_rows)[:-1]])
        cutoff = self.min_history + np.arange(len(sequence), dtype=np.int64) - np.repeat(first_row, n_rows)
        return sequence, cutoff, n_rows

    def _parts(self, log_: EventLog, split: Split, sequence: np.ndarray, n_rows: np.ndarray) -> np.ndarray:
        if self.split == "sequence":
            return split.part_index(log_.n_sequences)[sequence].astype(np.int8)
        # leave_last_out: rows counted from each sequence's end, 0 = its last
        from_end = np.repeat(np.cumsum(n_rows), n_rows) - 1 - np.arange(len(sequence))
        return np.select([from_end == 0, from_end == 1], [TEST, VAL], TRAIN).astype(np.int8)

    def _labels(self, log_: EventLog, sequence, cutoff, part) -> tuple[np.ndarray, np.ndarray]:
        """(R,) label of every candidate row and which rows are kept: a row needs a target, and a
        validation row one a model could predict (a test row without a class stays, as a miss)."""
        end = cutoff >= log_.lengths[sequence]  # an end row: its "event" is the sequence's end
        event = log_.offsets[sequence] + np.where(end, 0, cutoff)
        if self.target_kind == "time":
            return time_to_event(log_, event, self.time_unit), np.ones(len(event), bool)
        if self.target_kind == "outcome":
            values = outcome_values(log_, self.target)[event]
            keep = ~np.isnan(values)
            return np.nan_to_num(values).astype(np.int64), keep
        codes = value_codes(log_, self.target)[event]
        names = list(log_.categorical[self.target].categories.astype(str))
        train = (part == TRAIN) & ~end
        # With end rows, END is one of the max_classes classes.
        classes = fit_value_classes(codes[train], names, self.max_classes - int(self.end_of_sequence))
        classes = with_end(classes, names, bool(np.any(end & (part == TRAIN))))
        self._class_names = classes.names
        label = end_labelled(classes, codes, end)
        keep = ((codes >= 0) | end) & ((label != UNPREDICTABLE) | (part == TEST))
        return label, keep

    @property
    def class_names(self) -> list[str]:
        if self.target_kind == "outcome":
            return ["0", "1"]
        if self._class_names is None:
            raise RuntimeError("the task's classes are fitted by rows() (or restored): call it first")
        return list(self._class_names)

    def model_recipe(self, recipe):
        """A neural model trains every position of a sequence in one causal pass (`neural_recipe`); tree
        and baseline models fit the rows as they are; other families are refused."""
        family = getattr(recipe, "family", None)
        if family in NEURAL_FAMILIES and self.neural_recipe is not None:
            return self.neural_recipe(recipe)
        if family in PASSED_FAMILIES:
            return recipe
        raise DataError(
            f"task=next: model={getattr(recipe, 'name', '?')} ({family} family) cannot fit per-event rows; "
            "choose a neural sequence model, a tabular model or a baseline (markov, popularity)"
        )
