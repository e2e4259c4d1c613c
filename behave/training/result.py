"""The one record every run writes (`result.json`), also for failed runs, and its prediction file.

The report reads only these files, never TensorBoard event files.
"""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from behave.data.cache import atomic_path, write_json_atomic
from behave.paths import REPO_ROOT

SCHEMA_VERSION = 2
RESULT_FILE = "result.json"
PREDICTIONS_FILE = "test_predictions.parquet"
# Rating runs: the learned item vectors with each item's names, and whose ratings trained them.
ITEM_EMBEDDINGS_FILE = "item_embeddings.parquet"
RATING_RUN_FILE = "rating_run.json"


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


def write_predictions(
    run_dir: Path,
    sequence_ids: np.ndarray,
    cutoffs: np.ndarray,
    groups: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    regression: bool = False,
) -> Path:
    """`test_predictions.parquet`, one row per test row of the task (atomic): sequence_id, cutoff (events
    seen), group (evaluation group name or null), label (class index, or the target of a regression task),
    then prob_0..prob_{C-1}, or `prediction` for a regression task."""
    table = pd.DataFrame({"sequence_id": sequence_ids, "cutoff": cutoffs, "group": groups, "label": labels})
    if regression:
        table["prediction"] = probs[:, 0]
    for k in range(0 if regression else probs.shape[1]):
        table[f"prob_{k}"] = probs[:, k]
    path = Path(run_dir) / PREDICTIONS_FILE
    with atomic_path(path) as temp:
        table.to_parquet(temp, index=False)
    return path
