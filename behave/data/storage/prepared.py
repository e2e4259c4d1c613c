"""Prepare a dataset once and cache what is expensive and task-free: source -> validate -> split -> fit on
train -> per-event inputs -> disk. Tasks then cut their rows from it (`behave/tasks/dataset.py`).

Cache layout, `<cache_dir>/<fingerprint>/`:
    log/                   the validated EventLog (see log_store.py), after a strict time split's cut
    split.parquet          sequence_id, part             (the split every model family and task uses)
    events/tokens.npy      (N,) int32 token ids          (the neural models' per-event inputs,
    events/numeric.npy     (N, F) float32                 task-free: a task's row reads a prefix of them)
    events/fields.npy      (N, K) int32 codes of the other categorical fields, embedded beside the token
    events/static.npy      (S, D) float32 static inputs of the neural head
    vocabulary.json        readable tokens with training frequencies
    pipeline.json          everything fitted on train (vocabulary, scalers, static encoder, feature state)
    card.json              the data card (written last: its presence marks a complete cache)
    tasks/<key>/           each task's rows and their tabular features
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from behave.data.event_log import EventLog
from behave.data.ingestion.validate import validate
from behave.data.spec import DatasetSpec
from behave.data.split import PARTS, Split, cut_to_split, split_sequences
from behave.data.storage import out_of_core
from behave.data.storage.cache import PIPELINE_VERSION, atomic_directory, cache_writes, fingerprint
from behave.data.storage.card import build_card, unknown_tokens
from behave.data.storage.log_store import load_log, save_log
from behave.data.transforms.pipeline import FittedPipeline
from behave.data.transforms.sequences import SequenceStore

log = logging.getLogger(__name__)

# The per-sequence key a split stratifies on, computed from the validated log (None: no stratification).
Strata = Callable[[EventLog], "np.ndarray | None"]


class Steps:
    """Progress of a long preparation: one log line per finished step, with its time."""

    def __init__(self, what: str) -> None:
        self.started = time.perf_counter()
        log.info("%s ...", what)

    def __call__(self, done: str) -> None:
        now = time.perf_counter()
        log.info("  %s (%.1f s)", done, now - self.started)
        self.started = now


def label_strata(log_: EventLog) -> np.ndarray | None:
    """The sequence label, the usual key to stratify on; None (unstratified) for a log without one."""
    return log_.labels if log_.labelled else None


@dataclass(frozen=True)
class PreparedDataset:
    """The task-free part of a dataset: the log, its split, the fitted pipeline and per-event inputs.

    `events` and `static` are indexed like the log: sequence s owns events offsets[s]:offsets[s + 1].
    """

    spec: DatasetSpec
    fingerprint: str
    directory: Path
    log: EventLog
    split: Split
    pipeline: FittedPipeline
    events: SequenceStore
    static: np.ndarray
    card: dict
    # The source and pipeline without the split (`data_fingerprint`): what runs of a resplit or k-fold
    # protocol share, and runs of other data never do.
    data_fingerprint: str | None = None

    @property
    def class_names(self) -> list[str]:
        return self.pipeline.class_names

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def vocab_size(self) -> int:
        return self.pipeline.vocabulary.size

    @property
    def n_numeric(self) -> int:
        return self.events.numeric.shape[1]

    @property
    def n_static(self) -> int:
        return self.static.shape[1]

    @cached_property
    def oracle_prob(self) -> np.ndarray | None:
        """(S,) the simulator's true probability of the positive class, when the source knows it."""
        extras = self.log.extras
        return extras["oracle_prob"].to_numpy() if "oracle_prob" in extras else None


# (group, key) -> its default: see spec_payload.
LATER_KEYS = {("schema", "columns_missing_in_files"): "error", ("label", "missing"): "error"}


def spec_payload(spec: DatasetSpec) -> dict:
    """The spec as plain data, without the source node, the cache location and the item roles (none of them
    changes the prepared data)."""
    payload = OmegaConf.to_container(OmegaConf.structured(spec), resolve=True, enum_to_str=True)
    for key in ("source", "cache_dir", "item"):
        payload.pop(key, None)
    # Keys added since caches were first named are left out at their default, so those caches keep their
    # names; set otherwise they name a cache of their own (never reused under the default).
    for (group, key), default in LATER_KEYS.items():
        if payload[group].get(key) == default:
            del payload[group][key]
    return payload


def data_fingerprint(spec: DatasetSpec, source_key: dict) -> str:
    """The fingerprint of the data a run learns from, without its split: the source's inputs (a simulator's
    seed, a file's content) and the pipeline's settings, but not how sequences are dealt to train,
    validation and test (method, seed, fold, shares) nor what the split stratifies on. Runs of a resplit or
    k-fold protocol share it; two simulator seeds under one name do not. A sample of sequences
    (`sample_sequences`) is drawn with the split's seed, so it counts as part of the draw, like the split.
    `source_key`: the source's own fingerprint (hashing a large file once is enough)."""
    payload = spec_payload(spec)
    payload.pop("split", None)
    return fingerprint({"spec": payload, "source": source_key, "version": PIPELINE_VERSION})


