"""What a prediction task is: which rows are predicted, their labels, what the split stratifies on, how
rows are scored and which metric selects models. Built from `conf/task/<name>.yaml` by `_target_`.

Everything that used to assume "one label per whole sequence, scored by AUROC" asks the task instead:
the split (`strata`), the cache of rows and features (`rows`, `fingerprint`), recipes and the run record
(`evaluate`, `headline`, `monitor`, `scored_kind`), behave-predict (`scoring_rows`: which rows a new log
gives), the report (the `describe()` block in result.json: headline, groups, what a row is, the title).

A new task kind is its module (a `Task`), its `conf/task/<name>.yaml` and, when it scores by a metric the
registry lacks, that metric's entry in `metric_registry.py`; nothing outside asks a task for its name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from behave.data.errors import DataError
from behave.data.event_log import EventLog
from behave.data.split import Split
from behave.data.storage.log_store import log_arrays, release_pages
from behave.data.storage.prepared import PreparedDataset, label_strata
from behave.tasks import metric_registry, metrics
from behave.tasks.rows import TaskRows, new_log_parts, whole_sequences

# Rows per chunk of tabular features are taken so that a chunk reads at most this many events (about
# 1.5 GB at the feature builder's peak).
FEATURE_CHUNK_EVENTS = 4_000_000


def event_chunks(cutoffs: np.ndarray, limit: int) -> list[slice]:
    """Consecutive row ranges whose cutoffs add up to at most `limit` (a row longer than that on its own)."""
    ends = np.cumsum(np.asarray(cutoffs, dtype=np.int64))
    block = (ends - 1) // max(limit, 1) if len(ends) else ends
    starts = np.flatnonzero(np.diff(block, prepend=-1) != 0)
    stops = np.append(starts[1:], len(ends))
    return [slice(int(a), int(b)) for a, b in zip(starts, stops)] or [slice(0, 0)]


@dataclass
class Evaluation:
    """Test metrics over all rows, and per evaluation group (with its numbers of rows and sequences)."""

    overall: dict[str, float]
    by_group: dict[str, dict[str, float]] = field(default_factory=dict)


def row_features(pipeline, log_: EventLog, tokens, sequence: np.ndarray, cutoff: np.ndarray) -> pd.DataFrame:
    """(R, F) the pipeline's tabular features of each row's events up to its cutoff (`EventLog.cut`): the one
    rule by which a row's features are built, for a task's rows and for a new log's (behave-predict)."""
    cut = log_.cut(sequence, cutoff)
    token_ids = np.asarray(tokens)[log_.events_of(sequence, cutoff)]
    return pipeline.feature_table(cut, token_ids)


