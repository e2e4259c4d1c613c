"""MovieLens 100K (GroupLens, Sep 1997 - Apr 1998): each user's time-ordered ratings form one sequence.

Files read from the data folder (`resolve_data_dir(data_dir, "movielens-100k")`), never shipped with behave
because the GroupLens licence forbids redistribution:

    u.data   user_id \\t item_id \\t rating \\t unix_ts          100,000 ratings of 943 users on 1,682 items
    u.user   user_id|age|gender|occupation|zip                  one row per user: the label table
    u.item   item_id|title|release|video release|url|19 flags   latin-1; flags in `GENRES` order

Events: user_id, timestamp (unix s), item_id, rating (1-5), title, primary_genre (first flagged genre in
u.genre order, "unknown" when none), release_year (NaN when unknown) and one 0/1 column per genre
(`GENRE_COLUMNS`), so the generic feature builder's numeric means are genre shares. With `folds: true` also
`fold` (1-5): which of MovieLens' own u1.test..u5.test files holds the rating (the five-fold protocol).
Labels: user_id, gender (M/F), age, age_group (`AGE_GROUPS`), occupation (21 values).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from behave.data.errors import DataError
from behave.data.event_log import RawTables
from behave.data.sources.files import DATA_DIR_ENV, read_table, resolve_data_dir
from behave.data.storage.cache import file_digest

DATASET_FOLDER = "movielens-100k"
PUBLISHED_AT = "https://grouplens.org/datasets/movielens/100k/"
FILES = ("u.data", "u.user", "u.item")
FOLD_FILES = tuple(f"u{k}.test" for k in range(1, 6))
# u.genre order, which is also the order of the 19 flag columns in u.item.
GENRES = (
    *("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama"),
    *("Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War"),
    "Western",
)
GENRE_COLUMNS = tuple("genre_" + g.lower().replace("'", "").replace("-", "_") for g in GENRES)
# Lower age edges of the groups; the last group is open-ended.
AGE_GROUPS = {"<25": 0, "25-34": 25, "35-44": 35, "45+": 45}

_NO_HEADER = {"sep": "|", "header": None}
_RATING_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]
_USER_COLUMNS = ["user_id", "age", "gender", "occupation", "zip"]
_ITEM_COLUMNS = ["item_id", "title", "release_date", "video_release_date", "imdb_url", *GENRE_COLUMNS]


class MovieLens100k:
    """Source for `data=movielens100k`. `data_dir`: the folder holding u.data, u.user and u.item."""

    def __init__(self, data_dir: str | None = None, folds: bool = False) -> None:
        self.data_dir = resolve_data_dir(data_dir, DATASET_FOLDER)
        self.folds = folds

    def paths(self) -> dict[str, Path]:
        names = FILES + (FOLD_FILES if self.folds else ())
        return {name: self.data_dir / name for name in names}

    def _check_present(self) -> dict[str, Path]:
        paths = self.paths()
        missing = [name for name, path in paths.items() if not path.is_file()]
        if missing:
            raise DataError(
                f"MovieLens 100K: file(s) {', '.join(missing)} not found in {self.data_dir} (expected "
                f"{', '.join(paths)}). Download ml-100k.zip from {PUBLISHED_AT} (licence: no "
                f"redistribution), unzip it and point `data.source.data_dir` or "
                f"${DATA_DIR_ENV}/{DATASET_FOLDER} at that folder."
            )
        return paths

    def fingerprint(self) -> dict:
        """Content hashes of the three files: the cache follows the data, not the folder name."""
        return {"name": "MovieLens100k", "files": [file_digest(p) for p in self._check_present().values()]}

    def load(self) -> RawTables:
        paths = self._check_present()
        rating_types = {"sep": "\t", "names": _RATING_COLUMNS, "dtype": "int64"}
        ratings = read_table(paths["u.data"], {**_NO_HEADER, **rating_types})
        user_types = {"user_id": "int64", "age": "int64", "zip": "string"}
        users = read_table(paths["u.user"], {**_NO_HEADER, "names": _USER_COLUMNS, "dtype": user_types})
        item_types = {"item_id": "int64", **{c: "float64" for c in GENRE_COLUMNS}}
        items = read_table(
            paths["u.item"],
            {**_NO_HEADER, "names": _ITEM_COLUMNS, "dtype": item_types, "encoding": "latin-1"},
        )
        events = _events(ratings, _item_attributes(items), str(paths["u.data"]))
        if self.folds:
            events["fold"] = _folds(ratings, paths)
        return RawTables(
            events=events,
            events_name=str(paths["u.data"]),
            labels=user_labels(users),
            labels_name=str(paths["u.user"]),
        )


def _item_attributes(items: pd.DataFrame) -> pd.DataFrame:
    """One row per item id: title, primary_genre, release_year and the 0/1 genre columns."""
    flags = items[list(GENRE_COLUMNS)].fillna(0.0).to_numpy()
    # The first flagged genre, skipping "unknown" (column 0) whenever a real genre is flagged.
    real = flags[:, 1:] > 0
    first_real = np.where(real.any(axis=1), real.argmax(axis=1) + 1, 0)
    released = pd.to_datetime(items["release_date"], format="%d-%b-%Y", errors="coerce")
    attributes = pd.DataFrame(
        {
            "title": items["title"].astype("string"),
            "primary_genre": np.asarray(GENRES)[first_real],
            "release_year": released.dt.year.astype("float64"),
        }
    )
    attributes[list(GENRE_COLUMNS)] = flags
    return attributes.set_index(items["item_id"].to_numpy())


def _events(ratings: pd.DataFrame, attributes: pd.DataFrame, name: str) -> pd.DataFrame:
    """Ratings joined with their item's attributes (one vectorised reindex, no merge copies)."""
    unknown = ~ratings["item_id"].isin(attributes.index)
    if unknown.any():
        shown = ratings.loc[unknown, "item_id"].unique()[:5].tolist()
        raise DataError(f"{name}: {int(unknown.sum())} rating(s) name items absent from u.item, e.g. {shown}")
    joined = attributes.reindex(ratings["item_id"].to_numpy()).reset_index(drop=True)
    return pd.concat([ratings[["user_id", "timestamp", "item_id", "rating"]], joined], axis=1)


