"""Typed description of a dataset and of the pipeline that prepares it (the `conf/data/*.yaml` schema).

A `DatasetSpec` says where events and labels come from (`source`, built by Hydra `_target_`), which columns
mean what (`EventSchema`, `LabelSpec`), how to split, how to form tokens, sequences and tabular features.
Everything except `source` is plain data, so it is hashed into the cache fingerprint as is.

String options are `str` enums: a typo fails when the config is composed, with the valid choices listed
(`Invalid value 'tme', expected one of [stratified, time, time_strict, kfold, rolling]`), and a member
still compares equal to its string. Built directly in Python, the dataclasses turn strings into members the
same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from behave.data.errors import DataError


class LabelKind(str, Enum):
    binary = "binary"
    multiclass = "multiclass"


class MissingLabel(str, Enum):
    """What a row whose label cell is empty means."""

    error = "error"  # stop, naming the rows: an empty label is usually an export mistake
    drop = "drop"  # intended: the sequences such rows belong to are dropped whole, as unlabelled sequences


class LabelTable(str, Enum):
    labels = "labels"  # the source's label table, keyed by the sequence id column
    events = "events"  # a column of the events table, constant within a sequence


class SplitMethod(str, Enum):
    stratified = "stratified"  # seeded, stratified by label, grouped by schema.group when set
    time = "time"  # sequences ordered by start time: the earliest train, the latest test
    # As `time`, and events of train/val sequences after the test period starts are dropped, so no
    # training event comes from the future of a test prefix.
    time_strict = "time_strict"
    # Stratified (and grouped) k-fold: fold `fold` of `folds` is the test part, val is drawn from the rest
    # (val / (train + val) of it). `protocol=kfold` sweeps the folds, one per run seed.
    kfold = "kfold"
    # Rolling origin: `origins` test periods of `test` share each, the latest periods of the log in time
    # order; origin `origin` tests its period and trains (val the latest of them) on every sequence that
    # starts before it, cut as `time_strict` cuts. Sequences after the period are left out.
    # `protocol=rolling` sweeps the origins, one per run seed.
    rolling = "rolling"

    @property
    def in_time_order(self) -> bool:
        """Whether the parts follow each other in time (train before test), so anything that validates
        inside the training data (inner folds) must validate on later sequences, never on the past."""
        return self in (SplitMethod.time, SplitMethod.time_strict, SplitMethod.rolling)

    @property
    def cuts_at_test_start(self) -> bool:
        """Whether train/val events after the test period starts are dropped (`split.strict_time_cut`)."""
        return self in (SplitMethod.time_strict, SplitMethod.rolling)


class BucketMethod(str, Enum):
    quantile = "quantile"
    log = "log"


class ColumnsMissingInFiles(str, Enum):
    """What a Parquet folder's file that lacks a column the other files have means."""

    error = "error"  # a drifted export: stop, naming the file and the column
    empty = "empty"  # accepted: that file's cells of the column are empty (a warning gives the share)


class Keep(str, Enum):
    last = "last"  # the most recent max_len events
    first = "first"  # the earliest max_len events


class NumericTransform(str, Enum):
    none = "none"
    log1p = "log1p"


@dataclass
class EventSchema:
    """Which raw columns mean what. Columns not named here are ignored."""

    sequence_id: str = MISSING
    timestamp: str = MISSING
    # "auto": datetime strings or numbers (numbers are unix seconds); "unix_s", "unix_ms", or a strftime
    # format.
    timestamp_format: str = "auto"
    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    # Sequences that share a group value (e.g. sessions of one user) always land in the same split part.
    group: str | None = None
    # Per-sequence attributes (constant within a sequence): tabular features and inputs to the neural head.
    static_categorical: list[str] = field(default_factory=list)
    static_numeric: list[str] = field(default_factory=list)
    # A Parquet folder whose files do not all hold the same columns (see ColumnsMissingInFiles).
    columns_missing_in_files: ColumnsMissingInFiles = ColumnsMissingInFiles.error

    def __post_init__(self) -> None:
        self.columns_missing_in_files = ColumnsMissingInFiles(self.columns_missing_in_files)


@dataclass
class LabelSpec:
    """Where the sequence label lives and how to read it (what the classification tasks predict).

    `table: labels` reads it from the source's label table (keyed by the sequence id column);
    `table: events` reads it from the events table, where it must be constant within a sequence.
    `column: null` states a log without a sequence label (a knowledge-tracing or rating log): valid for every
    task that does not read one (`Task.reads_label`); the other settings are then unused.
    """

    column: str | None = MISSING
    table: LabelTable = LabelTable.labels
    kind: LabelKind = LabelKind.binary
    # Binary: the raw value that counts as positive (compared as a string, so 1, "1", "yes" all work).
    positive: Any = None
    # Optional closed set of allowed raw values; anything else is an error. Multiclass order follows it.
    classes: list[Any] | None = None
    # Rows with an empty label cell: an error naming them, or their sequences dropped (see MissingLabel).
    missing: MissingLabel = MissingLabel.error

    def __post_init__(self) -> None:
        self.table, self.kind = LabelTable(self.table), LabelKind(self.kind)
        self.missing = MissingLabel(self.missing)

    @property
    def given(self) -> bool:
        """Whether the log has a sequence label (`column` is not null)."""
        return self.column is not None


