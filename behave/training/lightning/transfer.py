"""Reuse embeddings across models: start a sequence classifier's token embeddings from the item embeddings
a rating run learned (`model.token_init`, e.g. `model=gru_transfer_tuned transfer_from=<rating run>`).

Tokens are matched by item id through both vocabularies: a classifier token whose parts hold
`field=<id>` (tokens built from that field alone) takes the rating run's vector of item `<id>`; every other
token (padding, unknown, items the rating run never saw in training) keeps its random start.

The rating run must not have seen a rating of any user the classifier validates or tests on: its item
vectors would carry those users' tastes into the classifier (a leak). The rating run records the users
whose ratings it trained on (`rating_run.json`), and `TokenInit` refuses to start from it when one of them
is a validation or test sequence here. `task.split=users` fits the rating run on the training users only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from behave.data.errors import DataError
from behave.data.transforms.vocabulary import Vocabulary
from behave.run.embedding_table import ITEM_EMBEDDINGS_FILE, read_embedding_table, vectors_of
from behave.run.record import RATING_RUN_FILE, UnreadableResult, read_result, result_file
from behave.tasks.dataset import TaskDataset


@dataclass(frozen=True)
class TokenMatch:
    """rows (k,) classifier token ids that matched, vectors (k, D) the rating run's vectors for them."""

    rows: np.ndarray
    vectors: np.ndarray
    n_tokens: int

    def summary(self) -> dict:
        return {
            "matched_tokens": int(len(self.rows)),
            "unmatched_tokens": int(self.n_tokens - len(self.rows)),
        }


def match_tokens(vocabulary: Vocabulary, items: pd.DataFrame, field: str) -> TokenMatch:
    """Classifier tokens that are exactly one value of `field`, matched to the items' `raw_id`."""
    if list(vocabulary.spec.fields) != [field]:
        raise DataError(
            f"model.token_init: the classifier's tokens are built from data.tokens.fields="
            f"{list(vocabulary.spec.fields)}; transferring item vectors needs tokens of [{field}] alone "
            "(e.g. data=movielens100k_items)"
        )
    index = {str(raw): row for row, raw in enumerate(items["raw_id"].astype(str))}
    dims = vectors_of(items, np.float32)
    rows, vectors = [], []
    for token_id, parts in enumerate(vocabulary.parts_):
        row = index.get(str(parts.get(field))) if field in parts else None
        if row is not None:
            rows.append(token_id)
            vectors.append(dims[row])
    stacked = np.stack(vectors) if vectors else np.zeros((0, dims.shape[1]), dtype=np.float32)
    return TokenMatch(np.asarray(rows, dtype=np.int64), stacked, len(vocabulary))


def leaked_users(trained_on: list[str], data: TaskDataset) -> list[str]:
    """Users whose ratings the rating run trained on and that are validation or test sequences here."""
    held_out = np.concatenate([np.unique(data.rows.sequence[data.rows.in_part(p)]) for p in ("val", "test")])
    held_out_ids = {str(u) for u in data.base.log.sequence_ids[held_out]}
    return sorted(held_out_ids & {str(u) for u in trained_on})


# What a user types: `model.token_init.run_dir` is set from it (conf/model/gru_transfer_*.yaml).
SETTING = "transfer_from"
RATING_RUN_COMMAND = "behave-train task=rating task.split=users data=movielens100k_ratings model=dot_bias ..."


def what_run(run_dir: Path, missing: Path) -> str:
    """Why `run_dir` is not a rating run: the task its record names, or the file it lacks."""
    if not run_dir.is_dir():
        return "no such folder"
    if result_file(run_dir).exists():
        try:
            task = (read_result(run_dir).get("task") or {}).get("name")
        except UnreadableResult:
            task = None
        if task:
            return f"its result.json is of a task={task} run, which leaves no {missing.name}"
    return f"it has no {missing.name}"


class TokenInit:
    """Initialise (and optionally freeze) token embeddings from a rating run's item embeddings.

    run_dir   the rating run folder (item_embeddings.parquet, rating_run.json)
    field     the item field the classifier's tokens are built from
    freeze    keep the whole token table fixed (transferred and unmatched rows alike) while training
    rescale   scale the transferred vectors to the random init's spread (std 1): a dot-product model's
              vectors are small, and rows of a very different scale than their neighbours slow the GRU
    """

    def __init__(
        self, run_dir: str | None, field: str = "item_id", freeze: bool = False, rescale: bool = True
    ):
        if not run_dir:
            raise DataError(
                f"{SETTING} is not set: pass {SETTING}=<folder of a rating run> ({RATING_RUN_COMMAND})"
            )
        self.run_dir = Path(run_dir)
        self.field = field
        self.freeze = freeze
        self.rescale = rescale

    def load(self) -> tuple[pd.DataFrame, dict]:
        items_path, run_path = self.run_dir / ITEM_EMBEDDINGS_FILE, self.run_dir / RATING_RUN_FILE
        for path in (items_path, run_path):
            if not path.exists():
                raise DataError(
                    f"{SETTING}={self.run_dir}: not a rating run ({what_run(self.run_dir, path)}); "
                    f"{SETTING} takes the folder of a rating run ({RATING_RUN_COMMAND})"
                )
        return read_embedding_table(items_path), json.loads(run_path.read_text())

    def apply(self, embedding: nn.Embedding, vocabulary: Vocabulary, data: TaskDataset) -> dict:
        """Copy matched vectors into `embedding`, freeze it if asked; the summary goes into the run record."""
        items, run = self.load()
        leaked = leaked_users(run.get("train_users", []), data)
        if leaked:
            shown = ", ".join(leaked[:5]) + (f" ... ({len(leaked)} in all)" if len(leaked) > 5 else "")
            raise DataError(
                f"{SETTING}={self.run_dir}: the rating run trained on ratings of users this run validates or "
                f"tests on ({shown}); refit it with task.split=users so only training users' ratings reach "
                "the embeddings"
            )
        match = match_tokens(vocabulary, items, self.field)
        if match.vectors.shape[1] != embedding.embedding_dim:
            raise DataError(
                f"model.token_init: the rating run's item vectors have {match.vectors.shape[1]} dimensions, "
                f"the token embeddings {embedding.embedding_dim}; set "
                f"model.module.encoder.tokens.embedding_dim={match.vectors.shape[1]}"
            )
        vectors = match.vectors
        scale = 1.0
        if self.rescale and len(vectors) and vectors.std() > 0:
            scale = float(1.0 / vectors.std())
        with torch.no_grad():
            embedding.weight[torch.from_numpy(match.rows)] = torch.from_numpy(vectors * scale)
        embedding.weight.requires_grad_(not self.freeze)
        return {
            "run_dir": str(self.run_dir),
            "freeze": self.freeze,
            "scale": round(scale, 4),
            **match.summary(),
        }
