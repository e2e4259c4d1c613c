"""Prepare a dataset once and cache it: source -> validate -> split -> fit on train -> both views -> disk.

Cache layout, `<cache_dir>/<fingerprint>/`:
    split.parquet          sequence_id, part             (the split every model family uses)
    sequences.parquet      sequence_id, label, part, length, + source extras (e.g. oracle_prob)
    events.npz             offsets, tokens, numeric, static  (flat index sequences, all parts)
    features.parquet       tabular features, one row per sequence, same order
    vocabulary.json        readable tokens with training frequencies
    pipeline.json          everything fitted on train (vocabulary, scalers, feature state, spec)
    card.json              the data card
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from behave.data.cache import PIPELINE_VERSION, atomic_directory, fingerprint
from behave.data.card import build_card
from behave.data.pipeline import FittedPipeline
from behave.data.sequences import SequenceStore
from behave.data.spec import DatasetSpec
from behave.data.split import PARTS, Split, split_sequences
from behave.data.validate import validate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedDataset:
    """Both views of every sequence (row s is the same sequence everywhere) plus the split and fitted state."""

    spec: DatasetSpec
    fingerprint: str
    directory: Path
    sequence_ids: np.ndarray
    labels: np.ndarray
    split: Split
    sequences: SequenceStore
    features: pd.DataFrame
    pipeline: FittedPipeline
    extras: pd.DataFrame
    card: dict

    @property
    def class_names(self) -> list[str]:
        return self.pipeline.class_names

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def task(self) -> str:
        return self.spec.label.task

    @property
    def vocab_size(self) -> int:
        return self.pipeline.vocabulary.size

    @property
    def feature_names(self) -> list[str]:
        return list(self.features.columns)

    @property
    def n_numeric(self) -> int:
        return self.sequences.numeric.shape[1]

    @property
    def n_static(self) -> int:
        return self.sequences.static.shape[1]

    def rows(self, part: str) -> np.ndarray:
        return self.split.part(part)

    def tabular(self, part: str) -> tuple[pd.DataFrame, np.ndarray]:
        """(features, labels) of one split part."""
        rows = self.rows(part)
        return self.features.iloc[rows].reset_index(drop=True), self.labels[rows]

    @cached_property
    def oracle_prob(self) -> np.ndarray | None:
        """(S,) the simulator's true probability of the positive class, when the source knows it."""
        return self.extras["oracle_prob"].to_numpy() if "oracle_prob" in self.extras else None


def spec_payload(spec: DatasetSpec) -> dict:
    """The spec as plain data, without the source node and the cache location (they do not change the data)."""
    payload = OmegaConf.to_container(OmegaConf.structured(spec), resolve=True)
    payload.pop("source", None)
    payload.pop("cache_dir", None)
    return payload


def prepare(spec: DatasetSpec, source) -> PreparedDataset:
    """Load the cached dataset for (spec, source inputs), building it first if needed."""
    key = fingerprint({"spec": spec_payload(spec), "source": source.fingerprint(), "version": PIPELINE_VERSION})
    directory = Path(spec.cache_dir) / key
    if not (directory / "card.json").exists():
        with atomic_directory(directory) as temp:
            _build(spec, source, key, temp)
    return load(directory, spec)


def _build(spec: DatasetSpec, source, key: str, out: Path) -> None:
    started = time.perf_counter()
    raw = source.load()
    event_log, drops = validate(raw, spec)
    split = split_sequences(event_log, spec.split)
    fitted = FittedPipeline.fit(event_log.select(split.train), spec)
    views = fitted.transform(event_log)
    parts = np.empty(event_log.n_sequences, dtype=object)
    for name in PARTS:
        parts[split.part(name)] = name
    index = pd.DataFrame({"sequence_id": event_log.sequence_ids, "label": event_log.labels, "part": parts,
                          "length": event_log.lengths})
    index = pd.concat([index, event_log.extras.reset_index(drop=True)], axis=1)
    index.to_parquet(out / "sequences.parquet", index=False)
    split.to_frame(event_log.sequence_ids).to_parquet(out / "split.parquet", index=False)
    store = views.sequences
    np.savez(out / "events.npz", offsets=store.offsets, tokens=store.tokens, numeric=store.numeric,
             static=store.static)
    views.features.to_parquet(out / "features.parquet", index=False)
    (out / "vocabulary.json").write_text(json.dumps(fitted.vocabulary.to_json(), indent=1))
    pipeline_state = {"spec": spec_payload(spec), "fitted": fitted.state_dict(), "fingerprint": key}
    (out / "pipeline.json").write_text(json.dumps(pipeline_state, default=str))
    card = build_card(spec, event_log, split, fitted, views, drops, key)
    card["prepare_seconds"] = round(time.perf_counter() - started, 2)
    # card.json is written last: its presence marks a complete cache.
    (out / "card.json").write_text(json.dumps(card, indent=2, default=str))


def load(directory: Path, spec: DatasetSpec) -> PreparedDataset:
    index = pd.read_parquet(directory / "sequences.parquet")
    arrays = np.load(directory / "events.npz")
    state = json.loads((directory / "pipeline.json").read_text())
    split_positions = [np.flatnonzero(index["part"].to_numpy() == name) for name in PARTS]
    labels = index["label"].to_numpy(dtype=np.int64)
    extras = index.drop(columns=["sequence_id", "label", "part", "length"])
    store = SequenceStore(arrays["offsets"], arrays["tokens"], arrays["numeric"], labels, arrays["static"])
    return PreparedDataset(
        spec=spec,
        fingerprint=state["fingerprint"],
        directory=directory,
        sequence_ids=index["sequence_id"].to_numpy(),
        labels=labels,
        split=Split(*split_positions),
        sequences=store,
        features=pd.read_parquet(directory / "features.parquet"),
        pipeline=FittedPipeline.from_state_dict(state["fitted"], spec),
        extras=extras,
        card=json.loads((directory / "card.json").read_text()),
    )