class Task(Protocol):
    name: str
    # What a model outputs for a row, which recipes declare they fit (`supported_tasks`): "classification"
    # (probabilities per class), "regression" (one predicted value per row) or "pretraining" (nothing).
    kind: str
    # Whether the source's oracle probability (a property of the whole sequence) is a ceiling for these rows.
    oracle_applies: bool
    # What the evaluation groups are, in words (e.g. "prefix length"); None for a task without groups.
    group_label: str | None
    # What one row (one prediction) is, in words: the report's sentence about the task.
    rows_description: str
    # Whether report titles name the task: False only for the data's own question (one prediction per
    # sequence from its whole history), which every other task is read against.
    named_in_titles: bool
    # Whether the task reads the sequence label (`data.label.column`): a log without one is valid for every
    # task that does not (`behave.data.config.require_label` says so before anything is prepared).
    reads_label: bool

    def fingerprint(self) -> dict:
        """Everything that changes the rows; the key of the task's cached rows and features."""
        ...

    def strata(self, log_: EventLog) -> np.ndarray | None:
        """(S,) per-sequence key the split stratifies on, or None."""
        ...

    @property
    def strata_name(self) -> str | None: ...

    def rows(self, log_: EventLog, split: Split) -> TaskRows: ...

    def features(self, base: PreparedDataset, rows: TaskRows) -> pd.DataFrame | Iterator[pd.DataFrame]:
        """(R, F) the tabular family's view of each row, from what the row may see: one frame, or frames of
        consecutive rows (written one at a time, so the table never has to fit in memory whole)."""
        ...

    def feature_kinds(self, base: PreparedDataset) -> dict[str, str]:
        """The kind (`data.features.kinds.FeatureKind` label) of each column `features` writes, in order."""
        ...

    def row_ids(self, base: PreparedDataset, rows: TaskRows) -> dict[str, np.ndarray]:
        """Entity indices per row (e.g. user and item), fitted on the training rows; {} for none."""
        ...

    def info(self, base: PreparedDataset, rows: TaskRows) -> dict:
        """Sizes and constants models of this task are built with (JSON data), {} for none."""
        ...

    def card_extras(self, base: PreparedDataset, rows: TaskRows) -> dict:
        """What the task card adds about these rows (the ceiling a simulator's oracle sets), {} for none."""
        ...

    def unseen_in_train(self, ids: dict[str, np.ndarray], test: np.ndarray) -> dict[str, int]:
        """Test rows (`test` (R,) bool) per entity that has no index from training, and in all ({} for
        none): what the task card reports of the fallbacks models take."""
        ...

    def family_inputs(self, feature_names: list[str]) -> dict | None:
        """What each model family sees of a row, when the task decides it (else None: the data card's
        description of the pipeline's two views holds)."""
        ...

    def model_recipe(self, recipe):
        """The recipe this task fits for the configured model: the model's own, or (a label-free task)
        one that trains part of it, e.g. pretraining its encoder."""
        ...

    def restore(self, info: dict) -> Task:
        """Take the state fitted on a run's training rows (the task's `info`, which the run folder carries as
        task_state.json) before scoring a new log; returns the task."""
        ...

    def scoring_rows(self, log_: EventLog, last_only: bool = False) -> TaskRows:
        """The rows a new log gives (behave-predict, no split: every row in the test part), labelled from the
        log where it has labels (-1 otherwise); `last_only`: only each sequence's row as it stands (the
        prediction for what comes next). A DataError for a task that cannot score new logs."""
        ...

    def scoring_ids(self, log_: EventLog, rows: TaskRows) -> dict[str, np.ndarray]:
        """`row_ids` of a new log's rows, through what `restore` took ({} for none)."""
        ...

    def scoring_features(self, pipeline, log_: EventLog, tokens, rows: TaskRows) -> pd.DataFrame:
        """(R, F) the tabular features of a new log's rows, as the run's own rows got them."""
        ...

    def scored_kind(self, label_kind: str) -> str:
        """The label kind this task's rows are scored as (the metric registry's key for its metrics)."""
        ...

    def headline(self, label_kind: str) -> str: ...

    def monitor(self, label_kind: str) -> str: ...

    def score(self, labels: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
        """Every metric of (R,) labels against a model's (R, C) outputs (class probabilities, or one
        predicted value per row); the runner reports the headline one on the validation rows."""
        ...

    def evaluate(self, rows: TaskRows, probs: np.ndarray) -> Evaluation: ...

    def describe(self, label_kind: str) -> dict: ...


class SequenceSplitTask:
    """What most tasks share: the data's usual split (stratified on the sequence label when the log has one),
    no entity ids, no
    task-specific info, the pipeline's two views as the data card describes them, the model's own recipe."""

    name = "task"
    oracle_applies = False
    group_label: str | None = None
    rows_description = "one prediction per sequence"
    named_in_titles = True
    strata_name = "label"

    def fingerprint(self) -> dict:
        return {"name": self.name}

    def strata(self, log_: EventLog) -> np.ndarray | None:
        """The sequence label; a log without one is split unstratified."""
        return label_strata(log_)

    def feature_kinds(self, base: PreparedDataset) -> dict[str, str]:
        return {}  # no tabular features unless the task writes them

    def row_ids(self, base: PreparedDataset, rows: TaskRows) -> dict[str, np.ndarray]:
        return {}

    def info(self, base: PreparedDataset, rows: TaskRows) -> dict:
        return {}

    def card_extras(self, base: PreparedDataset, rows: TaskRows) -> dict:
        return {}

    def unseen_in_train(self, ids: dict[str, np.ndarray], test: np.ndarray) -> dict[str, int]:
        """Every entity index is 0 where training had none."""
        if not ids:
            return {}
        unseen = {name: int(np.count_nonzero(index[test] == 0)) for name, index in ids.items()}
        unseen["any"] = int(np.count_nonzero(np.any([index[test] == 0 for index in ids.values()], axis=0)))
        return unseen

    def family_inputs(self, feature_names: list[str]) -> dict | None:
        return None

    def model_recipe(self, recipe):
        return recipe

    def restore(self, info: dict) -> SequenceSplitTask:
        return self  # fitted nothing beyond the pipeline (pipeline.json)

    def scoring_rows(self, log_: EventLog, last_only: bool = False) -> TaskRows:
        raise DataError(
            f"task={self.name}: behave-predict cannot score a new event log for this task ({self.kind})"
        )

    def scoring_ids(self, log_: EventLog, rows: TaskRows) -> dict[str, np.ndarray]:
        return {}

    def scoring_features(self, pipeline, log_: EventLog, tokens, rows: TaskRows) -> pd.DataFrame:
        """The pipeline's features of each row's events up to its cutoff (`row_features`)."""
        return row_features(pipeline, log_, tokens, rows.sequence, rows.cutoff)

    @classmethod
    def scored_kind(cls, label_kind: str) -> str:
        """The label kind this task's rows are scored as (the registry's key for its metrics)."""
        raise NotImplementedError

    @classmethod
    def headline(cls, label_kind: str = "") -> str:
        """The metric that selects models: the registry's headline for the kind the rows are scored as."""
        return metric_registry.headline_for(cls.scored_kind(label_kind)).name

    @classmethod
    def monitor(cls, label_kind: str = "") -> str:
        """The validation metric that selects checkpoints and stops training; known before any data is read,
        so the composed config can hand it to callbacks (`${behave_monitor:...}`)."""
        return f"val/{cls.headline(label_kind)}"

    def evaluate(self, rows: TaskRows, probs: np.ndarray) -> Evaluation:
        """The task's metrics over all `rows` (with their outputs `probs`), then per evaluation group."""
        evaluation = Evaluation(overall=self.score(rows.label, probs))
        for index, name in enumerate(rows.group_names):
            members = np.flatnonzero(rows.group == index)
            if len(members) == 0:
                continue
            group = self.score(rows.label[members], probs[members])
            group["n_rows"] = len(members)
            group["n_sequences"] = len(np.unique(rows.sequence[members]))
            evaluation.by_group[name] = group
        return evaluation

    def metric_record(self, label_kind: str) -> dict:
        """What result.json says of the task's metrics, so a reader needs nothing but the registry: the
        headline, its direction, the monitor and every metric the test rows are scored by."""
        headline = metric_registry.metric(self.headline(label_kind))
        return {
            "headline": headline.name,
            "headline_direction": headline.direction,
            "monitor": self.monitor(label_kind),
            "metrics": list(metric_registry.metrics_for(self.scored_kind(label_kind))),
        }

    def describe_config(self) -> dict:
        """The task's settings as recorded (its fingerprint, and what else a reader should know)."""
        return self.fingerprint()

    def describe(self, label_kind: str = "") -> dict:
        """The block recorded in result.json: the report reads the headline, groups, rows and title here."""
        return {
            "name": self.name,
            **self.metric_record(label_kind),
            "group_label": self.group_label,
            "rows": self.rows_description,
            "named_in_titles": self.named_in_titles,
            "kind": self.kind,
            "reads_label": self.reads_label,
            "config": self.describe_config(),
        }


class ClassificationTask(SequenceSplitTask):
    """Rows labelled with their sequence's class; metrics from `behave.tasks.metrics`.

    Subclasses decide which (sequence, cutoff) rows exist (`_cut`) and how rows are grouped for evaluation.
    """

    name = "classification"
    kind = "classification"
    reads_label = True

    def rows(self, log_: EventLog, split: Split) -> TaskRows:
        raise NotImplementedError

    def features(self, base: PreparedDataset, rows: TaskRows) -> Iterator[pd.DataFrame]:
        """The pipeline's features of each row's events up to its cutoff (`EventLog.cut`), in chunks of
        consecutive rows of at most FEATURE_CHUNK_EVENTS events: a log larger than memory is read one chunk
        at a time (the pages of its memory-mapped arrays are handed back after each)."""
        for rows_in_chunk in event_chunks(rows.cutoff, FEATURE_CHUNK_EVENTS):
            sequence, cutoff = rows.sequence[rows_in_chunk], rows.cutoff[rows_in_chunk]
            yield row_features(base.pipeline, base.log, base.events.tokens, sequence, cutoff)
            release_pages(*log_arrays(base.log), base.events.tokens)

    def feature_kinds(self, base: PreparedDataset) -> dict[str, str]:
        return base.pipeline.features.feature_kinds

    def scoring_rows(self, log_: EventLog, last_only: bool = False) -> TaskRows:
        """Each sequence of a new log as it stands: for a task of cut rows, the prediction for a case still
        in progress (a task whose rows a new log gives differently says so here). That is each sequence's
        last row already: `last_only` changes nothing."""
        return whole_sequences(log_, np.asarray(log_.labels, dtype=np.int64), new_log_parts(log_.n_sequences))

    @classmethod
    def scored_kind(cls, label_kind: str) -> str:
        """The sequence label's own kind: binary or multiclass."""
        return str(getattr(label_kind, "value", label_kind))

    def score(self, labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
        return metrics.score(labels, probs)