def prepare(
    spec: DatasetSpec, source, strata: Strata = label_strata, strata_name: str | None = "label"
) -> PreparedDataset:
    """The cached dataset for (spec, source inputs, what the split stratifies on), built if needed."""
    source_key = source.fingerprint()
    key = fingerprint(
        {
            "spec": spec_payload(spec),
            "source": source_key,
            "strata": strata_name,
            "version": PIPELINE_VERSION,
        }
    )
    directory = Path(spec.cache_dir) / key
    if not (directory / "card.json").exists():
        with cache_writes(directory.parent), atomic_directory(directory) as temp:
            _build(spec, source, strata, key, temp)
    return load(directory, spec, data_fingerprint(spec, source_key))


def sample_sequences(log_: EventLog, n: int | None, seed: int) -> EventLog:
    """A seeded random sample of `n` sequences (all of them when n is None or not smaller)."""
    if n is None or n >= log_.n_sequences:
        return log_
    chosen = np.random.default_rng(seed).choice(log_.n_sequences, size=n, replace=False)
    return log_.select(np.sort(chosen))


def _build(spec: DatasetSpec, source, strata: Strata, key: str, out: Path) -> None:
    started = time.perf_counter()
    step = Steps(f"preparing {spec.name} ({key})")
    # A source that can be read in slices says whether this log needs it (see out_of_core.py).
    large = source.larger_than_memory() if hasattr(source, "larger_than_memory") else None
    if large is not None:
        fitted, card = out_of_core.build(spec, large, strata, key, out, step)
    else:
        fitted, card = _build_in_memory(spec, source, strata, key, out, step)
    write_fitted(fitted, spec, key, out)
    write_card(card, out, started, step)


def _build_in_memory(spec: DatasetSpec, source, strata: Strata, key: str, out: Path, step: Steps):
    raw = source.load()
    step(f"read {len(raw.events):,} events")
    event_log, drops = validate(raw, spec)
    event_log = sample_sequences(event_log, spec.sample_sequences, spec.split.seed)
    step(f"validated {event_log.n_sequences:,} sequences")
    split = split_sequences(event_log, spec.split, strata(event_log), spec.schema.group)
    event_log, split, events_cut = cut_to_split(event_log, split, spec.split)
    fitted = FittedPipeline.fit(event_log.select(split.train), spec)
    step(f"split, fitted the pipeline on {len(split.train):,} training sequences")
    events = fitted.encode_events(event_log)
    static = fitted.static_inputs(event_log)
    step("encoded every event")
    save_log(event_log, out / "log")
    split.to_frame(event_log.sequence_ids).to_parquet(out / "split.parquet", index=False)
    (out / "events").mkdir()
    np.save(out / "events" / "tokens.npy", events.tokens)
    np.save(out / "events" / "numeric.npy", events.numeric)
    np.save(out / "events" / "fields.npy", events.fields)
    np.save(out / "events" / "static.npy", static)
    card = build_card(
        spec, event_log, split, fitted, events.numeric.shape[1], unknown_tokens(events), drops, key
    )
    card["split"]["events_cut_after_test_start"] = events_cut
    return fitted, card


def write_fitted(fitted: FittedPipeline, spec: DatasetSpec, key: str, out: Path) -> None:
    (out / "vocabulary.json").write_text(json.dumps(fitted.vocabulary.to_json(), indent=1))
    pipeline_state = {"spec": spec_payload(spec), "fitted": fitted.state_dict(), "fingerprint": key}
    (out / "pipeline.json").write_text(json.dumps(pipeline_state, default=str))


def write_card(card: dict, out: Path, started: float, step: Steps) -> None:
    card["prepare_seconds"] = round(time.perf_counter() - started, 2)
    step(f"saved the cache ({card['prepare_seconds']:.1f} s in all)")
    # card.json is written last: its presence marks a complete cache.
    (out / "card.json").write_text(json.dumps(card, indent=2, default=str))


def load(directory: Path, spec: DatasetSpec, data_key: str | None = None) -> PreparedDataset:
    event_log = load_log(directory / "log")
    state = json.loads((directory / "pipeline.json").read_text())
    split_parts = _split_parts(directory, event_log)
    events = SequenceStore(
        offsets=event_log.offsets,
        tokens=np.load(directory / "events" / "tokens.npy", mmap_mode="r"),
        numeric=np.load(directory / "events" / "numeric.npy", mmap_mode="r"),
        fields=np.load(directory / "events" / "fields.npy", mmap_mode="r"),
    )
    return PreparedDataset(
        spec=spec,
        fingerprint=state["fingerprint"],
        directory=directory,
        log=event_log,
        split=Split(*[np.flatnonzero(split_parts == name) for name in PARTS]),
        pipeline=FittedPipeline.from_state_dict(state["fitted"], spec),
        events=events,
        static=np.load(directory / "events" / "static.npy"),
        card=json.loads((directory / "card.json").read_text()),
        data_fingerprint=data_key,
    )


def _split_parts(directory: Path, event_log: EventLog) -> np.ndarray:
    """(S,) part name of each sequence of the log, from split.parquet."""
    table = pd.read_parquet(directory / "split.parquet")
    return table.set_index("sequence_id")["part"].reindex(event_log.sequence_ids).to_numpy()
