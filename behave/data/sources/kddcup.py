"""KDD Cup 2015 MOOC dropout (XuetangX), daily version: each enrollment is 30 days of activity counts.

Files read from the data folder (`resolve_data_dir(data_dir, "kddcup2015-mooc-daily")`), never shipped with
behave (KDD Cup / XuetangX research-use terms):

    truth_train.csv                     enrollment_id,label (1 = dropout), the official training labels
    courses/trainCourse<ID>.csv[.gz]    enrollment_id,time (YYYY-MM-DD),event_access,...,event_wiki;
                                        exactly 30 daily rows per enrollment (the course's first 30 days)

Events: enrollment_id, time (datetime64), course (the <ID> of the file name, e.g. "1038" or "1187A"), the 7
daily counts (`COUNT_COLUMNS`), events_total (their sum), active ("active" when events_total > 0 else
"idle"), a categorical field so the generic feature builder counts active days overall and in the last k days,
and main_activity (the day's most frequent kind of event, e.g. "video" or "problem", the first in
`COUNT_COLUMNS` order on a tie; "idle" on a day without events), the day's event type for next-event tasks.
Labels: enrollment_id, label. The truth file also labels enrollments of courses whose files are not here; the
reader keeps only labels of enrollments it has events for (and logs how many it left out).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from behave.data.errors import DataError
from behave.data.event_log import RawTables
from behave.data.sources.files import DATA_DIR_ENV, read_table, resolve_data_dir
from behave.data.storage.cache import file_digest

log = logging.getLogger(__name__)

DATASET_FOLDER = "kddcup2015-mooc-daily"
PUBLISHED_AT = (
    "the KDD Cup 2015 MOOC dropout data (XuetangX), daily-aggregated per enrollment as in Talebi, Torabi & "
    "Daneshpour (2024); preprocessed files: GitHub KowsarTLB/Courses_datasets"
)
LABELS_FILE = "truth_train.csv"
COURSE_FILE = re.compile(r"^trainCourse(?P<course>[^.]+)\.csv(\.gz)?$")
COUNT_COLUMNS = (
    "event_access",
    "event_discussion",
    "event_navigate",
    "event_page_close",
    "event_problem",
    "event_video",
    "event_wiki",
)
_COURSE_DTYPES = {"enrollment_id": "int64", "time": "category", **{c: "int32" for c in COUNT_COLUMNS}}


class KddCup2015:
    """Source for `data=kddcup2015`. `courses`: course ids to read (None: every course file in the folder)."""

    def __init__(self, data_dir: str | None = None, courses: list[str] | None = None) -> None:
        self.data_dir = resolve_data_dir(data_dir, DATASET_FOLDER)
        self.courses = None if courses is None else [str(c) for c in courses]

    def course_files(self) -> dict[str, Path]:
        """Course id -> file, sorted by id; a DataError when the files or chosen courses are missing."""
        labels, folder = self.data_dir / LABELS_FILE, self.data_dir / "courses"
        found = sorted(folder.glob("trainCourse*.csv*")) if folder.is_dir() else []
        matched = [(m["course"], path) for path in found if (m := COURSE_FILE.match(path.name))]
        files = dict(matched)
        if not labels.is_file() or not files:
            raise DataError(
                f"KDD Cup 2015: expected {LABELS_FILE} and courses/trainCourse<ID>.csv.gz in {self.data_dir} "
                f"(found: labels {'yes' if labels.is_file() else 'no'}, {len(files)} course file(s)). Get "
                f"{PUBLISHED_AT}, and point `data.source.data_dir` or ${DATA_DIR_ENV}/{DATASET_FOLDER} there."
            )
        if len(files) < len(matched):
            raise DataError(f"{folder}: a course has both a .csv and a .csv.gz file; keep one of them.")
        if self.courses is None:
            return files
        absent = [c for c in self.courses if c not in files]
        if absent:
            raise DataError(f"{folder}: no file for course(s) {absent}; present: {sorted(files)}")
        return {c: files[c] for c in sorted(self.courses)}

    def fingerprint(self) -> dict:
        """Content hashes of the label file and of every course file read, plus the course choice."""
        paths = [self.data_dir / LABELS_FILE, *self.course_files().values()]
        return {"name": "KddCup2015", "files": [file_digest(p) for p in paths], "courses": self.courses}

    def load(self) -> RawTables:
        files = self.course_files()
        events = _course_events(files)
        labels_path = self.data_dir / LABELS_FILE
        labels = read_table(labels_path, {"usecols": ["enrollment_id", "label"], "dtype": "int64"})
        has_events = labels["enrollment_id"].isin(pd.unique(events["enrollment_id"]))
        log.info(
            "%s: keeping %d of %d labelled enrollments (the others belong to courses not read)",
            labels_path,
            int(has_events.sum()),
            len(labels),
        )
        events_name = f"{self.data_dir / 'courses'} ({len(files)} course files)"
        return RawTables(
            events=events,
            events_name=events_name,
            labels=labels[has_events].reset_index(drop=True),
            labels_name=str(labels_path),
        )


def _course_events(files: dict[str, Path]) -> pd.DataFrame:
    """All course files stacked: the file columns plus course, events_total and active."""
    frames = [_read_course(path) for path in files.values()]
    events = pd.concat(frames, ignore_index=True)
    course_codes = np.repeat(np.arange(len(frames)), [len(f) for f in frames])
    events["course"] = pd.Categorical.from_codes(course_codes, categories=list(files))
    totals = events[list(COUNT_COLUMNS)].sum(axis=1).astype("int64")
    events["events_total"] = totals
    events["active"] = pd.Categorical.from_codes((totals > 0).astype(np.int8), categories=["idle", "active"])
    events["main_activity"] = _main_activity(events[list(COUNT_COLUMNS)].to_numpy(), totals.to_numpy())
    return events


def _main_activity(counts: np.ndarray, totals: np.ndarray) -> pd.Categorical:
    """(N,) the kind of event each day has most of ("idle" when it has none), from (N, 7) daily counts."""
    kinds = [name.removeprefix("event_") for name in COUNT_COLUMNS]
    codes = np.where(totals > 0, counts.argmax(axis=1) + 1, 0).astype(np.int8)
    return pd.Categorical.from_codes(codes, categories=["idle", *kinds])


def _read_course(path: Path) -> pd.DataFrame:
    """One course file with `time` parsed once per distinct date (a few dozen) instead of once per row."""
    frame = read_table(path, {"usecols": list(_COURSE_DTYPES), "dtype": _COURSE_DTYPES})
    days = frame["time"].cat.categories
    parsed = pd.to_datetime(days, format="%Y-%m-%d", errors="coerce")
    if parsed.isna().any() or frame["time"].isna().any():
        bad = [str(d) for d in days[parsed.isna()][:5]] or ["(empty)"]
        raise DataError(f"{path}: column 'time' must be a YYYY-MM-DD date; found {bad}")
    frame["time"] = np.asarray(parsed)[frame["time"].cat.codes.to_numpy()]
    return frame
