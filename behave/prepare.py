"""`behave-data` (or `python -m behave.prepare`): prepare a dataset, or reuse its cache, and print its
data card and the task's rows.

behave-data                                  # the embedded simulator
behave-data data=movielens100k task=prefix   # any data config and task, as behave-train takes them
"""

from __future__ import annotations

import logging
import sys

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from behave import config_schemas
from behave.data.errors import DataError
from behave.data.storage.card import format_card
from behave.paths import CONFIG_DIR
from behave.tasks.dataset import format_task_card, prepare_task

log = logging.getLogger("behave.data")
config_schemas.register()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="data_card")
def main(cfg: DictConfig) -> None:
    try:
        config_schemas.check_top_level(cfg)
        feature_set = instantiate(cfg.features) if cfg.get("features") else None
        data = prepare_task(cfg.data, instantiate(cfg.task), feature_set)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(format_card(data.base.card))
    print(format_task_card(data.task.name, data.card))
    print(f"cache        {data.base.directory}  (card: {data.base.directory / 'card.json'})")


if __name__ == "__main__":
    main()