@dataclass
class SplitSpec:
    """Split once, by sequence (see `SplitMethod`)."""

    method: SplitMethod = SplitMethod.stratified
    train: float = 0.7
    val: float = 0.15
    test: float = 0.15
    seed: int = 0
    folds: int = 5
    fold: int = 1
    origins: int = 4  # rolling: how many test periods
    origin: int = 1  # rolling: which of them (1-based, earliest first) is the test part

    def __post_init__(self) -> None:
        self.method = SplitMethod(self.method)


@dataclass
class BucketSpec:
    """Bins for a numeric field used in tokens; edges are fitted on the training split."""

    method: BucketMethod = BucketMethod.quantile
    n_bins: int = 5

    def __post_init__(self) -> None:
        self.method = BucketMethod(self.method)


@dataclass
class TokenSpec:
    """Composite event tokens such as `page_view|page=product|portal=app` or `scroll|px=800-1600`.

    The first field's value is written bare, the others as `alias=value`; a field that is missing on an
    event is left out of its token. Numeric fields listed in `fields` are bucketed with `buckets[field]`.
    """

    fields: list[str] = MISSING
    aliases: dict[str, str] = field(default_factory=dict)
    # {field: BucketSpec}. Typed by `__post_init__`, not by the annotation: OmegaConf cannot add a new key
    # to a dict of dataclasses from a plain dict, which is what the command line's
    # `data.tokens.buckets.price={method:log,n_bins:3}` gives it.
    buckets: dict[str, Any] = field(default_factory=dict)
    min_freq: int = 1
    max_size: int | None = None

    def __post_init__(self) -> None:
        self.buckets = {name: bucket_spec(name, value) for name, value in self.buckets.items()}


def bucket_spec(name: str, value: Any) -> BucketSpec:
    """`value` (a BucketSpec or its keys as a mapping) checked against the BucketSpec schema; a DataError
    naming `data.tokens.buckets.<name>` when it does not fit."""
    if isinstance(value, BucketSpec):
        return value
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(BucketSpec), value))
    except (OmegaConfBaseException, ValueError) as error:
        reason = str(error).splitlines()[0]
        raise DataError(
            f"data.tokens.buckets.{name}={value!r} is not a bucket setting ({reason}); write e.g. "
            f"'data.tokens.buckets.{name}={{method:log,n_bins:3}}' (method: "
            f"{' | '.join(m.value for m in BucketMethod)}; n_bins: a whole number)."
        ) from None


@dataclass
class SequenceSpec:
    """Index sequences for the neural models."""

    max_len: int = 256
    keep: Keep = Keep.last
    # Per-field transform applied before standard scaling (log1p for skewed counts and durations).
    numeric_transform: dict[str, NumericTransform] = field(default_factory=dict)
    # Categorical event fields embedded beside the token (behave/data/transforms/event_fields.py). null: every
    # categorical field that is not a token field, so both families see the same fields; [] for none.
    embed_fields: list[str] | None = None
    max_field_values: int = 100  # most frequent training values per embedded field; the rest share OTHER

    def __post_init__(self) -> None:
        self.keep = Keep(self.keep)
        self.numeric_transform = {k: NumericTransform(v) for k, v in self.numeric_transform.items()}


@dataclass
class StaticSpec:
    """Per-sequence attributes, encoded once for both families (one-hot categories, numbers with a flag)."""

    max_values: int = 50  # most frequent training values per categorical attribute; the rest share OTHER


@dataclass
class FeatureSpec:
    """Hand-engineered tabular features for the tree models."""

    max_token_features: int = 100  # most frequent training tokens that get count/share columns
    max_values_per_field: int = 20  # most frequent values per categorical field
    last_k: int = 5  # counts within the last k events
    last_window_s: float = 86400.0  # counts within this many seconds before the sequence's last event
    top_bigrams: int = 30  # most frequent consecutive token pairs in training sequences


@dataclass
class ItemSpec:
    """What the events are about (a movie, a product, a course): the categorical field holding its id, and
    optional fields that name it and group it (a title, a genre). The rating task predicts per item and
    draws its item map with these; they describe the data and do not change it."""

    id: str | None = None
    label: str | None = None
    group: str | None = None


@dataclass
class DatasetSpec:
    """One dataset and its preparation. `source` is a Hydra `_target_` node, the rest is plain data."""

    name: str = MISSING
    source: Any = MISSING
    schema: EventSchema = field(default_factory=EventSchema)
    label: LabelSpec = field(default_factory=LabelSpec)
    split: SplitSpec = field(default_factory=SplitSpec)
    tokens: TokenSpec = field(default_factory=TokenSpec)
    sequences: SequenceSpec = field(default_factory=SequenceSpec)
    static: StaticSpec = field(default_factory=StaticSpec)
    features: FeatureSpec = field(default_factory=FeatureSpec)
    item: ItemSpec = field(default_factory=ItemSpec)
    # Keep a seeded random sample of this many sequences (after validation, before the split): smoke runs
    # and quick looks at large logs with any source. null keeps every sequence.
    sample_sequences: int | None = None
    cache_dir: str = "data/cache"
