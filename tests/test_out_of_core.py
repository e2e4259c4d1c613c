"""Out-of-core preparation gives the cache the in-memory preparation gives, cell by cell.

A small Parquet log is prepared twice: whole in memory, and out of core under a memory cap small enough to
cut it into several partitions. Everything the models read is compared: the log, the split, the fitted
pipeline, the per-event inputs, the static inputs and the tabular features of `task=sequence`.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from behave.data.config import dataset_spec
from behave.data.errors import DataError
from behave.data.sources.files import FileSource
from behave.data.storage.card import format_card
from behave.data.storage.prepared import PreparedDataset, prepare
from behave.tasks.dataset import task_dataset
from behave.tasks.sequence import SequenceTask

# Small enough for several partitions of the logs below (each partition holds >= 10k events).
TINY_CAP_GB = 0.005


def shop_log(n_sequences: int = 900, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events in time order (sequences interleave across files), string ids, a missing-valued numeric
    token field, an integer categorical with empty cells, a static attribute, a group, a label table with
    a label whose sequence has no events and a sequence without a label."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 90, n_sequences)
    sequence = np.repeat(np.arange(n_sequences), lengths)
    n = len(sequence)
    ids = np.array([f"s{i:05d}" for i in range(n_sequences)])
    events = pd.DataFrame(
        {
            "session": ids[sequence],
            "ts": rng.integers(1_600_000_000, 1_600_900_000, n),
            "event": rng.choice(["view", "cart", "buy", "search", "rare"], n, p=[0.5, 0.2, 0.1, 0.19, 0.01]),
            "page": pd.array(rng.choice([1, 2, 3, 40, 7], n), dtype="Int64"),
            "scroll": np.where(rng.random(n) < 0.1, np.nan, rng.exponential(500, n)),
            "dwell": rng.gamma(2.0, 3.0, n),
            "country": np.array(["de", "fr", "it", "es"])[sequence % 4],
            # Values that only some sequence-id ranges see: each partition codes them with the whole log's.
            "campaign": np.array([f"c{k:02d}" for k in range(n_sequences // 60 + 1)])[sequence // 60],
            "user": (sequence // 3).astype(np.int64),
        }
    )
    events.loc[rng.random(n) < 0.05, "page"] = pd.NA
    events = events.sort_values("ts", kind="stable", ignore_index=True)
    labelled = ids[:-1]  # the last sequence has no label
    labels = pd.DataFrame(
        {"session": np.append(labelled, "ghost"), "y": rng.integers(0, 2, len(labelled) + 1)}
    )
    return events, labels


def write_log(folder, events: pd.DataFrame, labels: pd.DataFrame, n_files: int = 3) -> None:
    """Parquet files of consecutive rows; `event` stored as a dictionary listing values no row uses, as
    some writers leave them (neither path may make them categories)."""
    (folder / "events").mkdir(parents=True)
    for index, rows in enumerate(np.array_split(np.arange(len(events)), n_files)):
        table = pa.Table.from_pandas(events.iloc[rows], preserve_index=False)
        words = pa.array(["aaa-unused", *sorted(events["event"].unique()), "zzz-unused"])
        codes = pa.array(pd.Index(words.to_pylist()).get_indexer(events["event"].iloc[rows]), pa.int32())
        column = table.schema.get_field_index("event")
        table = table.set_column(column, "event", pa.DictionaryArray.from_arrays(codes, words))
        pq.write_table(table, folder / "events" / f"part-{index}.parquet")
    labels.to_parquet(folder / "labels.parquet", index=False)


def with_label_and_text_times(events: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The log with the label on the events and times as ISO text (read with `timestamp_format: auto`)."""
    events = events.merge(labels, on="session", how="inner")
    events["ts"] = pd.to_datetime(events["ts"], unit="s").dt.strftime("%Y-%m-%d %H:%M:%S")
    return events


def spec_for(tmp_path, label_on_events: bool = False, **split):
    config = {
        "name": "shop",
        "source": {"_target_": "behave.data.sources.files.FileSource", "events": "unused"},
        "schema": {
            "sequence_id": "session",
            "timestamp": "ts",
            "timestamp_format": "auto" if label_on_events else "unix_s",
            "categorical": ["event", "page", "campaign"],
            "numeric": ["scroll", "dwell"],
            "group": "user",
            "static_categorical": ["country"],
        },
        "label": {"column": "y", "table": "events" if label_on_events else "labels", "positive": 1},
        "tokens": {"fields": ["event", "scroll"], "buckets": {"scroll": {"method": "quantile", "n_bins": 4}}},
        "features": {"top_bigrams": 10},
        "split": {"method": "stratified", **split},
        "cache_dir": str(tmp_path / "cache"),
    }
    return dataset_spec(config)


def source(folder, **options) -> FileSource:
    return FileSource(
        str(folder / "events"),
        str(folder / "labels.parquet"),
        categorical=["event", "page", "campaign"],
        **options,
    )


def prepared_both_ways(tmp_path, spec) -> tuple[PreparedDataset, PreparedDataset]:
    events, labels = shop_log()
    if spec.label.table == "events":
        events = with_label_and_text_times(events, labels)
    write_log(tmp_path / "log", events, labels)
    in_memory = prepare(
        dataclasses.replace(spec, cache_dir=str(tmp_path / "memory")),
        source(tmp_path / "log", out_of_core=False),
    )
    sliced = prepare(
        dataclasses.replace(spec, cache_dir=str(tmp_path / "sliced")),
        source(tmp_path / "log", out_of_core=True, memory_cap_gb=TINY_CAP_GB),
    )
    return in_memory, sliced


