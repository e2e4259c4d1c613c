"""Typed schemas for config groups, registered with Hydra so a wrong key or value fails at compose time.

`conf/data/*.yaml` list `dataset_schema` first in their defaults: Hydra then checks every data key and
every string option (split method, label kind, bucket method...) against `DatasetSpec` when the config is
composed, and names the key and the valid choices, before any job starts.
"""

from __future__ import annotations

from dataclasses import fields

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from behave.data.errors import DataError
from behave.data.spec import DatasetSpec

DATASET_SCHEMA = "dataset_schema"


def register() -> None:
    ConfigStore.instance().store(group="data", name=DATASET_SCHEMA, node=DatasetSpec)


def check_top_level(cfg: DictConfig, allowed: set[str]) -> None:
    """Refuse keys the app does not know, above all data keys given without their `data.` prefix.

    `behave-data +split.method=time` (the `+` Hydra suggests for `split.method=time`) would otherwise be
    accepted and silently ignored, since the split lives under `data.split`.
    """
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
