"""Boosted trees over a pretrained encoder's sequence vectors (`model=embeddings_xgboost`, ...).

The encoder (pretrained without labels, `EncoderInit`) stays frozen; each row's vector is the encoder's
output over the row's events up to its cutoff, the same events the other models see. The trees then fit
on the vectors with the row's static inputs (what the neural head sees beside the encoder), or on the
vectors appended to the pipeline's hand-engineered features (`with_aggregates: true`). Everything else is
the tree recipe's own: early stopping, curves, importances, the saved model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from behave.data.batches.loaders import LengthBucketBatchSampler, SequenceDataset, keep_batch
from behave.data.inputs import RowInputs
from behave.data.spec import DatasetSpec
from behave.models.encoder import EventEncoder
from behave.run.torch_file import read_torch_file, write_torch_file
from behave.tasks.dataset import TaskDataset
from behave.training.lightning.neural import NeuralRecipe
from behave.training.lightning.pretrain import (
    ENCODER_WEIGHTS,
    EncoderInit,
    build_encoder,
    encoder_sizes,
    load_into,
)
from behave.training.recipe import Fitted, Recipe, RunContext

SIZES_FILE = "encoder_sizes.json"


@torch.no_grad()
def encode_rows(encoder: EventEncoder, inputs: RowInputs, spec: DatasetSpec, batch_size: int) -> np.ndarray:
    """(R, D) the encoder's vector of each row (its events up to its cutoff), in row order."""
    encoder.require_per_sequence("trees on pretrained sequence vectors")
    encoder.eval()
    dataset = SequenceDataset(inputs, spec.sequences.max_len, spec.sequences.keep)
    vectors = np.zeros((len(inputs), encoder.output_dim), dtype=np.float32)
    for indices in LengthBucketBatchSampler(dataset.lengths, batch_size, shuffle=False):
        batch = keep_batch(dataset.__getitems__(indices))
        vectors[batch.index.numpy()] = encoder(batch).float().numpy()
    return vectors


def vector_features(vectors: np.ndarray, inputs: RowInputs, with_aggregates: bool) -> pd.DataFrame:
    """The trees' view of each row: the vectors with the static inputs, or appended to the aggregates."""
    embedded = pd.DataFrame(vectors, columns=[f"embedding_{i}" for i in range(vectors.shape[1])])
    if with_aggregates:
        return pd.concat([inputs.features.reset_index(drop=True), embedded], axis=1)
    static = np.asarray(inputs.static, dtype=np.float32)
    static = pd.DataFrame(static, columns=[f"static_{i}" for i in range(static.shape[1])])
    return pd.concat([embedded, static], axis=1)


class EmbeddingTreesRecipe:
    """encoder_source  the neural model whose encoder is pretrained (its `module.encoder`)
    trees           the tree recipe fitted on the vectors (xgboost, lightgbm)
    encoder_init    where the pretrained encoder comes from (a pretrain run, or pretraining here)
    """

    supported_tasks = frozenset({"classification"})

    def __init__(
        self,
        encoder_source: NeuralRecipe,
        trees: Recipe,
        encoder_init: EncoderInit,
        with_aggregates: bool = False,
        name: str = "embeddings_xgboost",
        family: str = "pretrained",
        eval_batch_size: int = 1024,
    ) -> None:
        self.encoder_factory: Callable[..., EventEncoder] = encoder_source.module.keywords["encoder"]
        self.trees = trees
        self.encoder_init = encoder_init
        self.with_aggregates = with_aggregates
        self.name = name
        self.family = family
        self.eval_batch_size = eval_batch_size

    def fit(self, data: TaskDataset, context: RunContext) -> Fitted:
        self.sizes_ = encoder_sizes(data.base)
        encoder = build_encoder(self.encoder_factory, self.sizes_)
        started = time.perf_counter()
        state, record, folder = self.encoder_init.pretrained(data.base, self.encoder_factory, context)
        setup_seconds = time.perf_counter() - started
        load_into(encoder, state, self.encoder_init.key, folder)
        started = time.perf_counter()
        frames = []
        for part in ("train", "val", "test"):
            inputs = data.inputs(part)
            vectors = encode_rows(encoder, inputs, data.spec, self.eval_batch_size)
            features = vector_features(vectors, inputs, self.with_aggregates)
            frames.append(features.set_index(data.rows.in_part(part)))
        encode_seconds = time.perf_counter() - started
        features = pd.concat(frames).sort_index().reset_index(drop=True)
        view = replace(data, feature_source=features)
        trees = self.trees.fit(view, context)
        extra = trees.extra | {
            "encoder_init": {
                "from": str(folder),
                "pretrain_seconds": record.get("fit_seconds"),
                "pretrain_epochs": record.get("epochs_trained"),
                "pretrain_val_loss": record.get("best_val_loss"),
                "pretrain_parts": record.get("parts", ["train"]),
            },
            "encode_seconds": round(encode_seconds, 2),
            "with_aggregates": self.with_aggregates,
        }
        return Fitted(
            model=(encoder, trees),
            n_parameters=trees.n_parameters,
            extra=extra,
            view=view,
            setup_seconds=setup_seconds + trees.setup_seconds,
        )

    def save(self, fitted: Fitted, data: TaskDataset, context: RunContext) -> None:
        encoder, trees = fitted.model
        write_torch_file(encoder.state_dict(), context.run_dir / ENCODER_WEIGHTS)
        (context.run_dir / SIZES_FILE).write_text(json.dumps(self.sizes_))
        self.trees.save(trees, fitted.view, context)

    def predict(self, model: tuple, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        """Outputs of rows as the trees see them (`Fitted.view`: the encoder's vectors already computed)."""
        _, trees = model
        return self.trees.predict(trees.model, inputs, spec)

    def predict_proba(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        sizes = json.loads((Path(run_dir) / SIZES_FILE).read_text())
        encoder = build_encoder(self.encoder_factory, sizes)
        weights = read_torch_file(Path(run_dir) / ENCODER_WEIGHTS)
        encoder.load_state_dict(weights)
        vectors = encode_rows(encoder, inputs, spec, self.eval_batch_size)
        return self.trees.predict_proba(
            run_dir,
            replace(inputs, feature_source=vector_features(vectors, inputs, self.with_aggregates)),
            spec,
        )
