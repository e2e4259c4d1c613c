"""The CDNOW reader (behave/data/sources/cdnow.py) against the file in the installed `lifetimes` package.

The expected figures are computed here from the same file with plain pandas, independently of the reader.
The file comes with the `test` extra, so these run in CI; they skip only where `lifetimes` is not installed.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from behave.data.config import build_source, dataset_spec, prepare_from_config
from behave.data.errors import DataError
from behave.data.ingestion.validate import validate
from behave.data.sources import cdnow
from behave.data.sources.cdnow import Cdnow
from behave.train import run
from tests.compose import compose_train

CUT = pd.Timestamp("1997-10-01")  # 39 weeks after 1997-01-01: the first day of the label period
KNOWN_CUSTOMER = "00003"  # 6 purchases: 3 before the cut, 3 after


@pytest.fixture(scope="module")
def master_file() -> Path:
    spec = find_spec(cdnow.PACKAGE)
    path = Path(spec.submodule_search_locations[0]).joinpath(*cdnow.PACKAGED_FILE) if spec else None
    if path is None or not path.is_file():
        pytest.skip("`lifetimes` (which ships CDNOW_master.txt) is not installed: pip install -e '.[test]'")
    return path


@pytest.fixture(scope="module")
def truth(master_file) -> pd.DataFrame:
    """The file as plain pandas reads it: every purchase, dates parsed, in file order."""
    table = pd.read_csv(master_file, sep=r"\s+", dtype={"customer_id": str})
    return table.assign(date=pd.to_datetime(table["date"].astype(str), format="%Y%m%d"))


@pytest.fixture(scope="module")
def raw(master_file):
    return Cdnow().load()


@pytest.fixture(scope="module")
def cdnow_log(master_file, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cdnow")
    spec = dataset_spec(compose_train(["data=cdnow"], folder / "run", folder / "cache").data)
    return validate(build_source(spec).load(), spec)


def test_reader_counts_match_the_file(raw, truth):
    assert len(truth) == 69_659 and truth["customer_id"].nunique() == 23_570
    calibration, holdout = truth[truth["date"] < CUT], truth[truth["date"] >= CUT]
    assert len(raw.events) == len(calibration) == 49_086
    assert raw.events["customer_id"].nunique() == len(raw.labels) == 23_570
    labels = raw.labels.set_index("customer_id")
    repeaters = set(holdout["customer_id"])
    assert set(labels.index[labels["buys_again"] == 1]) == repeaters
    assert labels["buys_again"].mean() == pytest.approx(len(repeaters) / 23_570)
    assert labels["buys_again"].mean() == pytest.approx(0.2994, abs=1e-4)
    assert labels["holdout_purchases"].sum() == len(holdout)
    assert raw.events["dollar_value"].sum() == pytest.approx(calibration["dollar_value"].sum())
    assert "lifetimes" not in sys.modules  # the file is found without importing the modeling library


def test_a_known_customers_sequence_is_its_calibration_purchases_in_date_order(cdnow_log, truth):
    log, drops = cdnow_log
    assert drops.sequences_without_label == 0 and drops.labels_without_events == 0
    rows = truth[(truth["customer_id"] == KNOWN_CUSTOMER) & (truth["date"] < CUT)].sort_values("date")
    assert len(rows) == 3
    s = int(np.flatnonzero(log.sequence_ids == KNOWN_CUSTOMER)[0])
    events = slice(log.offsets[s], log.offsets[s + 1])
    unix = (rows["date"] - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)
    assert log.time[events].tolist() == unix.tolist()
    assert log.numeric["number_of_cds"][events].tolist() == rows["number_of_cds"].tolist()
    assert log.numeric["dollar_value"][events].tolist() == rows["dollar_value"].tolist()
    assert log.labels[s] == 1  # three purchases after the cut
    static = log.static.iloc[s]
    assert static["recency_days"] == (CUT - rows["date"].max()).days
    assert static["tenure_days"] == (CUT - rows["date"].min()).days


def test_no_purchase_from_the_label_period_is_an_input(cdnow_log, raw):
    log, _ = cdnow_log
    cut_unix = (CUT - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)
    assert log.time.max() < cut_unix and raw.events["date"].max() < CUT
    assert (raw.events["recency_days"] >= 1).all()


def test_the_calibration_length_moves_the_cut(master_file, truth):
    raw = Cdnow(calibration_weeks=4).load()  # cut 1997-01-29: later first-time buyers have no sequence
    cut = pd.Timestamp("1997-01-29")
    before = truth[truth["date"] < cut]
    assert raw.events["date"].max() < cut and len(raw.events) == len(before)
    assert set(raw.labels["customer_id"]) == set(before["customer_id"])
    later = set(truth.loc[truth["date"] >= cut, "customer_id"])
    assert raw.labels["buys_again"].sum() == len(later & set(before["customer_id"]))
    assert Cdnow(calibration_weeks=4).fingerprint() != Cdnow().fingerprint()
    with pytest.raises(DataError, match="nothing is left to label"):
        Cdnow(calibration_weeks=100).load()


def test_a_missing_package_says_how_to_get_the_file(monkeypatch):
    monkeypatch.setattr(cdnow, "find_spec", lambda name: None)
    with pytest.raises(DataError) as error:
        Cdnow().load()
    message = str(error.value)
    assert "pip install lifetimes" in message and "behave-seq[data]" in message
    assert "data.source.path" in message


def test_a_bad_path_names_the_key(tmp_path):
    with pytest.raises(DataError) as error:
        Cdnow(path=str(tmp_path / "nope.txt")).fingerprint()
    assert "data.source.path" in str(error.value) and "nope.txt" in str(error.value)


def test_a_copy_at_path_is_read_instead_of_the_package(master_file, tmp_path):
    copy = tmp_path / "cdnow.txt"
    copy.write_text("".join(master_file.read_text().splitlines(keepends=True)[:11]))  # header + 10 rows
    raw = Cdnow(path=str(copy)).load()
    assert str(copy) in raw.events_name and raw.events["customer_id"].nunique() <= 10


@pytest.mark.parametrize(("column", "bad"), [("date", "19971345"), ("number_of_cds", "two")])
def test_a_corrupt_copy_names_file_column_and_row(master_file, tmp_path, column, bad):
    lines = master_file.read_text().splitlines(keepends=True)
    row = 1234  # 0-based data row: line row + 2 of the file, counting lines from 1
    fields = lines[row + 1].split()
    fields[cdnow.COLUMNS.index(column)] = bad
    lines[row + 1] = " ".join(fields) + "\n"
    copy = tmp_path / "CDNOW_master.txt"
    copy.write_text("".join(lines))
    with pytest.raises(DataError) as error:
        Cdnow(path=str(copy)).load()
    message = str(error.value)
    assert str(copy) in message and f"'{column}'" in message and f"{row} ('{bad}')" in message


def test_a_copy_without_a_column_names_it(master_file, tmp_path):
    table = pd.read_csv(master_file, sep=r"\s+", dtype=str, nrows=20).drop(columns="dollar_value")
    copy = tmp_path / "CDNOW_master.txt"
    table.to_csv(copy, sep=" ", index=False)
    with pytest.raises(DataError) as error:
        Cdnow(path=str(copy)).load()
    assert str(copy) in str(error.value) and "'dollar_value'" in str(error.value)


@pytest.mark.slow
def test_xgboost_learns_who_buys_again(master_file, tmp_path):
    overrides = ["data=cdnow", "model=xgboost", "model.n_jobs=1", "~logger"]
    result = run(compose_train(overrides, tmp_path / "run", tmp_path / "cache"))
    assert result.status == "ok", result.error
    assert result.test_metrics["auroc"] > 0.72  # 0.769 at seed 0


def test_the_time_to_next_purchase_config_leaves_out_what_is_measured_from_the_last_purchase(
    master_file, tmp_path
):
    base = prepare_from_config(compose_train(["data=cdnow_next"], tmp_path / "run", tmp_path / "cache").data)
    assert not base.log.labelled and base.log.static.columns.empty
    assert base.log.n_events == 49_086
