"""Bad data inputs a new user produces by accident, each said in words that name the file, the column or the
config key (and the documented command-line form for bins that must work). Each test names its item."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import namedtuple

import numpy as np
import pandas as pd
import pytest

import behave.data.storage.cache as cache_module
import behave.data.storage.prepared as prepared_module
from behave.data.config import dataset_spec, prepare_from_config
from behave.data.errors import DataError
from behave.data.sources.files import FileSource
from behave.data.spec import BucketMethod, BucketSpec
from behave.data.storage.prepared import prepare
from behave.report.records import load_records
from behave.train import run
from tests.compose import compose_train
from tests.test_csv_source import SHOP_YAML, write_log


@pytest.fixture
def shop(tmp_path):
    """The README's shop log (60 sessions) as data/raw/shop/log.csv, and its data YAML under conf/data."""
    (tmp_path / "conf" / "data").mkdir(parents=True)
    (tmp_path / "conf" / "data" / "shop.yaml").write_text(SHOP_YAML)
    (tmp_path / "raw" / "shop").mkdir(parents=True)
    return write_log(tmp_path / "raw" / "shop" / "log.csv", n_sessions=60)


def compose_shop(tmp_path, *overrides: str):
    searchpath = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    base = ["data=shop", searchpath, f"paths.data_dir={tmp_path}"]
    return compose_train([*base, *overrides], tmp_path / "run", tmp_path / "cache")


def parquet_folder(tmp_path, log: pd.DataFrame, drop_price_from: int | None = None):
    """The log cut into three Parquet files; `drop_price_from`: the file that lacks the 'price' column."""
    folder = tmp_path / "raw" / "parts"
    folder.mkdir(parents=True)
    for k, rows in enumerate(np.array_split(np.arange(len(log)), 3)):
        part = log.iloc[rows]
        if k == drop_price_from:
            part = part.drop(columns=["price"])
        part.to_parquet(folder / f"part-{k}.parquet", index=False)
    return folder


def test_item1_a_parquet_file_lacking_a_column_is_an_error_naming_file_and_column(tmp_path, shop):
    folder = parquet_folder(tmp_path, shop, drop_price_from=0)
    cfg = compose_shop(tmp_path, f"data.source.events={folder}")
    with pytest.raises(DataError) as error:
        prepare_from_config(cfg.data)
    message = str(error.value)
    assert f"{folder / 'part-0.parquet'}: column 'price' is missing from this file" in message
    assert "2 other file(s)" in message and "data.schema.columns_missing_in_files=empty" in message


@pytest.mark.parametrize("out_of_core", [False, True])
def test_item1_the_switch_reads_the_missing_cells_as_empty_and_says_how_many(
    tmp_path, shop, caplog, out_of_core
):
    folder = parquet_folder(tmp_path, shop, drop_price_from=0)
    cfg = compose_shop(
        tmp_path,
        f"data.source.events={folder}",
        "data.schema.columns_missing_in_files=empty",
        f"data.source.out_of_core={str(out_of_core).lower()}",
    )
    with caplog.at_level(logging.WARNING):
        data = prepare_from_config(cfg.data)
    lacking = len(np.array_split(np.arange(len(shop)), 3)[0])
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert "column 'price' is missing from 1 file(s) (part-0.parquet)" in warned
    assert f"{lacking / len(shop):.1%} of the events ({lacking:,} of {len(shop):,})" in warned
    # The first file lacks the column, yet the other files' prices are read (not the first file's columns).
    price = data.log.numeric["price"]
    assert np.isfinite(price).sum() == shop.iloc[lacking:]["price"].notna().sum() > 0


