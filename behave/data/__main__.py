"""`behave-data`: prepare a dataset (or reuse its cache) and print its data card.

behave-data                       # the embedded simulator
behave-data data=movielens100k    # any data config, with the same overrides as behave-train
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from behave.data.card import format_card
from behave.data.config import prepare_from_config
from behave.data.errors import DataError
from behave.paths import CONFIG_DIR

log = logging.getLogger("behave.data")


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="data_card")
def main(cfg: DictConfig) -> None:
    try:
        prepared = prepare_from_config(cfg.data)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(format_card(prepared.card))
    print(f"cache        {prepared.directory}  (card: {prepared.directory / 'card.json'})")


if __name__ == "__main__":
    main()
