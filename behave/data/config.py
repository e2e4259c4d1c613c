"""From the Hydra `data` config node to a typed `DatasetSpec` and its source object."""

from __future__ import annotations

import logging
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from behave.data.errors import DataError
from behave.data.spec import DatasetSpec
from behave.data.storage.prepared import PreparedDataset, prepare

log = logging.getLogger(__name__)

# Keys that changed name, so an older config gets told what to write instead.
RENAMED_KEYS = {
    "label.task": "\nlabel.task is now label.kind (binary | multiclass); `task` names what is predicted."
}


def dataset_spec(data_cfg: DictConfig | dict) -> DatasetSpec:
    """Check the data config against the `DatasetSpec` schema: unknown keys, wrong types, keys still to
    fill in, a source that names no reader, and settings that contradict the schema are all errors."""
    if OmegaConf.is_config(data_cfg):
        # Resolve against the whole config first (the node refers to ${paths...}), then check the schema.
        data_cfg = OmegaConf.to_container(data_cfg, resolve=True)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(DatasetSpec), data_cfg)
    except OmegaConfBaseException as error:
        hint = RENAMED_KEYS.get(getattr(error, "full_key", None) or "", "")
        raise DataError(
            f"data config does not match the dataset schema (behave/data/spec.py): {error}{hint}"
        ) from None
    missing = [f"data.{key}" for key in _missing_keys(merged)]
    if missing:
        hint = ""
        if "data.label.column" in missing:
            hint = " (data.label.column=null states a log without a sequence label)"
        raise DataError(f"data config: {', '.join(missing)} must be set (e.g. {missing[0]}=...){hint}.")
    source = OmegaConf.to_container(merged.source) if OmegaConf.is_dict(merged.source) else merged.source
    if not isinstance(source, dict) or "_target_" not in source:
        raise DataError(
            "data config: data.source names no reader (`_target_`). A data YAML for your own file starts "
            "with `defaults: [csv]` (the template conf/data/csv.yaml), which reads CSV/Parquet files."
        )
    try:
        spec = OmegaConf.to_object(merged)
    except (OmegaConfBaseException, ValueError) as error:
        raise DataError(f"data config: {error}") from None
    check_spec(spec)
    return spec


def check_spec(spec: DatasetSpec) -> None:
    """Settings that the schema's types allow but that contradict each other or can only fail later."""
    schema, tokens = spec.schema, spec.tokens
    fields = list(schema.categorical) + list(schema.numeric)
    problems = []
    if not tokens.fields:
        problems.append("data.tokens.fields is empty: name the event field(s) that form a token")
    problems += [
        f"data.tokens.fields names '{f}', which is not in data.schema.categorical or .numeric {fields}"
        for f in tokens.fields
        if f not in fields
    ]
    for name in tokens.buckets:
        if name in schema.categorical:
            problems.append(
                f"data.tokens.buckets.{name}: '{name}' is categorical; bins apply to numeric fields"
            )
        elif name not in schema.numeric:
            problems.append(f"data.tokens.buckets.{name}: '{name}' is not in data.schema.numeric")
        elif name not in tokens.fields:
            # Kept for a command-line change of tokens.fields, but said: the setting has no effect now.
            log.warning("data.tokens.buckets.%s has no effect: '%s' is not in data.tokens.fields", name, name)
    problems += [
        f"data.sequences.embed_fields names '{name}', which is not in data.schema.categorical"
        for name in spec.sequences.embed_fields or []
        if name not in schema.categorical
    ]
    problems += [
        f"data.item.{role} names '{name}', which is not in data.schema.categorical"
        for role, name in vars(spec.item).items()
        if name is not None and name not in schema.categorical
    ]
    problems += [
        f"data.sequences.numeric_transform.{name}: '{name}' is not in data.schema.numeric"
        for name in spec.sequences.numeric_transform
        if name not in schema.numeric
    ]
    minimums = {
        "data.sequences.max_len": (spec.sequences.max_len, 1),
        "data.sequences.max_field_values": (spec.sequences.max_field_values, 1),
        "data.tokens.min_freq": (tokens.min_freq, 1),
        "data.features.last_k": (spec.features.last_k, 0),
        "data.static.max_values": (spec.static.max_values, 1),
        "data.sample_sequences": (spec.sample_sequences if spec.sample_sequences is not None else 1, 1),
    }
    problems += [
        f"{key} must be at least {low}, got {value}" for key, (value, low) in minimums.items() if value < low
    ]
    if problems:
        raise DataError("data config: " + "; ".join(problems) + ".")


def _missing_keys(node, prefix: str = "") -> list[str]:
    """Dotted keys still set to ??? in a config node."""
    keys = []
    for key in node:
        path = f"{prefix}{key}"
        if OmegaConf.is_missing(node, key):
            keys.append(path)
        elif OmegaConf.is_dict(node[key]):
            keys += _missing_keys(node[key], f"{path}.")
    return keys


def require_label(spec: DatasetSpec, task_name: str, reads_label: bool) -> None:
    """The one check that a task which reads the sequence label gets a log that has one."""
    if reads_label and not spec.label.given:
        raise DataError(
            f"task={task_name} reads the sequence label, but data.label.column is null (the log "
            f"'{spec.name}' has no sequence label): set data.label.column, or choose a task that reads no "
            "label (e.g. task=rating, task=pretrain)."
        )


def build_source(spec: DatasetSpec) -> Any:
    return instantiate(spec.source)


def prepare_from_config(data_cfg: DictConfig | dict) -> PreparedDataset:
    """Validate the config, build the source and return the (cached) prepared dataset."""
    spec = dataset_spec(data_cfg)
    return prepare(spec, build_source(spec))
