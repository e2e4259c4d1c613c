"""Compose the REAL configs in conf/ (like lightning-hydra-template's conftest), shrunk for tests."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

import behave.train  # noqa: F401  (registers the config resolvers)
from behave.paths import CONFIG_DIR

# A small simulator that still carries a learnable signal.
SMALL_DATA = ["data.source.n_users=1200", "data.source.seed=7"]


def compose_train(overrides: list[str], run_dir: Path, cache_dir: Path) -> DictConfig:
    """The train config with `overrides`, writing into `run_dir` and caching data under `cache_dir`."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=False)
    with open_dict(cfg):
        cfg.paths.run_dir = str(run_dir)
        cfg.paths.cache_dir = str(cache_dir)
        cfg.data.cache_dir = str(cache_dir)
    return cfg
