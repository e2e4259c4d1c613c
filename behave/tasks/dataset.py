"""A task on a prepared dataset: its rows, and the tabular features of each row's events up to its cutoff.

The task-free base (log, split, fitted pipeline, per-event neural inputs) is shared by every task on the
same data; each task's rows and features are cached beside it, under `<base>/tasks/<task key>/`:

    rows.parquet       sequence, cutoff, label, part, group   (TaskRows)
    features.parquet   (R, F) float32 tabular features of each row (the task decides from what; by default
                       the first cutoff[r] events of its sequence)
    ids.parquet        entity indices per row (a rating task's user and item), when the task has them
    task.json          the task's config, group names, info, card and the kind of each feature column
                       (`feature_kinds`, declared by the task; written last: marks a complete cache)

The feature file's storage is `behave.data.storage.feature_file`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from behave.data.config import build_source, dataset_spec, require_label
from behave.data.errors import DataError
from behave.data.features.encodings import FeatureSet
from behave.data.features.kinds import checked_kinds
from behave.data.features.selection import cache_key_part, card_entry, check_applies, with_feature_set
from behave.data.inputs import RowInputs
from behave.data.spec import DatasetSpec
from behave.data.split import PARTS
from behave.data.storage.cache import atomic_directory, cache_writes, fingerprint
from behave.data.storage.feature_file import FeatureFile, RowsOf, write_frames
from behave.data.storage.prepared import PreparedDataset, prepare
from behave.tasks.base import Task
from behave.tasks.rows import TaskRows


@dataclass(frozen=True)
class TaskDataset:
    """What recipes train and test on: `inputs(part)` gives both families the same rows."""

    base: PreparedDataset
    task: Task
    rows: TaskRows
    # (R, F) the rows' tabular features, or what reads them: a large log's table is read only by the models
    # that use it (see `features`).
    feature_source: pd.DataFrame | Callable[[], pd.DataFrame]
    card: dict
    ids: pd.DataFrame = field(default_factory=pd.DataFrame)
    info: dict = field(default_factory=dict)
    # name -> kind (`FeatureKind` label) of each feature column, in column order, as the task declared them.
    feature_kinds: dict[str, str] = field(default_factory=dict)

    @cached_property
    def features(self) -> pd.DataFrame:
        """(R, F) float32 tabular features of every row, read on first use."""
        source = self.feature_source
        return source() if callable(source) else source

    @property
    def spec(self) -> DatasetSpec:
        return self.base.spec

    @property
    def fingerprint(self) -> str:
        return self.base.fingerprint

    @property
    def class_names(self) -> list[str]:
        """What the rows' labels index: the task's own classes when it has them (the values of a per-event
        target), else the sequence label's."""
        return list(self.info.get("class_names", self.base.class_names))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def label_kind(self) -> str | None:
        """The sequence label's kind; None for a log without one (`data.label.column: null`)."""
        return self.spec.label.kind.value if self.spec.label.given else None

    @property
    def vocab_size(self) -> int:
        return self.base.vocab_size

    @property
    def n_numeric(self) -> int:
        return self.base.n_numeric

    @property
    def n_static(self) -> int:
        return self.base.n_static

    @property
    def feature_names(self) -> list[str]:
        if isinstance(self.feature_source, FeatureFile) and "features" not in vars(self):
            return self.feature_source.columns()  # without reading the table
        return list(self.features.columns)

    @property
    def headline(self) -> str:
        return self.task.headline(self.label_kind)

    def inputs(self, part: str) -> RowInputs:
        """Both families' inputs for the rows of one split part, in row order."""
        rows = self.rows.in_part(part)
        sequence = self.rows.sequence[rows]
        return RowInputs(
            events=self.base.events,
            sequence=sequence,
            cutoff=self.rows.cutoff[rows],
            labels=self.rows.label[rows],
            static=self.base.static[sequence],
            feature_source=RowsOf(self.feature_source, rows),
            sequence_ids=self.base.log.sequence_ids[sequence],
            ids={name: self.ids[name].to_numpy()[rows] for name in self.ids.columns},
        )

    def part_rows(self, part: str) -> TaskRows:
        return self.rows.take(self.rows.in_part(part))

    def view(self, keep: np.ndarray, part: np.ndarray, cutoff: np.ndarray | None = None) -> TaskDataset:
        """The rows `keep` (indices into `rows`) with their parts reassigned (`part`, index into PARTS): an
        inner cross-validation fold, or train+val as one training part. Rows left out are not in the view at
        all, so a recipe fitting on it cannot read them. A new `cutoff` (a strict time cut inside a fold)
        has the task compute those rows' features again, so both families see the same shortened rows."""
        rows = self.rows.take(keep)
        rows = replace(rows, part=np.asarray(part, dtype=np.int8))
        if cutoff is None:
            features = self.features.iloc[keep].reset_index(drop=True)
        else:
            rows = replace(rows, cutoff=np.asarray(cutoff, dtype=np.int64))
            computed = self.task.features(self.base, rows)
            features = (
                computed if isinstance(computed, pd.DataFrame) else pd.concat(computed, ignore_index=True)
            )
        ids = self.ids.iloc[keep].reset_index(drop=True) if len(self.ids.columns) else self.ids
        return replace(self, rows=rows, feature_source=features, ids=ids)


