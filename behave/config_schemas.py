"""Typed schemas for config groups, registered with Hydra so a wrong key or value fails at compose time.

`conf/data/*.yaml` list `dataset_schema` first in their defaults: Hydra then checks every data key and
every string option (split method, label kind, bucket method...) against `DatasetSpec` when the config is
composed, and names the key and the valid choices, before any job starts.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from behave.data.spec import DatasetSpec

DATASET_SCHEMA = "dataset_schema"


def register() -> None:
    ConfigStore.instance().store(group="data", name=DATASET_SCHEMA, node=DatasetSpec)