def test_item2_a_truncated_parquet_file_is_named(tmp_path, shop):
    folder = parquet_folder(tmp_path, shop)
    whole = (folder / "part-2.parquet").read_bytes()
    (folder / "part-2.parquet").write_bytes(whole[: len(whole) // 2])
    for out_of_core in ("auto", "true", "false"):
        cfg = compose_shop(tmp_path, f"data.source.events={folder}", f"data.source.out_of_core={out_of_core}")
        with pytest.raises(
            DataError, match=r"part-2\.parquet: not a readable Parquet file \(truncated copy\?\)"
        ):
            prepare_from_config(cfg.data)


def test_item3_empty_label_cells_are_counted_with_their_rows_and_can_be_dropped(tmp_path, shop, caplog):
    log = pd.read_csv(tmp_path / "raw" / "shop" / "log.csv", sep=";", dtype=str)
    log.loc[[3, 10, 11], "outcome"] = None
    log.to_csv(tmp_path / "raw" / "shop" / "log.csv", sep=";", index=False)
    with pytest.raises(DataError) as error:
        prepare_from_config(compose_shop(tmp_path).data)
    message = str(error.value)
    # Data rows count from 1 below the header; in the CSV they are lines 5, 12 and 13 (the header is line 1).
    assert "3 row(s) have no label (column 'outcome' is empty): rows 4, 11, 12" in message
    assert "lines 5, 12, 13 of the file" in message and "data.label.missing=drop" in message
    lines = (tmp_path / "raw" / "shop" / "log.csv").read_text().splitlines()
    assert all(lines[number - 1].endswith(";") for number in (5, 12, 13))
    data = prepare_from_config(compose_shop(tmp_path, "data.label.missing=drop").data)
    unlabelled = log.loc[[3, 10, 11], "session"].nunique()
    assert data.log.n_sequences == log["session"].nunique() - unlabelled
    assert data.card["dropped"]["sequences_without_label"] == unlabelled


@pytest.mark.parametrize(
    "override",
    [
        "data.tokens.buckets.price={method:log,n_bins:3}",
        "+data.tokens.buckets.price={method:log,n_bins:3}",
        "data.tokens.buckets={price:{method:log,n_bins:3}}",
    ],
)
def test_item4_bins_set_on_the_command_line(tmp_path, shop, override):
    cfg = compose_shop(tmp_path, "data.tokens.fields=[action,price]", override)
    spec = dataset_spec(cfg.data)
    assert spec.tokens.buckets == {"price": BucketSpec(BucketMethod.log, 3)}
    data = prepare_from_config(cfg.data)
    assert data.pipeline.vocabulary.bucketers_["price"].spec == BucketSpec(BucketMethod.log, 3)


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ("data.tokens.buckets.price={method:lg,n_bins:3}", "Invalid value 'lg'"),
        ("data.tokens.buckets.price={method:log,bins:3}", "Key 'bins' not in 'BucketSpec'"),
        ("data.tokens.buckets.price=log", "data.tokens.buckets.price='log' is not a bucket setting"),
        ("data.tokens.buckets={price: {method: sqrt}}", "expected one of [quantile, log]"),
    ],
)
def test_item4_a_wrong_bin_setting_names_data_tokens_buckets(tmp_path, shop, override, reason):
    """Checked when the spec is built, before any data is read: OmegaConf cannot type a key added to a dict
    of dataclasses from the command line, so the schema leaves the entries to TokenSpec."""
    cfg = compose_shop(tmp_path, "data.tokens.fields=[action,price]", override)
    with pytest.raises(DataError) as error:
        dataset_spec(cfg.data)
    assert "data.tokens.buckets.price=" in str(error.value) and reason in str(error.value)


def test_item10_a_run_failing_before_its_data_is_read_is_listed_under_its_data_name(tmp_path, shop):
    cfg = compose_shop(tmp_path, "data.source.events=shop/absent.csv", "model=logreg")
    result = run(cfg)
    assert result.status == "failed" and "absent.csv" in result.error
    (record,) = load_records([tmp_path / "run"])
    assert record.dataset_name == "shop"
    # A failed record written before the name was recorded: the report reads it from the run's config.
    earlier = dataclasses.replace(record, dataset={})
    assert earlier.dataset_name == "shop"


def test_item12_a_full_disk_names_the_disk_and_what_the_preparation_needs(tmp_path, shop, monkeypatch):
    cfg = compose_shop(tmp_path)

    def short_write(*args, **kwargs):
        raise OSError("132131 requested and 38384 written")  # numpy's words for a full disk: no errno

    monkeypatch.setattr(prepared_module.np, "save", short_write)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(cache_module.shutil, "disk_usage", lambda path: usage(10e9, 8.5e9, 1.5e9))
    with pytest.raises(DataError) as error:
        prepare_from_config(cfg.data)
    message = str(error.value)
    assert (
        f"cannot write the prepared data under {tmp_path / 'cache'}: the disk (or your quota) is full there"
        in message
    )
    assert "on the disk mounted at /" in message and "132131 requested and 38384 written" in message
    assert "needs more than the 1.50 GB that were free on that disk" in message
    assert list(os.scandir(tmp_path / "cache")) == []


def test_item12_a_full_disk_out_of_core_is_said_the_same_way(tmp_path, shop, monkeypatch):
    folder = parquet_folder(tmp_path, shop)
    spec = dataset_spec(compose_shop(tmp_path).data)
    source = FileSource(str(folder), categorical=["action"], out_of_core=True)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(prepared_module, "write_fitted", full)
    with pytest.raises(DataError, match=r"the disk \(or your quota\) is full.*GB that were free"):
        prepare(spec, source)
