"""Composite event tokens and their vocabulary, fitted on the training split only.

| index | token      | meaning                                              |
|-------|------------|------------------------------------------------------|
| 0     | `<pad>`    | padding in batches; never produced by `transform`    |
| 1     | `<unk>`    | unseen field value, token below `min_freq`/`max_size` |
| 2..   | e.g. `page_view\\|page=product\\|portal=app` | by training frequency, most frequent first |

Tokens are built from integer codes, never from per-event strings: each token field gets a code
(0 = missing, 1 = unseen value, 2.. = training values or numeric bins), the codes combine into one int64
key per event, and only the distinct training keys are ever turned into strings. `transform` maps keys to
ids with a sorted lookup and never changes the fitted state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from behave.data.errors import DataError
from behave.data.event_log import EventLog
from behave.data.spec import BucketMethod, BucketSpec, TokenSpec
from behave.data.transforms.buckets import NumericBucketer

PAD, UNK = 0, 1
SPECIALS = ["<pad>", "<unk>"]
DENSE_LOOKUP_MAX = 1 << 22  # key spaces up to this size map keys to ids with a dense table (32 MB at most)


@dataclass
class Vocabulary:
    spec: TokenSpec
    categories_: dict[str, list[str]] = field(default_factory=dict)  # categorical token field -> train values
    bucketers_: dict[str, NumericBucketer] = field(default_factory=dict)  # numeric token field -> bins
    keys_: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # sorted known keys
    key_ids_: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # token id of each key
    tokens_: list[str] = field(default_factory=list)
    frequencies_: list[int] = field(default_factory=list)
    parts_: list[dict[str, str]] = field(default_factory=list)  # token id -> {field: value}

    def __len__(self) -> int:
        return len(self.tokens_)

    @property
    def size(self) -> int:
        """Number of ids including padding and unknown: the embedding table's row count."""
        return len(self.tokens_)

    def fit(self, train: EventLog) -> Vocabulary:
        self.fit_transform(train)
        return self

    def fit_transform(self, train: EventLog) -> np.ndarray:
        """Fit on `train` and return its (N,) token ids, building the per-event keys only once."""
        self.fit_fields(
            {name: values.categories for name, values in train.categorical.items()},
            {name: train.category_counts(name) for name in self.spec.fields if name in train.categorical},
            {name: train.numeric[name] for name in self.spec.fields if name in train.numeric},
        )
        train_keys = self.keys(train)
        self.fit_tokens(*self.count_keys(train_keys))
        return self._ids(train_keys)

    def fit_fields(
        self, categories: dict[str, pd.Index], counts: dict[str, tuple], numeric: dict[str, np.ndarray]
    ) -> None:
        """First step of a fit: the codes of each token field, from every categorical field's categories,
        the training `category_counts` of the categorical token fields and the training values of the
        numeric ones (all of them: bin edges are exact quantiles)."""
        for name in self.spec.fields:
            if name in categories:
                used = counts[name][1] > 0
                self.categories_[name] = [str(v) for v in categories[name][used]]
            elif name in numeric:
                bucket_spec = self.spec.buckets.get(name, BucketSpec())
                self.bucketers_[name] = NumericBucketer(bucket_spec, name).fit(numeric[name])
            else:
                raise DataError(
                    f"tokens.fields names '{name}', which is neither a categorical nor a numeric field of "
                    f"the schema (categorical: {list(categories)}, numeric: {list(numeric)})."
                )

    def fit_tokens(self, unique: np.ndarray, counts: np.ndarray) -> None:
        """Second step: the tokens, from the distinct training keys (ascending) and their counts."""
        parts = [self._decode(key) for key in unique]
        strings = [self._token_string(p) for p in parts]
        order = sorted(range(len(unique)), key=lambda i: (-counts[i], strings[i]))
        order = [i for i in order if counts[i] >= self.spec.min_freq]
        if self.spec.max_size is not None:
            order = order[: max(0, self.spec.max_size - len(SPECIALS))]
        unknown = int(counts.sum() - counts[order].sum())
        self.tokens_ = SPECIALS + [strings[i] for i in order]
        self.frequencies_ = [0, unknown] + [int(counts[i]) for i in order]
        self.parts_ = [{}, {}] + [parts[i] for i in order]
        ids = np.arange(len(SPECIALS), len(SPECIALS) + len(order), dtype=np.int64)
        known = unique[order] if order else np.zeros(0, np.int64)
        sort = np.argsort(known)
        self.keys_, self.key_ids_ = known[sort], ids[sort]

    def transform(self, log_: EventLog, dtype=np.int64) -> np.ndarray:
        """(N,) token ids (`dtype`) for every event of `log_`; never refits."""
        return self.ids(self.keys(log_), dtype)

    def ids(self, keys: np.ndarray, dtype=np.int64) -> np.ndarray:
        """(N,) token ids (`dtype`) of per-event keys (`keys`); never refits."""
        if not self.tokens_:
            raise RuntimeError("Vocabulary.transform called before fit")
        return self._ids(keys, dtype)

    def _ids(self, keys: np.ndarray, dtype=np.int64) -> np.ndarray:
        n_keys = self._key_space()
        if n_keys <= DENSE_LOOKUP_MAX:
            # Small key space (the usual case): one gather from a dense table beats a binary search per event.
            ids = np.full(n_keys, UNK, dtype=dtype)
            ids[self.keys_] = self.key_ids_
            return ids[keys]
        position = np.clip(np.searchsorted(self.keys_, keys), 0, max(len(self.keys_) - 1, 0))
        found = (self.keys_[position] == keys) if len(self.keys_) else np.zeros(len(keys), bool)
        return np.where(found, self.key_ids_[position] if len(self.keys_) else UNK, UNK).astype(dtype)

    # --- codes and keys -------------------------------------------------------------------------
    def _radix(self, name: str) -> int:
        if name in self.bucketers_:
            return self.bucketers_[name].n_bins + 2
        return len(self.categories_[name]) + 2

    def _field_codes(self, log_: EventLog, name: str, dtype=np.int64, scale: int = 1) -> np.ndarray:
        """(N,) code of each event in field `name`, times `scale` (its place in the key), as a new array."""
        if name in self.bucketers_:
            codes = self.bucketers_[name].codes(log_.numeric[name], dtype)
            return codes if scale == 1 else np.multiply(codes, scale, out=codes)
        original = log_.categorical[name]
        # Code of each of the log's categories (1 = unseen in training), then one gather per event;
        # the lookup's last slot serves missing values (category code -1) with code 0. Scaling the small
        # lookup instead of the gathered column saves a pass over every event.
        trained = pd.Index(self.categories_[name]).get_indexer(original.categories)
        lookup = np.append(np.where(trained >= 0, trained + 2, 1), 0).astype(dtype)
        return np.multiply(lookup, scale, out=lookup)[original.codes]

    def count_keys(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distinct keys ascending, their counts); over a small key space a bincount avoids sorting keys."""
        n_keys = self._key_space()
        if n_keys > DENSE_LOOKUP_MAX:
            unique, counts = np.unique(keys, return_counts=True)
            return unique.astype(np.int64), counts
        counts = np.bincount(keys, minlength=n_keys)
        unique = np.flatnonzero(counts)
        return unique.astype(np.int64), counts[unique]

    def _key_space(self) -> int:
        """Number of possible keys: the product of the fields' radices."""
        return int(np.prod([self._radix(name) for name in self.spec.fields], dtype=object))

    def keys(self, log_: EventLog) -> np.ndarray:
        """(N,) key of each event: its token fields' codes combined (fitted fields needed), in the narrowest
        of int16, int32 and int64 that holds every possible key: each field's codes and the keys are the
        largest arrays of a fit and of a transform, and their bytes are most of the time spent on them."""
        space = self._key_space()
        if space > 2**62:
            raise DataError(
                f"tokens.fields {self.spec.fields}: too many combinations; bucket or drop a field."
            )
        dtype = np.int16 if space < 2**15 else np.int32 if space < 2**31 else np.int64
        keys, multiplier = None, 1
        for name in self.spec.fields:
            codes = self._field_codes(log_, name, dtype, multiplier)  # a new array: the first one is kept
            keys = codes if keys is None else np.add(keys, codes, out=keys)
            multiplier *= self._radix(name)
        if keys is None:
            keys = np.zeros(log_.n_events, dtype=dtype)
        # Keys holding an unseen value (code 1) in any field are never known tokens.
        return keys

    def _decode(self, key: int) -> dict[str, str]:
        parts = {}
        for name in self.spec.fields:
            radix = self._radix(name)
            code, key = int(key % radix), key // radix
            if code >= 2:
                labels = self.bucketers_[name].labels() if name in self.bucketers_ else self.categories_[name]
                parts[name] = labels[code - 2]
        return parts

    def _token_string(self, parts: dict[str, str]) -> str:
        pieces = []
        for position, name in enumerate(self.spec.fields):
            if name in parts:
                alias = self.spec.aliases.get(name, name)
                pieces.append(parts[name] if position == 0 else f"{alias}={parts[name]}")
        return "|".join(pieces) if pieces else "<empty>"

    # --- persistence ----------------------------------------------------------------------------
    def to_json(self) -> dict:
        """Readable state: token strings with training frequencies and field parts, plus fitted fields."""
        return {
            "fields": list(self.spec.fields),
            "aliases": dict(self.spec.aliases),
            "min_freq": self.spec.min_freq,
            "max_size": self.spec.max_size,
            "categories": self.categories_,
            "buckets": {
                k: {"method": BucketMethod(b.spec.method).value, "n_bins": b.spec.n_bins, "edges": b.edges_}
                for k, b in self.bucketers_.items()
            },
            "tokens": [
                {"id": i, "token": t, "train_freq": f, "parts": p}
                for i, (t, f, p) in enumerate(zip(self.tokens_, self.frequencies_, self.parts_))
            ],
            "keys": {"keys": self.keys_.tolist(), "ids": self.key_ids_.tolist()},
        }

    @classmethod
    def from_json(cls, state: dict) -> Vocabulary:
        spec = TokenSpec(
            fields=state["fields"],
            aliases=state["aliases"],
            min_freq=state["min_freq"],
            max_size=state["max_size"],
        )
        vocab = cls(spec, categories_=state["categories"])
        for name, b in state["buckets"].items():
            vocab.bucketers_[name] = NumericBucketer(BucketSpec(b["method"], b["n_bins"]), name, b["edges"])
        vocab.tokens_ = [t["token"] for t in state["tokens"]]
        vocab.frequencies_ = [t["train_freq"] for t in state["tokens"]]
        vocab.parts_ = [t["parts"] for t in state["tokens"]]
        vocab.keys_ = np.asarray(state["keys"]["keys"], dtype=np.int64)
        vocab.key_ids_ = np.asarray(state["keys"]["ids"], dtype=np.int64)
        return vocab
