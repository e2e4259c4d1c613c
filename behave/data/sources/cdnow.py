"""CDNOW purchase log (Fader & Hardie's BTYD benchmark): who buys again? One sequence per customer.

The file ships inside the `lifetimes` package (`pip install lifetimes`, or behave's `data` extra) as
lifetimes/datasets/CDNOW_master.txt; `path` may point at a copy instead. It is found without importing
lifetimes, whose package import pulls its modeling stack (autograd, ...):

    customer_id  date      number_of_cds  dollar_value     whitespace-separated, one row per purchase:
    00003        19970102  2              20.76            69,659 rows of 23,570 customers who first bought
                                                           in Jan-Mar 1997; dates 1997-01-01 .. 1998-06-30

The log is cut in two at `CALIBRATION_START + calibration_weeks` (39 weeks: 1997-10-01, the split of Fader,
Hardie & Lee 2005). Events are the calibration purchases only: customer_id, date (datetime64),
number_of_cds, dollar_value, and two per-customer numbers known at the cut, recency_days (cut - last
purchase) and tenure_days (cut - first purchase), the recency and age that repeat-buying models start from.
Labels (one row per customer with a calibration purchase): customer_id, buys_again (1 = any purchase
after the cut), holdout_purchases (their number). Nothing after the cut reaches the events.
"""

from __future__ import annotations

import logging
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pandas as pd

from behave.data.errors import DataError, describe_rows, missing_column_error
from behave.data.event_log import RawTables
from behave.data.sources.files import read_table
from behave.data.storage.cache import file_digest

log = logging.getLogger(__name__)

PACKAGE = "lifetimes"
PACKAGED_FILE = ("datasets", "CDNOW_master.txt")
CALIBRATION_START = pd.Timestamp("1997-01-01")
COLUMNS = ("customer_id", "date", "number_of_cds", "dollar_value")
_DAY = np.timedelta64(1, "D")


class Cdnow:
    """Source for `data=cdnow`. `path`: a copy of CDNOW_master.txt (None: the one in the installed
    `lifetimes` package). `calibration_weeks`: the inputs period; every later purchase is the label period."""

    def __init__(self, path: str | None = None, calibration_weeks: int = 39) -> None:
        self.path = path
        self.calibration_weeks = calibration_weeks

    @property
    def cut(self) -> pd.Timestamp:
        """The first day of the label period: purchases before it are inputs, from it on the label."""
        return CALIBRATION_START + pd.Timedelta(weeks=self.calibration_weeks)

    def file(self) -> Path:
        """The CDNOW_master.txt to read; a DataError that says how to get it when there is none."""
        if self.path:
            path = Path(self.path).expanduser()
            if not path.is_file():
                raise DataError(f"CDNOW: `data.source.path` is {path}, which is not a file.")
            return path
        # find_spec of a top-level package locates it without running its __init__.
        spec = find_spec(PACKAGE)
        locations = list(spec.submodule_search_locations or []) if spec else []
        found = [Path(root).joinpath(*PACKAGED_FILE) for root in locations]
        found = [path for path in found if path.is_file()]
        if not found:
            where = f"the installed {PACKAGE} has no {'/'.join(PACKAGED_FILE)}" if spec else "not installed"
            raise DataError(
                f"CDNOW: the data ships with the `{PACKAGE}` package ({where}). Install it with "
                f"`pip install {PACKAGE}` (or `pip install 'behave-seq[data]'`), or set `data.source.path` "
                f"to a copy of {PACKAGED_FILE[-1]}."
            )
        return found[0]

    def fingerprint(self) -> dict:
        """The file's content hash and the cut: a different calibration length is a different dataset."""
        return {
            "name": "Cdnow",
            "files": [file_digest(self.file())],
            "calibration_weeks": self.calibration_weeks,
        }

    def load(self) -> RawTables:
        if self.calibration_weeks < 1:
            raise DataError(
                f"CDNOW: data.source.calibration_weeks must be >= 1, not {self.calibration_weeks}."
            )
        path = self.file()
        purchases = read_purchases(path)
        before = purchases["date"] < self.cut
        if before.all():
            last = purchases["date"].max().date()
            raise DataError(
                f"{path}: no purchase on or after {self.cut.date()} (the file ends {last}), so nothing is "
                f"left to label; lower data.source.calibration_weeks ({self.calibration_weeks})."
            )
        events = _calibration_events(purchases[before].reset_index(drop=True), self.cut)
        labels = _holdout_labels(events["customer_id"], purchases.loc[~before, "customer_id"])
        unseen = purchases["customer_id"].nunique() - len(labels)
        if unseen:
            log.info(
                "%s: %d customer(s) first bought after %s and get no sequence", path, unseen, self.cut.date()
            )
        return RawTables(
            events=events,
            events_name=f"{path} (purchases before {self.cut.date()})",
            labels=labels,
            labels_name=f"{path} (purchases from {self.cut.date()} on)",
        )


def read_purchases(path: Path) -> pd.DataFrame:
    """customer_id (string), date (datetime64), number_of_cds, dollar_value (float64), in file order."""
    raw = read_table(path, {"sep": r"\s+", "dtype": "string"})
    for column in COLUMNS:
        if column not in raw.columns:
            raise missing_column_error(str(path), column, "CDNOW purchase column", list(raw.columns))
    _check(path, raw, raw["customer_id"].isna(), "customer_id", "present")
    date = pd.to_datetime(raw["date"], format="%Y%m%d", errors="coerce")
    _check(path, raw, date.isna(), "date", "a YYYYMMDD date")
    frame = pd.DataFrame({"customer_id": raw["customer_id"], "date": date})
    for column in COLUMNS[2:]:
        values = pd.to_numeric(raw[column], errors="coerce").astype("float64")
        _check(path, raw, ~(values >= 0), column, "a number >= 0")
        frame[column] = values
    return frame


def _check(path: Path, raw: pd.DataFrame, bad: pd.Series, column: str, must_be: str) -> None:
    if bad.any():
        raise DataError(
            f"{path}: column '{column}' must be {must_be}; {describe_rows(raw, bad, column)} "
            "(data rows counted from 0 after the header)."
        )


def _calibration_events(calibration: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    """The calibration purchases plus each customer's recency_days and tenure_days at the cut."""
    days_before_cut = ((cut - calibration["date"]) / _DAY).groupby(calibration["customer_id"], sort=False)
    calibration["recency_days"] = days_before_cut.transform("min")
    calibration["tenure_days"] = days_before_cut.transform("max")
    return calibration


def _holdout_labels(calibration_ids: pd.Series, holdout_ids: pd.Series) -> pd.DataFrame:
    """One row per customer with a calibration purchase: buys_again (0/1) and holdout_purchases."""
    customers = pd.Index(pd.unique(calibration_ids), name="customer_id")
    counts = holdout_ids.value_counts().reindex(customers, fill_value=0).astype("int64")
    return pd.DataFrame(
        {
            "customer_id": customers.to_numpy(),
            "buys_again": (counts.to_numpy() > 0).astype("int64"),
            "holdout_purchases": counts.to_numpy(),
        }
    )
