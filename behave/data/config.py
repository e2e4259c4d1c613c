"""From the Hydra `data` config node to a typed `DatasetSpec` and its source object."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from behave.data.errors import DataError
from behave.data.prepared import PreparedDataset, prepare
from behave.data.spec import DatasetSpec

# Keys that changed name, so an older config gets told what to write instead.
RENAMED_KEYS = {
    "label.task": "\nlabel.task is now label.kind (binary | multiclass); `task` names what is predicted."
}


def dataset_spec(data_cfg: DictConfig | dict) -> DatasetSpec:
    """Check the data config against the `DatasetSpec` schema (unknown keys and wrong types are errors)."""
    if OmegaConf.is_config(data_cfg):
        missing = [f"data.{key}" for key in _missing_keys(data_cfg)]
        if missing:
            raise DataError(
                f"data config: {', '.join(missing)} must be set (e.g. data.{missing[0][5:]}=...)."
            )
        # Resolve against the whole config first (the node refers to ${paths...}), then check the schema.
        data_cfg = OmegaConf.to_container(data_cfg, resolve=True)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(DatasetSpec), data_cfg)
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as error:
        hint = RENAMED_KEYS.get(getattr(error, "full_key", None) or "", "")
        raise DataError(
            f"data config does not match the dataset schema (behave/data/spec.py): {error}{hint}"
        ) from None


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


def build_source(spec: DatasetSpec) -> Any:
    return instantiate(spec.source)


def prepare_from_config(data_cfg: DictConfig | dict) -> PreparedDataset:
    """Validate the config, build the source and return the (cached) prepared dataset."""
    spec = dataset_spec(data_cfg)
    return prepare(spec, build_source(spec))