def prepare_task(
    data_cfg: DictConfig | dict, task: Task, feature_set: FeatureSet | None = None
) -> TaskDataset:
    """Validate the data config, prepare (or load) the task-free base, then the task's rows and features
    (the tabular columns of `feature_set`, `features=<name>`; None: the pipeline's own)."""
    spec = dataset_spec(data_cfg)
    require_label(spec, task.name, task.reads_label)
    base = prepare(spec, build_source(spec), strata=task.strata, strata_name=task.strata_name)
    encoded = with_feature_set(base, feature_set)
    check_applies(task, base, encoded, feature_set)
    return task_dataset(encoded, task)


def task_dataset(base: PreparedDataset, task: Task) -> TaskDataset:
    folder = task_cache(base, task)
    meta = json.loads((folder / "task.json").read_text())
    rows = TaskRows.from_frame(pd.read_parquet(folder / "rows.parquet"), meta["group_names"])
    ids = pd.read_parquet(folder / "ids.parquet")
    features = FeatureFile(folder / "features.parquet", len(rows))
    if "feature_kinds" not in meta:  # the cache key's format version rules this out; never guess the kinds
        raise DataError(f"{folder / 'task.json'} records no feature kinds: delete {folder} to rebuild it")
    return TaskDataset(base, task, rows, features, meta["card"], ids, meta["info"], meta["feature_kinds"])


# Bump when what a task folder holds changes for the same task (2: task.json records `feature_kinds`), so a
# folder written before is rebuilt, never read as the new format.
TASK_CACHE_FORMAT = 2


def task_cache_key(task: Task, feature_set: dict | None = None) -> str:
    """The name of the task's cache folder: its config, the folder format and a non-default feature set."""
    return fingerprint({"task": task.fingerprint(), "format": TASK_CACHE_FORMAT, **(feature_set or {})})


def task_cache(base: PreparedDataset, task: Task) -> Path:
    """The folder of the task's cached rows and features, built first if needed (nothing is loaded)."""
    folder = base.directory / "tasks" / task_cache_key(task, cache_key_part(base))
    if not (folder / "task.json").exists():
        with cache_writes(folder.parent), atomic_directory(folder) as temp:
            _build(base, task, temp)
    return folder


