"""Typed schemas for the configs, registered with Hydra so a wrong key or value fails at compose time.

`conf/train.yaml` and `conf/data_card.yaml` list their schema (`TrainConfig`, `DataCardConfig`) first in
their defaults, and `conf/data/*.yaml` list `dataset_schema` (`DatasetSpec`): Hydra then checks every key a
config file or an override sets, and every typed value (`seed=abc`, `data.split.method=tme`), when the
config is composed, and names the key (and the valid choices) before any job starts. The schemas are the one
list of the keys each app knows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from behave.data.errors import DataError
from behave.data.spec import DatasetSpec

DATASET_SCHEMA = "dataset_schema"
TRAIN_SCHEMA = "train_schema"
DATA_CARD_SCHEMA = "data_card_schema"


@dataclass
class PathsConfig:
    """Where things go (conf/paths/); relative to the folder behave runs from."""

    root_dir: str = MISSING
    data_dir: str = MISSING
    cache_dir: str = MISSING
    output_dir: str = MISSING
    run_dir: str = MISSING


@dataclass
class ProtocolConfig:
    """How runs relate to splits (conf/protocol/: fixed, resplit, kfold, rolling); the report reads it."""

    name: str = MISSING
    origins: int | None = None  # rolling: how many test periods the seeds sweep


class SelectionKind(str, Enum):
    """conf/selection/: what chooses epochs, rounds and a search's value (behave/training/selection/)."""

    holdout = "holdout"
    inner_cv = "inner_cv"
    auto = "auto"


@dataclass
class SelectionConfig:
    """conf/selection/*.yaml: the policy built by `_target_`, its name, and its settings."""

    _target_: str = MISSING
    name: SelectionKind = MISSING
    folds: int = 5
    # auto: inner cross-validation below this many training sequences.
    inner_cv_below: int = 500


@dataclass
class TrainConfig:
    """`behave-train`'s keys and their types; conf/train.yaml sets their values and says what each does.
    Groups whose files are `_target_` nodes (task, model, trainer...) are checked by what they build, when
    it is built; a group that may be left out (`~logger`) is null."""

    data: Any = MISSING  # conf/data/*.yaml, typed by DatasetSpec through their `dataset_schema` default
    task: Any = MISSING
    model: Any = MISSING
    features: Any = None  # conf/features/*.yaml: the tabular family's columns (a `_target_` node)
    objective: Any = None
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    trainer: Any = MISSING
    logger: Any = None
    callbacks: Any = None
    paths: PathsConfig = field(default_factory=PathsConfig)
    skip_finished: bool = MISSING
    seed: int = MISSING
    monitor: str = MISSING
    torch_threads: int | None = MISSING
    transfer_from: str | None = MISSING
    pretrain_from: str | None = MISSING
    tuning: str | None = MISSING
    search_trials: int = MISSING


@dataclass
class DataCardConfig:
    """`behave-data`'s config (conf/data_card.yaml)."""

    data: Any = MISSING
    task: Any = MISSING
    features: Any = None
    paths: PathsConfig = field(default_factory=PathsConfig)


def register() -> None:
    store = ConfigStore.instance()
    store.store(name=TRAIN_SCHEMA, node=TrainConfig)
    store.store(name=DATA_CARD_SCHEMA, node=DataCardConfig)
    # A composed config caches prepared data under `paths.cache_dir`, the one place a user moves it; the
    # dataclass's own default serves specs built in Python.
    dataset = OmegaConf.structured(DatasetSpec(cache_dir="${paths.cache_dir}"))
    # A field's bins are a new key of data.tokens.buckets: open to the command line without `+`
    # ('data.tokens.buckets.price={method:log,n_bins:3}'); TokenSpec checks each entry (and check_spec its
    # field) when the spec is built.
    OmegaConf.set_struct(dataset.tokens.buckets, False)
    store.store(group="data", name=DATASET_SCHEMA, node=dataset)


def check_top_level(cfg: DictConfig) -> None:
    """Refuse top-level keys the config's schema does not have, above all data keys given without `data.`.

    The schema refuses unknown keys when the config is composed, except those added with `+`, which Hydra
    adds past any schema: `behave-data +split.method=time` (the `+` Hydra suggests for `split.method=time`)
    would otherwise be accepted and silently ignored, since the split lives under `data.split`.
    """
    schema = OmegaConf.get_type(cfg)
    if not is_dataclass(schema):
        raise TypeError(f"check_top_level needs a config composed with a schema, got {schema}")
    allowed = {f.name for f in fields(schema)}
    unknown = [key for key in cfg if key not in allowed]
    if not unknown:
        return
    data_keys = {f.name for f in fields(DatasetSpec)}
    hints = []
    for key in unknown:
        flat = _dotted(OmegaConf.to_container(cfg[key]) if OmegaConf.is_config(cfg[key]) else cfg[key], key)
        if key in data_keys:
            hints.append(f"'{key}' is a data setting: write {', '.join(f'data.{k}={v}' for k, v in flat)}")
        else:
            hints.append(f"'{key}' is not a setting of behave (known: {', '.join(sorted(allowed))})")
    raise DataError("unknown top-level config key(s): " + "; ".join(hints) + ".")


def _dotted(value, prefix: str) -> list[tuple[str, object]]:
    if isinstance(value, dict) and value:
        return [pair for key, inner in value.items() for pair in _dotted(inner, f"{prefix}.{key}")]
    return [(prefix, value)]
