"""A planted rating log: ratings r = 3.5 + b_user + b_item + p_user . q_item + noise for a random share of
(user, item) pairs, written as a user's CSV project. A model of the same form can get down to the noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

NOISE = 0.25
PLANTED_YAML = """\
defaults:
  - csv
name: planted
source:
  events: planted/ratings.csv
  labels: planted/users.csv
schema:
  sequence_id: user
  timestamp: ts
  timestamp_format: unix_s
  categorical: [genre, item_id, title]
  numeric: [rating]
label:
  column: y
  table: labels
  positive: 1
tokens:
  fields: [genre]
sequences:
  embed_fields: []
item:
  id: item_id
  label: title
  group: genre
"""


def planted_ratings(
    n_users: int = 300, n_items: int = 120, rank: int = 3, density: float = 0.3, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ratings, users): one row per rating (user, ts, item_id, genre, title, rating), one per user (y)."""
    rng = np.random.default_rng(seed)
    user_factors = rng.normal(0, 0.6, (n_users, rank))
    item_factors = rng.normal(0, 0.6, (n_items, rank))
    user_bias, item_bias = rng.normal(0, 0.4, n_users), rng.normal(0, 0.4, n_items)
    users, items = np.nonzero(rng.random((n_users, n_items)) < density)
    signal = user_bias[users] + item_bias[items] + (user_factors[users] * item_factors[items]).sum(axis=1)
    ratings = pd.DataFrame(
        {
            "user": [f"u{u}" for u in users],
            "ts": 1_600_000_000 + rng.integers(0, 10_000_000, len(users)),
            "item_id": [f"m{i}" for i in items],
            "genre": [f"g{i % 4}" for i in items],
            "title": [f"Movie {i}" for i in items],
            "rating": 3.5 + signal + rng.normal(0, NOISE, len(users)),
        }
    )
    labels = pd.DataFrame({"user": [f"u{u}" for u in range(n_users)], "y": (user_bias > 0).astype(int)})
    return ratings, labels


# The same log for a classifier of users whose tokens are the items (for reusing item embeddings).
PLANTED_ITEMS_YAML = """\
defaults:
  - planted
  - _self_
name: planted_items
tokens:
  fields: [item_id]
"""


def write_rating_project(root: Path, ratings: pd.DataFrame | None = None, **sizes) -> list[str]:
    """conf/data/planted.yaml (and planted_items.yaml) and data/raw/planted/*.csv under `root`; returns the
    overrides that use them. `ratings` replaces the generated ratings (the users stay the generated ones)."""
    (root / "conf" / "data").mkdir(parents=True, exist_ok=True)
    (root / "conf" / "data" / "planted.yaml").write_text(PLANTED_YAML)
    (root / "conf" / "data" / "planted_items.yaml").write_text(PLANTED_ITEMS_YAML)
    folder = root / "data" / "raw" / "planted"
    folder.mkdir(parents=True, exist_ok=True)
    generated, labels = planted_ratings(**sizes)
    (generated if ratings is None else ratings).to_csv(folder / "ratings.csv", index=False)
    labels.to_csv(folder / "users.csv", index=False)
    return ["data=planted", f"hydra.searchpath=[file://{root / 'conf'}]", f"paths.data_dir={root / 'data'}"]
