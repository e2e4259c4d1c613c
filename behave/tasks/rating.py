"""`task=rating`: predict the rating a user gives an item. One row per rating event, its numeric target the
event's `target` field; RMSE (and MAE), lower is better everywhere.

Splits of the ratings (`split`):
    random     seeded: `test_fraction` of the ratings test, `val_fraction` validation, the rest train
    kfold      seeded `folds`-fold cross-validation by rating: fold `fold` is the test part
    movielens  MovieLens' own u1..u5 files (the source's `fold` field, `data.source.folds: true`)
    time       the latest ratings test, the ones before them validation
    users      the data's own split by sequence: ratings of training users train, and so on. Only this one
               keeps every rating of a validation or test user out of training, which reusing the learned
               item embeddings in a classifier of those users requires.
Validation rows come from the non-test ratings except for `users` and `time`.

Users and items get indices from the training rows (0 = unseen there). A model then predicts for an unseen
user or item from what it knows (the global mean and the other side's bias); the result says how many test
ratings that affects. The tabular view: user and item aggregates of the training ratings (leaving the
row's own rating out on training rows, so no row sees its own target) and the item's attributes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from behave.data.errors import DataError
from behave.data.event_log import EventLog
from behave.data.features.kinds import FeatureKind
from behave.data.split import PARTS, Split, permutation_fold
from behave.data.storage.prepared import PreparedDataset
from behave.tasks import metric_registry, metrics
from behave.tasks.base import Evaluation, SequenceSplitTask
from behave.tasks.rows import TaskRows

SPLITS = ("random", "kfold", "movielens", "time", "users")
ENTITIES = ("user", "item")
STATISTICS = ("count", "mean", "std")
# The tabular view's summaries of each entity's training ratings; its other columns are attributes.
AGGREGATES = frozenset(f"{entity}.{statistic}" for entity in ENTITIES for statistic in STATISTICS)
TRAIN, VAL, TEST = (PARTS.index(name) for name in PARTS)


class RatingTask(SequenceSplitTask):
    """Its base split is the data's usual one (stratified on the sequence label when the log has one),
    shared with the classifiers; `task.split` then decides each rating's part (see the module docstring)."""

    name = "rating"
    kind = "regression"
    reads_label = False  # the target is an event field: a log without a sequence label is fine

    def __init__(
        self,
        target: str = "rating",
        item: str | None = "item_id",
        split: str = "random",
        test_fraction: float = 0.2,
        val_fraction: float = 0.1,
        folds: int = 5,
        fold: int = 1,
        seed: int = 0,
        item_label: str | None = None,
        item_group: str | None = None,
    ) -> None:
        if split not in SPLITS:
            raise DataError(f"task.split '{split}' is unknown; valid: {', '.join(SPLITS)}")
        if not 0 < test_fraction < 1 or not 0 < val_fraction < 1 or test_fraction + val_fraction >= 1:
            raise DataError("task.test_fraction and task.val_fraction must be in (0, 1) and sum below 1.")
        if not 1 <= fold <= folds:
            raise DataError(f"task.fold must lie in 1..task.folds ({folds}), got {fold}.")
        self.target, self.item, self.split = target, item, split
        self.test_fraction, self.val_fraction = float(test_fraction), float(val_fraction)
        self.folds, self.fold, self.seed = int(folds), int(fold), int(seed)
        self.item_label, self.item_group = item_label, item_group

    def fingerprint(self) -> dict:
        # The item's name and group fields are in: the cached task info carries the names for the item map.
        keys = ("target", "item", "split", "test_fraction", "val_fraction", "folds", "fold", "seed")
        keys += ("item_label", "item_group")
        return {"name": self.name, **{key: getattr(self, key) for key in keys}}

    @classmethod
    def scored_kind(cls, label_kind: str = "") -> str:
        return metric_registry.REGRESSION

    def score(self, targets: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
        return metrics.score_regression(targets, predictions)

    # --- rows -------------------------------------------------------------------------------------------
    def rows(self, log_: EventLog, split: Split) -> TaskRows:
        if not self.item:
            raise DataError(
                "task.item is not set: name the categorical field the ratings are about in data.item.id "
                "(e.g. data.item.id=item_id)"
            )
        if self.target not in log_.numeric:
            raise DataError(
                f"task.target: the data has no numeric event field '{self.target}' ({list(log_.numeric)})."
            )
        for key, name in (
            ("item", self.item),
            ("item_label", self.item_label),
            ("item_group", self.item_group),
        ):
            if name is not None and name not in log_.categorical:
                raise DataError(
                    f"task.{key}: no categorical event field '{name}' in the data ({list(log_.categorical)})."
                )
        events = np.flatnonzero(~np.isnan(log_.numeric[self.target]))
        sequence = log_.sequence_of_event()[events]
        cutoff = events - log_.offsets[sequence] + 1  # the row's own event is the last one it may see
        part = self._parts(log_, split, events, sequence)
        return TaskRows(
            sequence=sequence.astype(np.int64),
            cutoff=cutoff.astype(np.int64),
            label=np.asarray(log_.numeric[self.target], dtype=np.float64)[events],
            part=part.astype(np.int8),
            group=np.full(len(events), -1, dtype=np.int64),
        )

    def _parts(self, log_: EventLog, split: Split, events: np.ndarray, sequence: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        n = len(events)
        if self.split == "users":
            return split.part_index(log_.n_sequences)[sequence]
        if self.split == "time":
            order = np.argsort(log_.time[events], kind="stable")
            cuts = np.round(np.cumsum([1 - self.test_fraction - self.val_fraction, self.val_fraction]) * n)
            part = np.empty(n, np.int8)
            for index, members in enumerate(np.split(order, cuts.astype(int))):
                part[members] = index
            return part
        if self.split == "random":
            test = rng.random(n) < self.test_fraction
        elif self.split == "kfold":
            test = permutation_fold(n, self.folds, self.fold, rng)
        else:
            test = self._movielens_folds(log_, events)
        part = np.full(n, TRAIN, np.int8)
        part[test] = TEST
        rest = np.flatnonzero(~test)
        part[rest[rng.random(len(rest)) < self.val_fraction / (1 - self.test_fraction)]] = VAL
        return part

    def _movielens_folds(self, log_: EventLog, events: np.ndarray) -> np.ndarray:
        if "fold" not in log_.categorical:
            raise DataError(
                "task.split=movielens needs the source's `fold` field: set data.source.folds=true and list "
                "`fold` in data.schema.categorical (data=movielens100k_ratings_folds does both)."
            )
        return log_.categorical["fold"].astype(str)[events] == str(self.fold)

    # --- what models read -------------------------------------------------------------------------------
    def _event_index(self, base: PreparedDataset, rows: TaskRows) -> np.ndarray:
        return base.log.offsets[rows.sequence] + rows.cutoff - 1

    def _entities(self, base: PreparedDataset, rows: TaskRows) -> dict[str, np.ndarray]:
        """Raw entity codes per row: the user (sequence) and the item (the item field's category code)."""
        items = np.asarray(base.log.categorical[self.item].codes)[self._event_index(base, rows)]
        return {"user": rows.sequence, "item": items.astype(np.int64)}

    def row_ids(self, base: PreparedDataset, rows: TaskRows) -> dict[str, np.ndarray]:
        """1-based indices of the users and items that have training ratings; 0 for the others."""
        train = rows.part == TRAIN
        out = {}
        for name, codes in self._entities(base, rows).items():
            known = np.unique(codes[train])
            position = np.clip(np.searchsorted(known, codes), 0, max(len(known) - 1, 0))
            found = known[position] == codes if len(known) else np.zeros(len(codes), bool)
            out[name] = np.where(found, position + 1, 0).astype(np.int64)
        return out

    def info(self, base: PreparedDataset, rows: TaskRows) -> dict:
        """Sizes (index 0 included), the training mean and range, and the items' names for the item map."""
        ids, train = self.row_ids(base, rows), rows.part == TRAIN
        entities = self._entities(base, rows)
        targets = np.asarray(rows.label, dtype=np.float64)[train]
        categories = base.log.categorical[self.item].categories
        item_codes = np.unique(entities["item"][train])
        items = {"raw_id": [str(categories[c]) for c in item_codes]}
        events = self._event_index(base, rows)[train]
        first = pd.Series(events).groupby(entities["item"][train]).first().reindex(item_codes).to_numpy()
        for key, field in (("label", self.item_label), ("group", self.item_group)):
            if field:
                values = base.log.categorical[field]
                items[key] = [str(v) for v in np.asarray(values.categories.astype(str))[values.codes[first]]]
        items["train_count"] = np.bincount(ids["item"][train], minlength=len(item_codes) + 1)[1:].tolist()
        return {
            "n_users": int(ids["user"].max(initial=0)) + 1,
            "n_items": int(ids["item"].max(initial=0)) + 1,
            "global_mean": float(targets.mean()) if len(targets) else 0.0,
            "target_range": [float(targets.min()), float(targets.max())] if len(targets) else [0.0, 1.0],
            "train_users": [str(u) for u in base.log.sequence_ids[np.unique(rows.sequence[train])]],
            "items": items,
        }

    def features(self, base: PreparedDataset, rows: TaskRows) -> pd.DataFrame:
        """User and item aggregates of the training ratings (leave-one-out on training rows), the item's
        numeric attributes and the user's static attributes."""
        ids, targets = self.row_ids(base, rows), np.asarray(rows.label, dtype=np.float64)
        train = rows.part == TRAIN
        columns: dict[str, np.ndarray] = {}
        global_mean = targets[train].mean() if train.any() else 0.0
        for name, index in ids.items():
            size = int(index.max(initial=0)) + 1
            count = np.bincount(index[train], minlength=size).astype(np.float64)
            total = np.bincount(index[train], weights=targets[train], minlength=size)
            squares = np.bincount(index[train], weights=targets[train] ** 2, minlength=size)
            n, s, q = count[index], total[index], squares[index]
            n, s, q = n - train, s - targets * train, q - targets**2 * train  # leave the row's own rating out
            n = np.where(index == 0, 0.0, n)
            mean = np.where(n > 0, s / np.maximum(n, 1), global_mean)
            columns[f"{name}.count"] = n
            columns[f"{name}.mean"] = mean
            columns[f"{name}.std"] = np.sqrt(
                np.maximum(np.where(n > 0, q / np.maximum(n, 1) - mean**2, 0.0), 0.0)
            )
        events = self._event_index(base, rows)
        for field, values in base.log.numeric.items():
            if field != self.target:
                columns[f"item.{field}"] = np.nan_to_num(np.asarray(values)[events])
        static = base.static[rows.sequence]
        for j, name in enumerate(base.pipeline.static.columns):
            columns[f"static.{name}"] = static[:, j]
        return pd.DataFrame({k: np.asarray(v, dtype=np.float32) for k, v in columns.items()})

    def feature_kinds(self, base: PreparedDataset) -> dict[str, str]:
        """The kinds of `features`' columns, in its order."""
        kinds = {
            f"{entity}.{stat}": FeatureKind.RATING_AGGREGATES for entity in ENTITIES for stat in STATISTICS
        }
        kinds.update(
            (f"item.{field}", FeatureKind.ITEM_ATTRIBUTES)
            for field in base.log.numeric
            if field != self.target
        )
        kinds.update((f"static.{name}", FeatureKind.STATIC) for name in base.pipeline.static.columns)
        return {name: kind.value for name, kind in kinds.items()}

    def family_inputs(self, feature_names: list[str]) -> dict:
        """The dot models see two indices; the tabular family sees aggregates and the item's attributes."""
        return {
            "neural": ["user index", "item index"],
            "tabular": feature_names,
            "tabular_only": [name for name in feature_names if name not in AGGREGATES],
            "notes": [
                "The neural (dot-product) models see each rating's user and item as indices fitted on the "
                "training ratings; the tabular family sees them only through counts, means and spreads of "
                "their training ratings (leaving a training row's own rating out).",
            ],
        }

    def evaluate(self, rows: TaskRows, predictions: np.ndarray) -> Evaluation:
        return Evaluation(overall=self.score(rows.label, predictions))

    @property
    def rows_description(self) -> str:
        return f"one prediction per rating event, its target the event's `{self.target}` field"
