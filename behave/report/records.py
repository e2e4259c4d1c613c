"""Find and read run records: `result.json`, test predictions and token embeddings of each run folder.

A record is read as training writes it (`result.json`); fields a failed run (or an older schema) may lack
are optional here. Prediction files are aligned on (`sequence_id`, `cutoff`), because paired comparisons
are only honest when every model is scored on exactly the same test rows.
"""

from __future__ import annotations

import glob
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# The record and prediction files are read by their owners' readers.
from behave.run.embedding_table import TOKEN_EMBEDDINGS_FILE, read_embedding_table
from behave.run.predictions import Predictions, UnreadablePredictions, read_predictions
from behave.run.record import UnreadableResult, find_result_files, read_result


@dataclass(frozen=True)
class RunRecord:
    """One run's `result.json`, with the fields the report needs pulled out; `raw` keeps everything."""

    run_dir: Path
    status: str
    error: str | None
    model: str
    family: str
    seed: int | None
    dataset: dict[str, Any]
    test_metrics: dict[str, float]
    raw: dict[str, Any] = field(repr=False)

    @property
    def task(self) -> dict[str, Any]:
        """The task block the run recorded (name, headline metric, groups, what a row is, whether titles name
        it), completed for records written before a task described itself (`earlier_task_block`)."""
        return earlier_task_block(self.raw.get("task") or {})

    @property
    def metrics_by_group(self) -> dict[str, dict[str, float]]:
        return self.raw.get("test_metrics_by_group") or {}

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def dataset_name(self) -> str:
        # A failed run's record (older ones too) may lack the dataset block: its config names the data.
        configured = ((self.raw.get("config") or {}).get("data") or {}).get("name")
        return str(self.dataset.get("name") or configured or "unknown")

    @property
    def fingerprint(self) -> str | None:
        return self.dataset.get("fingerprint")

    @property
    def protocol(self) -> str:
        """How the run's split relates to the other runs' (fixed, resplit, kfold, rolling); fixed for old
        records."""
        return str(((self.raw.get("config") or {}).get("protocol") or {}).get("name", "fixed"))

    @property
    def data_fingerprint(self) -> str | None:
        """The data without its split (source and pipeline), recorded since resplit runs are grouped by it;
        None in older records."""
        return self.dataset.get("data_fingerprint")

    @property
    def grouped_by_name(self) -> bool:
        """A run of a resplit or k-fold protocol whose record predates the data fingerprint: it can only be
        grouped by its dataset's name, which cannot tell two draws of a simulator apart."""
        return self.protocol != "fixed" and bool(self.fingerprint) and not self.data_fingerprint

    @property
    def comparable_key(self) -> str | None:
        """What runs must share to be compared: the prepared data itself under a fixed split; under
        resplit/kfold/rolling each seed has its own split (and fingerprint), so the data without its split
        and the protocol (for older records without that fingerprint: the dataset's name and the protocol)."""
        if self.protocol == "fixed":
            return self.fingerprint
        if not self.fingerprint:
            return None
        return f"{self.data_fingerprint or 'name:' + self.dataset_name}:{self.protocol}"

    def number(self, key: str) -> float:
        """A top-level numeric field (fit_seconds, n_parameters, ...) or NaN when absent."""
        value = self.raw.get(key)
        return float(value) if isinstance(value, int | float) else np.nan


# Records written before tasks said what a row is and whether titles name them: what the tasks of that time
# (sequence, prefix, rating, pretrain) would have said. A record without a task block predicted one label
# per whole sequence, before there were other tasks.
EARLIER_WHOLE_SEQUENCE = {
    "name": "sequence",
    "rows": "one prediction per sequence, from its whole history",
    "named_in_titles": False,
}


def earlier_task_block(task: dict[str, Any]) -> dict[str, Any]:
    """A recorded task block; `name`, `rows` and `named_in_titles` filled in where the record lacks them."""
    if task.get("name", "sequence") == "sequence" and "rows" not in task:
        return {**task, **EARLIER_WHOLE_SEQUENCE}
    rows = f"one prediction per {task.get('group_label') or 'row'} of each sequence"
    return {"rows": rows, "named_in_titles": True, **task}


