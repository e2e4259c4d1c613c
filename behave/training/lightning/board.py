"""Lightning's logger interface over the run's `TensorBoard`, so the neural family writes the same tags into
the same event files as the tree family. Hyperparameters are logged once, by the training entry, for both."""

from __future__ import annotations

from typing import Any

from pytorch_lightning.loggers.logger import Logger, rank_zero_experiment
from pytorch_lightning.utilities import rank_zero_only

from behave.run.board import TensorBoard


class BoardLogger(Logger):
    def __init__(self, board: TensorBoard) -> None:
        super().__init__()
        self.board = board

    @property
    def name(self) -> str:
        return self.board.log_dir.name

    @property
    def version(self) -> str:
        return ""

    @property
    def save_dir(self) -> str:
        return str(self.board.log_dir.parent)

    @property
    @rank_zero_experiment
    def experiment(self) -> TensorBoard:
        return self.board

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        # Lightning adds the epoch number as a metric; it is the x axis already, not a curve.
        values = {name: float(value) for name, value in metrics.items() if name != "epoch"}
        if values:
            self.board.log_scalars(values, step or 0)

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Ignored: the run's hyperparameters and final metrics are logged once, for both families alike."""

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.board.flush()
