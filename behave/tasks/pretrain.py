"""`task=pretrain`: no label is predicted; the chosen neural model's encoder learns from the events alone.

The rows are the whole sequences of every part, labelled -1 (no label is read: the objective's positives
and negatives come from the events), on the data's usual split, so a downstream model on the same data
fine-tunes on the same training sequences the encoder was pretrained on and on no others. What is fitted
is the objective (`objective=coles`, behave/training/lightning/pretrain.py); the run is scored
label-free, by the contrastive loss and slice retrieval on the test part's sequences.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from behave.data.errors import DataError
from behave.data.event_log import EventLog
from behave.data.split import Split
from behave.data.storage.prepared import PreparedDataset
from behave.tasks import metric_registry
from behave.tasks.base import Evaluation, SequenceSplitTask
from behave.tasks.rows import TaskRows, whole_sequences


class PretrainTask(SequenceSplitTask):
    """On the data's usual split (stratified on the sequence label, as the classifiers' split, when the log
    has one), so a pretrain run and the downstream runs share their training sequences: the labels pick the
    parts, nothing else; a log without a sequence label is split unstratified."""

    name = "pretrain"
    kind = "pretraining"
    reads_label = False

    def __init__(self, objective: Any, recipe: Callable[..., Any]) -> None:
        """objective: the `Objective` Hydra built from conf/objective/; recipe: the pretraining recipe's
        partial (conf/task/pretrain.yaml), given the model's encoder here. Both come from config, so the
        tasks package needs neither models nor training."""
        self.objective = objective
        self.recipe = recipe

    rows_description = "every sequence whole, without a label (the encoder learns from the events alone)"

    def rows(self, log_: EventLog, split: Split) -> TaskRows:
        n = log_.n_sequences
        return whole_sequences(log_, np.full(n, -1, dtype=np.int64), split.part_index(n))

    def features(self, base: PreparedDataset, rows: TaskRows) -> pd.DataFrame:
        return pd.DataFrame(index=range(len(rows)))  # nothing tabular is fitted here

    @classmethod
    def scored_kind(cls, label_kind: str = "") -> str:
        return metric_registry.LABEL_FREE

    def model_recipe(self, recipe):
        """The pretraining of `recipe`'s encoder: any neural model of the stack."""
        module = getattr(recipe, "module", None)
        encoder = getattr(module, "keywords", {}).get("encoder")
        if encoder is None:
            raise DataError(
                f"task=pretrain pretrains a neural encoder; model={getattr(recipe, 'name', '?')} has none "
                "(use model=gru, lstm, transformer, cnn, ...)"
            )
        return self.recipe(encoder=encoder, name=f"{recipe.name}_{self.objective.name}")

    def evaluate(self, rows: TaskRows, probs: np.ndarray) -> Evaluation:
        raise DataError(
            "task=pretrain has no label to evaluate; its recipe scores itself on the test sequences"
        )

    def describe_config(self) -> dict:
        return {**self.fingerprint(), "objective": self.objective.describe()}
