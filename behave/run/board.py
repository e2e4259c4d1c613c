"""The run's TensorBoard: one writer for both model families, built on tensorboard's own protos.

Why not Lightning's logger or tensorboardX: both import torch (about 3-5 s), and a boosted-tree run must
not pay for a framework it does not use. The neural recipe wraps this board in a Lightning logger
(`lightning_board.py`), so both families write the same tags into the same folder:

    train/loss, val/loss, val/<headline>     per epoch (neural) or per boosting round (trees)
    test/<metric>, best_val/<monitor>        once, with the hyperparameters (HPARAMS tab)
    test/pr_curve, feature_importance (text), the token-embedding projector (neural)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import summary_v2 as hparams_summary
from tensorboard.plugins.pr_curve import metadata as pr_curve_metadata
from tensorboard.plugins.text import summary_v2 as text_summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

PROJECTOR_CONFIG = "projector_config.pbtxt"
PR_THRESHOLDS = 127


class TensorBoard:
    """Writes event files under `<save_dir>/<name>` (created on first use)."""

    def __init__(self, save_dir: str, name: str = "tensorboard") -> None:
        self.log_dir = Path(save_dir) / name
        self._writer: EventFileWriter | None = None

    def __getstate__(self) -> dict:
        """A copy sent to another process (a spawned data-parallel rank) opens its own event file there."""
        return {**self.__dict__, "_writer": None}

    @property
    def writer(self) -> EventFileWriter:
        if self._writer is None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._writer = EventFileWriter(str(self.log_dir))
        return self._writer

    def _write(self, summary: Summary, step: int = 0) -> None:
        self.writer.add_event(Event(wall_time=time.time(), step=int(step), summary=summary))

    def log_scalars(self, values: dict[str, float], step: int) -> None:
        summary = Summary(value=[Summary.Value(tag=tag, simple_value=float(v)) for tag, v in values.items()])
        self._write(summary, step)

    def add_text(self, tag: str, text: str) -> None:
        self._write(text_summary.text_pb(tag, text))

    def add_pr_curve(self, tag: str, labels: np.ndarray, scores: np.ndarray) -> None:
        """Precision-recall curve of binary `labels` (n,) under `scores` (n,) in [0, 1]."""
        self._write(_pr_curve_summary(tag, np.asarray(labels, bool), np.asarray(scores, np.float64)))

    def log_hparams(self, params: dict[str, Any], metrics: dict[str, float]) -> None:
        """One HPARAMS-tab row: the run's hyperparameters and final metrics (as scalars of the same name)."""
        plain = {key: _hparam_value(value) for key, value in params.items()}
        domains = [hparams_summary.HParam(key) for key in plain]
        self._write(hparams_summary.hparams_config_pb(domains, [hparams_summary.Metric(m) for m in metrics]))
        self._write(hparams_summary.hparams_pb(plain))
        self.log_scalars(metrics, step=0)

    def add_embedding(
        self, tag: str, vectors: np.ndarray, metadata: list[list[str]], header: list[str]
    ) -> None:
        """Projector files: vectors and a metadata table (one row per vector, with `header` columns)."""
        folder = self.log_dir / tag
        folder.mkdir(parents=True, exist_ok=True)
        np.savetxt(folder / "tensors.tsv", np.asarray(vectors, dtype=np.float32), delimiter="\t", fmt="%.6g")
        rows = ["\t".join(header)] + ["\t".join(_tsv_cell(cell) for cell in row) for row in metadata]
        (folder / "metadata.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        config = (
            f'embeddings {{\n  tensor_name: "{tag}"\n  tensor_path: "{tag}/tensors.tsv"\n'
            f'  metadata_path: "{tag}/metadata.tsv"\n}}\n'
        )
        (self.log_dir / PROJECTOR_CONFIG).write_text(config)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _pr_curve_summary(tag: str, labels: np.ndarray, scores: np.ndarray) -> Summary:
    """The PR-curve plugin's tensor: TP, FP, TN, FN, precision, recall at evenly spaced thresholds."""
    thresholds = np.linspace(0.0, 1.0, PR_THRESHOLDS)
    predicted = scores[None, :] >= thresholds[:, None]
    tp = (predicted & labels).sum(axis=1).astype(float)
    fp = (predicted & ~labels).sum(axis=1).astype(float)
    fn = labels.sum() - tp
    tn = (~labels).sum() - fp
    precision = tp / np.maximum(tp + fp, 1.0)
    recall = tp / np.maximum(tp + fn, 1.0)
    data = np.stack([tp, fp, tn, fn, precision, recall]).astype(np.float32)
    metadata = pr_curve_metadata.create_summary_metadata(
        display_name=tag, description="", num_thresholds=PR_THRESHOLDS
    )
    value = Summary.Value(
        tag=f"{tag}/pr_curves", metadata=metadata, tensor=tensor_util.make_tensor_proto(data)
    )
    return Summary(value=[value])


def _hparam_value(value: Any) -> bool | float | str:
    if isinstance(value, bool | int | float) and not isinstance(value, np.generic):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _tsv_cell(value: object) -> str:
    return " ".join(str(value).split())