def assert_same_arrays(a, b, what: str) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, what
    assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), what


@pytest.mark.parametrize(
    "label_on_events, split", [(False, {}), (False, {"method": "time"}), (True, {"method": "kfold"})]
)
def test_out_of_core_cache_equals_the_in_memory_one_cell_by_cell(tmp_path, label_on_events, split):
    memory, sliced = prepared_both_ways(tmp_path, spec_for(tmp_path, label_on_events, **split))
    assert sliced.card["out_of_core"]["partitions"] >= 3  # the comparison crosses partition boundaries
    assert "out of core: " in format_card(sliced.card) and "out of core" not in format_card(memory.card)
    assert "out_of_core" not in memory.card
    for name in ("sequence_ids", "offsets", "time", "labels", "groups"):
        assert_same_arrays(getattr(memory.log, name), getattr(sliced.log, name), name)
    assert "zzz-unused" not in memory.log.categorical["event"].categories
    for name, values in memory.log.categorical.items():
        assert list(values.categories) == list(sliced.log.categorical[name].categories), name
        assert_same_arrays(values.codes, sliced.log.categorical[name].codes, name)
    for name, values in memory.log.numeric.items():
        assert_same_arrays(values, sliced.log.numeric[name], name)
    pd.testing.assert_frame_equal(memory.log.static, sliced.log.static)
    for part in ("train", "val", "test"):
        assert_same_arrays(memory.split.part(part), sliced.split.part(part), part)
    for name in ("tokens", "numeric", "fields"):
        assert_same_arrays(getattr(memory.events, name), getattr(sliced.events, name), name)
    assert_same_arrays(memory.static, sliced.static, "static inputs")

    # The fitted pipeline: equal but for the scaler's sums, added partition by partition (last bits only).
    fitted, fitted_sliced = memory.pipeline.state_dict(), sliced.pipeline.state_dict()
    scaler, scaler_sliced = fitted.pop("scaler"), fitted_sliced.pop("scaler")
    assert json.dumps(fitted, sort_keys=True) == json.dumps(fitted_sliced, sort_keys=True)
    assert scaler["columns"] == scaler_sliced["columns"]
    for stat in ("mean", "std"):
        for column, value in scaler[stat].items():
            assert scaler_sliced[stat][column] == pytest.approx(value, rel=1e-12), (stat, column)

    card, card_sliced = dict(memory.card), dict(sliced.card)
    for key in ("prepare_seconds", "out_of_core"):
        card.pop(key, None), card_sliced.pop(key, None)
    assert card == card_sliced
    dropped = (
        {"sequences_without_label": 0, "labels_without_events": 0}
        if label_on_events
        else {
            "sequences_without_label": 1,
            "labels_without_events": 1,
        }
    )
    assert card["dropped"] == dropped

    task = SequenceTask()
    features, features_sliced = task_dataset(memory, task).features, task_dataset(sliced, task).features
    pd.testing.assert_frame_equal(features, features_sliced, check_exact=True)


def test_auto_prepares_in_memory_under_the_cap_and_in_slices_over_it(tmp_path):
    events, labels = shop_log(n_sequences=300)
    write_log(tmp_path / "log", events, labels)
    assert source(tmp_path / "log").larger_than_memory() is None  # auto, cap = half of this machine
    large = source(tmp_path / "log", memory_cap_gb=0.001).larger_than_memory()  # 13k events need ~4 MB
    assert large is not None and large.string_fields == ["event", "campaign"]  # `page` is stored as integers


def test_out_of_core_settings_fail_with_the_config_key(tmp_path):
    events, labels = shop_log(n_sequences=300)
    events.to_csv(tmp_path / "events.csv", index=False)
    with pytest.raises(DataError, match="data.source.out_of_core"):
        FileSource(str(tmp_path / "events.csv"), out_of_core="sometimes")
    with pytest.raises(DataError, match="data.source.memory_cap_gb"):
        FileSource(str(tmp_path / "events.csv"), memory_cap_gb=0)
    with pytest.raises(DataError, match="reads Parquet"):
        FileSource(str(tmp_path / "events.csv"), out_of_core=True).larger_than_memory()
    write_log(tmp_path / "log", events, labels)
    with pytest.raises(DataError, match="memory_cap_gb=1e-05 is too small"):
        prepare(spec_for(tmp_path), source(tmp_path / "log", out_of_core=True, memory_cap_gb=1e-5))
    with pytest.raises(DataError, match="time_strict"):
        prepare(spec_for(tmp_path, method="time_strict"), source(tmp_path / "log", out_of_core=True))
    assert not list((tmp_path / "cache").glob("*/card.json"))  # nothing half-written is kept


def test_a_partition_whose_text_times_read_differently_is_an_error(tmp_path):
    events, labels = shop_log(n_sequences=300)
    events = with_label_and_text_times(events, labels)
    late = events["session"] > "s00200"  # the second of two sequence-id ranges writes its times day first
    events.loc[late, "ts"] = pd.to_datetime(events.loc[late, "ts"]).dt.strftime("%d/%m/%Y %H:%M")
    write_log(tmp_path / "log", events, labels)
    with pytest.raises(DataError, match="would be parsed differently than in memory"):
        prepare(spec_for(tmp_path, True), source(tmp_path / "log", out_of_core=True, memory_cap_gb=0.0032))
