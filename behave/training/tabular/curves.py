"""What every tabular recipe shares: positional column names, per-round curves and feature importances
written under the neural runs' names, and a progress line per hundred boosting rounds."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd

from behave.data.errors import DataError
from behave.tasks.metric_registry import monitor_mode
from behave.training.recipe import RunContext, SelectionCurve

log = logging.getLogger("behave.train")
# Per-round metric names of the boosting libraries -> the tags the neural runs log per epoch.
ROUND_TAGS = {"logloss": "loss", "mlogloss": "loss", "binary_logloss": "loss", "multi_logloss": "loss"}
ROUND_TAGS |= {"auc": "auroc", "rmse": "rmse", "l2": "loss"}


def positional(features: pd.DataFrame) -> pd.DataFrame:
    """Columns renamed f0, f1, ...: boosting libraries reject names with '[', ']' or '<', which ours use."""
    return features.set_axis([f"f{i}" for i in range(features.shape[1])], axis=1)


def round_line(round_number: int, curves: dict[str, dict[str, list[float]]]) -> None:
    """`round 200  train/loss 0.3121  val/loss 0.3390`: curves {part: {library metric: values}}."""
    shown = [
        f"{part}/{ROUND_TAGS.get(metric, metric)} {values[-1]:.4f}"
        for part, metrics in curves.items()
        for metric, values in metrics.items()
    ]
    log.info("round %d  %s", round_number, "  ".join(shown))


def log_round_curves(curves: dict[str, dict[str, list[float]]], context: RunContext) -> None:
    """Per-round curves {part: {library metric: values}} under the neural tags (one round = one step);
    on the training rows only the loss, as the neural family logs."""
    if context.board is None:
        return
    for part, metrics in curves.items():
        for metric, values in metrics.items():
            tag = f"{part}/{ROUND_TAGS.get(metric, metric)}"
            if part == "train" and tag != "train/loss":
                continue
            for step, value in enumerate(values):
                context.board.log_scalars({tag: float(value)}, step=step)


def monitor_curve(
    metrics: dict[str, list[float]], monitor: str, stops_on: str | None = None
) -> SelectionCurve:
    """The run's monitor per round from a booster's validation curves {library metric: values}, found by
    the neural tag each library metric is logged under (auc -> val/auroc); `stops_on`: the library metric
    the booster's early stopping watches (its last eval metric), which then chooses the rounds, as it does
    on the holdout."""
    values = None
    for metric, curve in metrics.items():
        if f"val/{ROUND_TAGS.get(metric, metric)}" == monitor:
            values = np.asarray(curve, dtype=np.float64)
    if values is None:
        raise DataError(
            f"the booster logs {sorted(metrics)} per round, not the monitor {monitor} that inner "
            "cross-validation reports: add its metric to model.params.eval_metric, or use selection=holdout"
        )
    if stops_on is None or stops_on not in metrics:
        return SelectionCurve(monitor, values)
    chooser = f"val/{ROUND_TAGS.get(stops_on, stops_on)}"
    return SelectionCurve(
        monitor, values, chooser, np.asarray(metrics[stops_on], dtype=np.float64), monitor_mode(chooser)
    )


def log_importances(
    ranked: Iterable[tuple[str, float]], context: RunContext, header: str = "importance"
) -> None:
    """Feature importances, largest first: a CSV in the run folder and one TensorBoard text table (top 50)."""
    ranked = list(ranked)
    lines = [f"feature,{header}"] + [f'"{name}",{value:.6g}' for name, value in ranked]
    (context.run_dir / "feature_importance.csv").write_text("\n".join(lines) + "\n")
    if context.board is not None:
        table = f"| feature | {header} |\n|---|---|\n" + "\n".join(
            f"| {n} | {v:.4g} |" for n, v in ranked[:50]
        )
        context.board.add_text("feature_importance", table)
