"""A newcomer's corpus of bad inputs: each is an error (or a warning on the data card) that names the file,
the column or config key, and what to do; nothing half-written is left behind."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import behave.data.storage.prepared as prepared_module
from behave.data.config import dataset_spec, prepare_from_config
from behave.data.errors import DataError
from behave.data.storage.cache import HOST
from tests.test_validate import good_tables, raises

T0 = 1_700_000_000


def test_a_wrong_separator_names_the_separator_and_the_key(data_config, tmp_path):
    events, labels = good_tables()
    config = data_config(events, labels)
    events.to_csv(config["source"]["events"], sep=";", index=False)  # the file, separated by ';'
    with pytest.raises(DataError) as error:
        prepare_from_config(config)
    message = str(error.value)
    assert "read as ONE column" in message and "';'" in message and "read_options.sep" in message


def test_a_data_yaml_without_the_template_says_what_to_add():
    config = {
        "name": "mine", "source": {"events": "log.csv"},
        "schema": {"sequence_id": "s", "timestamp": "t", "categorical": ["e"]},
        "label": {"column": "y"}, "tokens": {"fields": ["e"]},
    }  # fmt: skip
    with pytest.raises(DataError, match=r"data\.source names no reader.*defaults: \[csv\]"):
        dataset_spec(config)
    del config["schema"]["timestamp"]
    with pytest.raises(DataError, match=r"data\.schema\.timestamp must be set"):
        dataset_spec(config)


def test_infinite_numbers_are_an_error_naming_column_and_rows(load_log):
    events, labels = good_tables()
    events["scroll"] = events["scroll"].astype(float)
    events.loc[3, "scroll"] = np.inf
    message = raises(load_log, events, labels)
    assert "'scroll' (numeric field) has infinite values in 1 row(s): 3 (inf)" in message


def test_milliseconds_under_auto_are_an_error_that_names_unix_ms(load_log):
    events, labels = good_tables()
    events["ts"] = (pd.to_datetime(events["ts"]) - pd.Timestamp("1970-01-01")) // pd.Timedelta(milliseconds=1)
    message = raises(load_log, events, labels)
    assert "'ts' (timestamp) holds numbers too large for unix seconds" in message
    assert "unix_ms" in message and "timestamp_format" in message
    log_, _ = load_log(events, labels, schema={"timestamp_format": "unix_ms"})
    assert 1.7e9 < log_.time.min() < 1.8e9


def test_placeholder_and_future_times_are_warnings_on_the_card(data_config):
    events, labels = good_tables()
    events.loc[0, "ts"] = "1970-01-01 00:00:00"
    events.loc[5, "ts"] = "2999-01-01 00:00:00"
    card = prepare_from_config(data_config(events, labels)).card
    warnings = " ".join(card["warnings"])
    assert "'ts' (timestamp) is exactly 1970-01-01 00:00:00 in 1 row(s): 0" in warnings
    assert "more than a year in the future in 1 row(s): 5" in warnings


@pytest.mark.parametrize(
    ("sections", "key"),
    [
        (
            {"tokens": {"fields": ["event"], "buckets": {"page": {"method": "log"}}}},
            "data.tokens.buckets.page",
        ),
        ({"sequences": {"max_len": 0}}, "data.sequences.max_len must be at least 1"),
        ({"sequences": {"max_len": -5}}, "data.sequences.max_len must be at least 1"),
        ({"tokens": {"fields": ["event", "nope"]}}, "data.tokens.fields names 'nope'"),
        ({"sequences": {"embed_fields": ["scroll"]}}, "data.sequences.embed_fields names 'scroll'"),
    ],
)
def test_settings_that_could_only_fail_later_fail_at_once_naming_the_key(data_config, sections, key):
    with pytest.raises(DataError, match=key.replace(".", r"\.").replace("[", r"\[")):
        dataset_spec(data_config(*good_tables(), **sections))


def test_log_bins_of_negative_values_name_the_field(load_log, data_config):
    events, labels = good_tables()
    events["scroll"] = [-3, 200, 300, 400, 500, 600]
    config = data_config(
        events, labels, tokens={"fields": ["event", "scroll"], "buckets": {"scroll": {"method": "log"}}}
    )
    with pytest.raises(
        DataError, match=r"tokens\.buckets\.scroll: log bins need non-negative values.*'scroll'"
    ):
        prepare_from_config(config)


def test_a_parquet_list_column_names_the_column(data_config, tmp_path):
    events, labels = good_tables()
    events["page"] = [["home"], ["product", "x"], ["home"], ["cart"], ["search"], ["product"]]
    config = data_config(events, labels)
    path = tmp_path / "events.parquet"
    events.to_parquet(path)
    config["source"]["events"] = str(path)
    with pytest.raises(DataError, match=r"'page' \(categorical field\) holds lists"):
        prepare_from_config(config)


def test_parquet_events_take_the_templates_csv_read_options(data_config, tmp_path):
    events, labels = good_tables()
    config = data_config(events, labels)
    events.to_parquet(tmp_path / "events.parquet")
    config["source"].update(
        events=str(tmp_path / "events.parquet"), read_options={"sep": ";", "encoding": "utf-8"}
    )
    config["source"]["labels_read_options"] = {}  # the labels stay a comma-separated CSV
    assert prepare_from_config(config).log.n_sequences == 3


def test_a_binary_label_with_a_third_value_lists_every_value(load_log):
    events, labels = good_tables()
    labels["y"] = ["yes", "no", "maybe"]
    message = raises(load_log, events, labels, label={"positive": "yes"})
    assert "is binary but has 3 values ['maybe', 'no', 'yes']" in message and "2 others" in message


def test_ids_of_different_types_are_named_as_such(load_log):
    events, labels = good_tables()
    events["seq"] = events["seq"].map({"a": 1, "b": 2, "c": 3})
    labels["seq"] = ["1", "2", "3x"]
    message = raises(load_log, events, labels)
    assert "no sequence has a label" in message and "different types" in message and "numbers" in message


def test_too_few_groups_names_the_group_column(data_config, make_tables):
    events, labels = make_tables(20, seed=1)
    events["user"] = "everyone"  # one group: nothing to split
    with pytest.raises(
        DataError, match=r"20 sequences in 1 groups of 'user'.*each part needs at least one group"
    ):
        prepare_from_config(data_config(events, labels, schema={"group": "user"}))


def test_every_static_attribute_that_changes_is_listed(load_log):
    events, labels = good_tables()
    events["country"] = ["fr", "de", "nl", "nl", "be", "be"]  # changes within a
    events["tier"] = ["gold", "gold", "free", "gold", "free", "free"]  # changes within b
    message = raises(load_log, events, labels, schema={"static_categorical": ["country", "tier"]})
    assert "2 columns (static attributes) must be constant" in message and "'country'" in message
    assert "'tier'" in message


def test_a_full_disk_names_the_cache_folder_and_leaves_nothing(data_config, monkeypatch):
    config = data_config(*good_tables())

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(prepared_module.np, "save", full)
    with pytest.raises(
        DataError, match="cannot write the prepared data under .*No space left.*paths.cache_dir"
    ):
        prepare_from_config(config)
    assert list(os.scandir(config["cache_dir"])) == []


def test_a_killed_preparation_leaves_no_temporary_for_ever(data_config, tmp_path):
    config = data_config(*good_tables())
    cache = tmp_path / "cache"
    cache.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = cache / f".tmp-abc-{HOST}-{dead.stdout.strip()}-x1"
    live = cache / f".tmp-abc-{HOST}-{os.getpid()}-x2"
    other_host = cache / f".tmp-abc-elsewhere-{dead.stdout.strip()}-x3"
    for folder in (stale, live, other_host):
        folder.mkdir()
    prepare_from_config(config)
    assert not stale.exists() and live.exists() and other_host.exists()
