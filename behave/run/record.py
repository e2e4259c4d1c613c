"""The one record every run writes (`result.json`), also for failed runs: its file name, its writer
(`RunResult.write`) and its reader (`read_result`, `find_result_files`), which the report, the sweep summary,
behave-predict and a rerun's skip check all use. The prediction file is `behave.run.predictions`.

The report reads only these files, never TensorBoard event files.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from behave.data.storage.cache import write_json_atomic
from behave.paths import REPO_ROOT

# The prediction file's writer stays importable from here, where runs have always found it.
from behave.run.embedding_table import ITEM_EMBEDDINGS_FILE as ITEM_EMBEDDINGS_FILE
from behave.run.predictions import PREDICTIONS_FILE as PREDICTIONS_FILE
from behave.run.predictions import write_predictions as write_predictions

SCHEMA_VERSION = 2
RESULT_FILE = "result.json"
# Rating runs: the learned item vectors with each item's names, and whose ratings trained them.
RATING_RUN_FILE = "rating_run.json"
# What the task fitted on the training rows (its info: a per-event task's classes and levels by name), so
# behave-predict reads a new log through it without refitting; {} for a task that fits nothing.
TASK_STATE_FILE = "task_state.json"


@dataclass
class RunResult:
    status: str  # ok | failed
    model: dict[str, str]  # {"name": "gru", "family": "neural"}
    seed: int
    config: dict[str, Any]
    overrides: list[str]
    command: str
    run_dir: str
    git_commit: str | None
    error: str | None = None
    dataset: dict[str, Any] = field(default_factory=dict)
    # The task's own description (name, headline metric, monitor, evaluation groups): the report asks it.
    task: dict[str, Any] = field(default_factory=dict)
    n_parameters: int | None = None
    embedding_dim: int | None = None
    best_val: dict[str, Any] | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)
    # Per evaluation group of the task (e.g. prefix length "5"): metrics plus n_rows and n_sequences.
    test_metrics_by_group: dict[str, dict[str, float]] = field(default_factory=dict)
    fit_seconds: float | None = None
    predict_seconds: float | None = None
    hparams_search: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def write(self, run_dir: Path) -> Path:
        path = Path(run_dir) / RESULT_FILE
        write_json_atomic(path, json_plain(asdict(self)))
        return path

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> RunResult:
        """The result back from what `read_result` read (fields a newer schema added are left out)."""
        return cls(**{key: record[key] for key in cls.__dataclass_fields__ if key in record})


class UnreadableResult(ValueError):
    """A result.json that exists but cannot be read (half-written by a kill, or not JSON)."""


def result_file(run_dir: Path) -> Path:
    return Path(run_dir) / RESULT_FILE


def read_result(path: Path) -> dict[str, Any]:
    """The record a result.json holds (`path`: the file, or its run folder), as written: a failed run's
    lacks the fields it never reached. UnreadableResult (naming the file) when it cannot be read."""
    path = Path(path)
    if path.is_dir():
        path = result_file(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise UnreadableResult(f"{path}: cannot be read ({error})") from None
    if not isinstance(record, dict):
        raise UnreadableResult(f"{path}: holds {type(record).__name__}, not a run record")
    return record


def find_result_files(paths: Iterable[Path]) -> list[Path]:
    """Every result.json at or below the given folders and files, without duplicates, in path order."""
    found: set[Path] = set()
    for path in map(Path, paths):
        if path.is_file() and path.name == RESULT_FILE:
            found.add(path.resolve())
        elif path.is_dir():
            found.update(p.resolve() for p in path.rglob(RESULT_FILE))
    return sorted(found)


def json_plain(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN to None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): json_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def git_commit() -> str | None:
    """The repository's HEAD commit (with '+dirty' when files differ), or None outside a checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None