def expand_paths(paths: Iterable[str]) -> list[Path]:
    """Expand globs ourselves (shells on Windows and quoted arguments do not); keep literal paths as given."""
    expanded: list[Path] = []
    for path in paths:
        matches = sorted(glob.glob(path, recursive=True)) if glob.has_magic(path) else [path]
        expanded.extend(Path(match) for match in matches)
    return expanded


def parse_record(raw: dict[str, Any], result_file: Path) -> RunRecord:
    """Build a record from a parsed result.json; tolerant of what failed runs leave out."""
    model = raw.get("model") or {}
    seed = raw.get("seed")
    return RunRecord(
        run_dir=result_file.parent,
        status=str(raw.get("status", "failed")),
        error=raw.get("error"),
        model=str(model.get("name", "unknown")),
        family=str(model.get("family", "unknown")),
        seed=int(seed) if isinstance(seed, int | float) else None,
        dataset=raw.get("dataset") or {},
        test_metrics={k: float(v) for k, v in (raw.get("test_metrics") or {}).items() if v is not None},
        raw=raw,
    )


def load_records(paths: Iterable[Path]) -> list[RunRecord]:
    """Read every result.json below `paths`; unreadable files are reported on stderr and skipped."""
    records = []
    for result_file in find_result_files(paths):
        try:
            raw = read_result(result_file)
        except UnreadableResult as error:
            print(f"behave-report: skipping unreadable {error}", file=sys.stderr)
            continue
        records.append(parse_record(raw, result_file))
    return records


def task_key(record: RunRecord) -> str:
    """The task a run predicted, as recorded in its config (runs of different tasks are never compared)."""
    config = (record.raw.get("config") or {}).get("task")
    return json.dumps(config, sort_keys=True) if config else "sequence"


def group_by_dataset(records: list[RunRecord]) -> dict[str, list[RunRecord]]:
    """Group runs by (data fingerprint, task), in order of first appearance; runs of a resplit, k-fold or
    rolling-origin protocol group by (the data's fingerprint without the split, protocol, task), since each
    of their seeds has its own split; older records without that fingerprint by (dataset name, protocol,
    task).

    A run without a fingerprint (it failed before loading data) joins the fingerprinted group of the same
    dataset name and task when there is exactly one, so it is still listed next to its siblings.
    """
    fingerprints: dict[tuple[str, str], set[str]] = {}
    for record in records:
        if record.comparable_key:
            fingerprints.setdefault((record.dataset_name, task_key(record)), set()).add(record.comparable_key)
    groups: dict[str, list[RunRecord]] = {}
    for record in records:
        task = task_key(record)
        key = record.comparable_key
        if not key:
            candidates = fingerprints.get((record.dataset_name, task), set())
            key = next(iter(candidates)) if len(candidates) == 1 else f"name:{record.dataset_name}"
        groups.setdefault(f"{key}|{task}", []).append(record)
    return groups


def load_predictions(record: RunRecord) -> Predictions | None:
    """The run's test predictions sorted by (sequence id, cutoff), or None when the file is missing."""
    return read_predictions(record.run_dir)


def readable_predictions(records: list[RunRecord]) -> tuple[dict[Path, Predictions | None], list[str]]:
    """Predictions of every ok run; an unreadable file is reported on stderr, listed, and left out."""
    loaded: dict[Path, Predictions | None] = {}
    problems = []
    for record in records:
        if not record.ok:
            continue
        try:
            loaded[record.run_dir] = load_predictions(record)
        except UnreadablePredictions as error:
            print(f"behave-report: skipping {error}", file=sys.stderr)
            problems.append(str(error))
    return loaded, problems


def check_same_rows(reference: Predictions, other: Predictions, what: str) -> None:
    """Raise ValueError unless both predict the same (sequence id, cutoff) rows with the same labels."""
    same_ids = np.array_equal(reference.sequence_ids, other.sequence_ids) and np.array_equal(
        reference.cutoffs, other.cutoffs
    )
    if not same_ids or not np.array_equal(reference.labels, other.labels):
        problem = "sequence ids or cutoffs" if not same_ids else "labels"
        raise ValueError(f"{what}: test rows differ ({problem}); paired comparison needs identical test rows")


def load_embeddings(record: RunRecord) -> pd.DataFrame | None:
    """The run's token embedding table (token, field0, train_freq, dim_*), or None when absent."""
    return read_embedding_table(record.run_dir / TOKEN_EMBEDDINGS_FILE)