def _folds(ratings: pd.DataFrame, paths: dict[str, Path]) -> np.ndarray:
    """(N,) the k of the u{k}.test file holding each rating; the five test files partition the ratings."""
    key = ["user_id", "item_id", "timestamp"]
    tests = []
    for k, name in enumerate(FOLD_FILES, start=1):
        table = read_table(
            paths[name], {**_NO_HEADER, "sep": "\t", "names": _RATING_COLUMNS, "dtype": "int64"}
        )
        tests.append(table[key].assign(fold=k))
    folds = pd.concat(tests, ignore_index=True).drop_duplicates(key)
    fold = ratings[key].merge(folds, on=key, how="left")["fold"]
    if fold.isna().any():
        raise DataError(
            f"{paths[FOLD_FILES[0]].parent}: {int(fold.isna().sum())} rating(s) of u.data are in none of "
            f"{', '.join(FOLD_FILES)}; those files must partition u.data (MovieLens' five-fold protocol)."
        )
    return fold.to_numpy(dtype=np.int64).astype(str)


def user_labels(users: pd.DataFrame) -> pd.DataFrame:
    """user_id, gender, age, age_group, occupation: one row per user."""
    lower_edges = list(AGE_GROUPS.values())
    group = np.searchsorted(lower_edges, users["age"].to_numpy(), side="right") - 1
    return pd.DataFrame(
        {
            "user_id": users["user_id"],
            "gender": users["gender"].astype("string"),
            "age": users["age"],
            "age_group": np.asarray(list(AGE_GROUPS))[np.clip(group, 0, None)],
            "occupation": users["occupation"].astype("string"),
        }
    )