def _build(base: PreparedDataset, task: Task, out: Path) -> None:
    started = time.perf_counter()
    rows = task.rows(base.log, base.split)
    rows.to_frame().to_parquet(out / "rows.parquet", index=False)
    feature_names = write_frames(task.features(base, rows), out / "features.parquet")
    kinds = checked_kinds(task.feature_kinds(base), feature_names, f"task {task.name}'s features")
    ids = task.row_ids(base, rows)
    pd.DataFrame(ids).to_parquet(out / "ids.parquet", index=False)
    info = task.info(base, rows)
    card = task_card(rows, info.get("class_names", base.class_names), task.kind)
    unseen = task.unseen_in_train(ids, rows.part == PARTS.index("test"))
    if unseen:  # e.g. test ratings whose user or item has no training rating: models fall back for those
        card["test_rows_unseen_in_train"] = unseen
    card.update(task.card_extras(base, rows))
    card.update(card_entry(base))
    inputs = task.family_inputs(feature_names)
    if inputs is not None:
        card["inputs"] = inputs
    card["prepare_seconds"] = round(time.perf_counter() - started, 2)
    meta = {"task": task.fingerprint(), "group_names": rows.group_names, "card": card, "info": info}
    meta["feature_kinds"] = kinds
    (out / "task.json").write_text(json.dumps(meta, indent=2, default=str))


# Label shares the card lists at most (the task's first classes: a per-event value's most frequent).
CARD_CLASSES = 20


def task_card(rows: TaskRows, class_names: list[str], kind: str = "classification") -> dict:
    """Rows and label shares (or the target's mean and spread) per part, and test rows per group."""
    card: dict = {"n_rows": len(rows), "parts": {}, "test_groups": {}}
    for name in PARTS:
        members = rows.in_part(name)
        # Distinct sequences by a bincount: sorting the ids (np.unique) took seconds at millions of rows.
        n_sequences = int(np.count_nonzero(np.bincount(rows.sequence[members]))) if len(members) else 0
        card["parts"][name] = {"n_rows": len(members), "n_sequences": n_sequences}
        if kind == "pretraining":  # no label: rows only
            continue
        if kind == "regression":
            values = np.asarray(rows.label[members], dtype=np.float64)
            card["parts"][name]["target"] = {
                "mean": round(float(values.mean()), 4) if len(values) else None,
                "std": round(float(values.std()), 4) if len(values) else None,
            }
            continue
        labels = rows.label[members]
        counts = np.bincount(labels[labels >= 0], minlength=len(class_names))  # -1: a value without a class
        shares = {c: round(float(n) / max(len(members), 1), 4) for c, n in zip(class_names, counts)}
        if len(shares) > CARD_CLASSES:  # a next item out of thousands: the most frequent in training
            shares = dict(list(shares.items())[:CARD_CLASSES])
        card["parts"][name]["label_share"] = shares
    test = rows.in_part("test")
    for index, name in enumerate(rows.group_names):
        card["test_groups"][name] = int(np.count_nonzero(rows.group[test] == index))
    return card


def format_task_card(name: str, card: dict) -> str:
    """The task's rows per part (and test rows per group) for the terminal."""
    lines = [f"task         {name}: {card['n_rows']:,} rows"]
    for part, values in card["parts"].items():
        if "target" not in values and "label_share" not in values:
            described = "no label (label-free task)"
        elif "target" in values:
            described = f"target mean {values['target']['mean']}, std {values['target']['std']}"
        else:
            described = "labels " + ", ".join(f"{c}: {s:.1%}" for c, s in values["label_share"].items())
        lines.append(
            f"  {part:<10} {values['n_rows']:>8,} rows from {values['n_sequences']:,} sequences   {described}"
        )
    if card.get("test_rows_unseen_in_train"):
        unseen = card["test_rows_unseen_in_train"]
        shown = ", ".join(f"{name} {n:,}" for name, n in unseen.items() if name != "any")
        lines.append(f"  test rows unseen in train: {unseen['any']:,} ({shown})")
    if card.get("feature_set"):
        chosen = card["feature_set"]
        lines.append(f"  tabular features: {chosen['name']} (leaves out {chosen['leaves_out']})")
    if card["test_groups"]:
        shown = ", ".join(f"{g}: {n}" for g, n in list(card["test_groups"].items())[:12])
        more = f", ... ({len(card['test_groups'])} groups)" if len(card["test_groups"]) > 12 else ""
        lines.append(f"  test rows per group: {shown}{more}")
    return "\n".join(lines)
