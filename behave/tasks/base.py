"""What a prediction task is: which rows are predicted, their labels, what the split stratifies on, how
rows are scored and which metric selects models. Built from `conf/task/<name>.yaml` by `_target_`.

Everything that used to assume "one label per whole sequence, scored by AUROC" asks the task instead:
the split (`strata`), the cache of rows and features (`rows`, `fingerprint`), recipes and the run record
(`evaluate`, `headline`, `monitor`), the report (the `describe()` block in result.json).

Where the next tasks plug in, on the same event log, split and vocabulary:
- a rating task (one row per user x item event, a numeric target, RMSE): `rows` gives one row per rating
  event with `cutoff` = the events before it (so the row sees the history, not the rating), the label comes
  from a numeric field instead of `EventLog.labels`, `strata` returns None, and `evaluate` scores RMSE/MAE
  with `headline` "rmse" (the registry's headline for regression, lower is better);
- a label-free pretraining task: `rows` gives every training sequence whole, `strata` None, no `evaluate`;
  its objective (e.g. contrastive) consumes the same `SequenceStore` the supervised encoders read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from behave.data.event_log import EventLog
from behave.data.split import Split
from behave.data.storage.log_store import log_arrays, release_pages
from behave.data.storage.prepared import PreparedDataset
from behave.tasks import metric_registry, metrics
from behave.tasks.rows import TaskRows

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


class Task(Protocol):
    name: str
    # "classification" (probabilities per class) or "regression" (one predicted value per row).
    kind: str
    # Whether the source's oracle probability (a property of the whole sequence) is a ceiling for these rows.
    oracle_applies: bool

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

    def family_inputs(self, feature_names: list[str]) -> dict | None:
        """What each model family sees of a row, when the task decides it (else None: the data card's
        description of the pipeline's two views holds)."""
        ...

    def model_recipe(self, recipe):
        """The recipe this task fits for the configured model: the model's own, or (a label-free task)
        one that trains part of it, e.g. pretraining its encoder."""
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
    """What most tasks share: the data's usual split (stratified on the sequence label), no entity ids, no
    task-specific info, the pipeline's two views as the data card describes them, the model's own recipe."""

    name = "task"
    oracle_applies = False
    # What the evaluation groups are, in words (e.g. "prefix length"); None for a task without groups.
    group_label: str | None = None
    strata_name = "label"

    def fingerprint(self) -> dict:
        return {"name": self.name}

    def strata(self, log_: EventLog) -> np.ndarray:
        return log_.labels

    def feature_kinds(self, base: PreparedDataset) -> dict[str, str]:
        return {}  # no tabular features unless the task writes them

    def row_ids(self, base: PreparedDataset, rows: TaskRows) -> dict[str, np.ndarray]:
        return {}

    def info(self, base: PreparedDataset, rows: TaskRows) -> dict:
        return {}

    def family_inputs(self, feature_names: list[str]) -> dict | None:
        return None

    def model_recipe(self, recipe):
        return recipe

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


class ClassificationTask(SequenceSplitTask):
    """Rows labelled with their sequence's class; metrics from `behave.tasks.metrics`.

    Subclasses decide which (sequence, cutoff) rows exist (`_cut`) and how rows are grouped for evaluation.
    """

    name = "classification"
    kind = "classification"

    def rows(self, log_: EventLog, split: Split) -> TaskRows:
        raise NotImplementedError

    def features(self, base: PreparedDataset, rows: TaskRows) -> Iterator[pd.DataFrame]:
        """The pipeline's features of each row's events up to its cutoff (`EventLog.cut`), in chunks of
        consecutive rows of at most FEATURE_CHUNK_EVENTS events: a log larger than memory is read one chunk
        at a time (the pages of its memory-mapped arrays are handed back after each)."""
        for rows_in_chunk in event_chunks(rows.cutoff, FEATURE_CHUNK_EVENTS):
            sequence, cutoff = rows.sequence[rows_in_chunk], rows.cutoff[rows_in_chunk]
            cut = base.log.cut(sequence, cutoff)
            token_ids = np.asarray(base.events.tokens)[base.log.events_of(sequence, cutoff)]
            yield base.pipeline.feature_table(cut, token_ids)
            del cut, token_ids
            release_pages(*log_arrays(base.log), base.events.tokens)

    def feature_kinds(self, base: PreparedDataset) -> dict[str, str]:
        return base.pipeline.features.feature_kinds

    @classmethod
    def scored_kind(cls, label_kind: str) -> str:
        """The sequence label's own kind: binary or multiclass."""
        return str(getattr(label_kind, "value", label_kind))

    def score(self, labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
        return metrics.score(labels, probs)

    def evaluate(self, rows: TaskRows, probs: np.ndarray) -> Evaluation:
        """Metrics over all `rows` (with their `probs` (R, C)), then per group."""
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

    def describe(self, label_kind: str) -> dict:
        """The block recorded in result.json: the report reads the headline and groups from here."""
        return {
            "name": self.name,
            **self.metric_record(label_kind),
            "group_label": self.group_label,
            "kind": self.kind,
            "config": self.fingerprint(),
        }
