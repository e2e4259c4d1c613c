"""The MovieLens 100K and KDD Cup 2015 readers on the real files (under $BEHAVE_DATA_DIR, never in the repo).

Tests that read the files are marked `realdata` and skip when the files are absent; the missing-file errors
are checked on an empty folder and run everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from behave.data.config import build_source, dataset_spec, prepare_from_config
from behave.data.errors import DataError
from behave.data.ingestion.validate import validate
from behave.data.sources import kddcup, movielens
from behave.data.sources.files import DATA_DIR_ENV
from behave.data.sources.kddcup import KddCup2015
from behave.data.sources.movielens import MovieLens100k
from behave.data.transforms.buckets import NumericBucketer
from behave.data.transforms.vocabulary import UNK
from behave.tasks.next import NextTask
from behave.train import run
from tests.compose import compose_train

# Sequential trees: on a busy 2-core box XGBoost's two OpenMP threads were 8x slower than one.
XGBOOST_FAST = ["model=xgboost", "model.n_jobs=1", "~logger"]


def _real_dir(folder: str, first_file: str) -> Path:
    root = os.environ.get(DATA_DIR_ENV)
    if not root or not (Path(root) / folder / first_file).is_file():
        pytest.skip(
            f"real data absent: set ${DATA_DIR_ENV} to the folder that holds {folder}/ (see SOURCE.txt)"
        )
    return Path(root) / folder


@pytest.fixture(scope="module")
def movielens_dir() -> Path:
    return _real_dir(movielens.DATASET_FOLDER, "u.data")


@pytest.fixture(scope="module")
def kdd_dir() -> Path:
    return _real_dir(kddcup.DATASET_FOLDER, kddcup.LABELS_FILE)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def movielens_raw(movielens_dir):
    return MovieLens100k(str(movielens_dir)).load()


@pytest.fixture(scope="module")
def kdd_raw(kdd_dir):
    return KddCup2015(str(kdd_dir)).load()


# --- missing files ---------------------------------------------------------------------------------------


def test_movielens_missing_files_name_what_and_where(tmp_path):
    (tmp_path / "u.data").write_text("1\t1\t5\t881250949\n")
    with pytest.raises(DataError) as error:
        MovieLens100k(str(tmp_path)).load()
    message = str(error.value)
    assert "u.user" in message and "u.item" in message and str(tmp_path) in message
    assert movielens.PUBLISHED_AT in message


def test_kdd_missing_files_name_what_and_where(tmp_path):
    with pytest.raises(DataError) as error:
        KddCup2015(str(tmp_path)).fingerprint()
    message = str(error.value)
    assert "truth_train.csv" in message and "trainCourse" in message and str(tmp_path) in message


def test_kdd_reader_on_a_tiny_folder(tmp_path):
    courses = tmp_path / "courses"
    courses.mkdir()
    header = "enrollment_id,time," + ",".join(kddcup.COUNT_COLUMNS)
    days = [f"2014-06-0{d}" for d in (1, 2, 3)]
    rows_a = [f"7,{day},{i},0,0,0,0,0,0" for i, day in enumerate(days)]  # idle on the first day only
    rows_b = [f"9,{day},0,0,0,0,0,0,0" for day in days]
    (courses / "trainCourse1A.csv").write_text("\n".join([header, *rows_a]) + "\n")
    pd.DataFrame([r.split(",") for r in rows_b], columns=header.split(",")).to_csv(
        courses / "trainCourse1B.csv.gz", index=False
    )
    (tmp_path / "truth_train.csv").write_text("enrollment_id,label\n7,1\n9,0\n11,1\n")
    raw = KddCup2015(str(tmp_path)).load()
    events = raw.events
    assert len(events) == 6 and sorted(raw.labels["enrollment_id"]) == [7, 9]  # 11 has no course file
    assert events.groupby("enrollment_id")["course"].first().astype(str).to_dict() == {7: "1A", 9: "1B"}
    assert events["active"].astype(str).tolist() == ["idle", "active", "active", "idle", "idle", "idle"]
    main_activity = ["idle", "access", "access", "idle", "idle", "idle"]
    assert events["main_activity"].astype(str).tolist() == main_activity
    assert events["time"].dt.strftime("%Y-%m-%d").tolist() == days * 2
    (courses / "trainCourse1A.csv.gz").write_bytes(b"")
    with pytest.raises(DataError, match="both a .csv and a .csv.gz"):
        KddCup2015(str(tmp_path)).load()


def test_data_dir_defaults_to_the_env_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert MovieLens100k().data_dir == tmp_path / "movielens-100k"
    assert KddCup2015().data_dir == tmp_path / "kddcup2015-mooc-daily"


# --- MovieLens 100K ----------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_movielens_tables_have_the_documented_counts(movielens_raw):
    events, labels = movielens_raw.events, movielens_raw.labels
    assert len(events) == 100_000
    assert events["user_id"].nunique() == 943 and events["item_id"].nunique() == 1682
    assert labels["gender"].value_counts().to_dict() == {"M": 670, "F": 273}
    assert labels["occupation"].nunique() == 21
    assert set(labels["age_group"]) == set(movielens.AGE_GROUPS)
    young = labels["age"] < 25
    assert ((labels["age_group"] == "<25") == young).all()


@pytest.mark.realdata
def test_movielens_primary_genre_is_one_of_the_items_flagged_genres(movielens_raw):
    events = movielens_raw.events
    flags = events[list(movielens.GENRE_COLUMNS)].to_numpy()
    assert set(np.unique(flags)) == {0.0, 1.0}
    column = events["primary_genre"].map({genre: i for i, genre in enumerate(movielens.GENRES)}).to_numpy()
    assert (flags[np.arange(len(events)), column] == 1).all()


@pytest.mark.realdata
def test_movielens_gender_label_after_validation(movielens_dir, tmp_path, cache_dir):
    spec = dataset_spec(compose_train(["data=movielens100k"], tmp_path, cache_dir).data)
    log, drops = validate(build_source(spec).load(), spec)
    assert (log.n_sequences, log.n_events) == (943, 100_000)
    assert log.class_names == ["M", "F"] and log.labels.sum() == 273
    assert drops.sequences_without_label == 0 and drops.labels_without_events == 0
    assert np.all(np.diff(log.time)[np.diff(log.sequence_of_event()) == 0] >= 0)


@pytest.mark.realdata
def test_the_next_movie_question_tests_each_users_last_movie_among_every_movie(
    movielens_dir, tmp_path, cache_dir
):
    cfg = compose_train(
        ["experiment=next_movielens", f"data.source.data_dir={movielens_dir}"], tmp_path, cache_dir
    )
    base = prepare_from_config(cfg.data)
    task = NextTask(target=cfg.task.target, split=cfg.task.split, max_classes=cfg.task.max_classes)
    rows = task.rows(base.log, base.split)
    test = rows.in_part("test")
    assert not base.log.labelled and len(test) == base.log.n_sequences == 943
    np.testing.assert_array_equal(rows.cutoff[test], base.log.lengths[rows.sequence[test]] - 1)  # the last
    assert len(task.class_names) > 1600 and "(other)" not in task.class_names  # every movie seen in training


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("variant", "n_classes", "first_classes"),
    [
        ("movielens100k_age", 4, ["<25", "25-34"]),
        ("movielens100k_occupation", 21, ["administrator", "artist"]),
    ],
)
def test_movielens_multiclass_variants_prepare(
    movielens_dir, tmp_path, cache_dir, variant, n_classes, first_classes
):
    data = prepare_from_config(compose_train([f"data={variant}"], tmp_path, cache_dir).data)
    assert data.spec.label.kind == "multiclass" and data.num_classes == n_classes
    assert data.class_names[:2] == first_classes
    assert np.bincount(data.log.labels, minlength=n_classes).min() >= 7  # every class present (7 doctors)


# --- KDD Cup 2015 ------------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_kdd_tables_have_the_documented_counts(kdd_raw):
    events, labels = kdd_raw.events, kdd_raw.labels
    assert len(events) == 1_720_980 and events["course"].nunique() == 31
    per_enrollment = events.groupby("enrollment_id").size()
    assert len(per_enrollment) == 57_366 and (per_enrollment == 30).all()
    assert len(labels) == 57_366 and set(labels["enrollment_id"]) == set(per_enrollment.index)
    assert labels["label"].mean() == pytest.approx(0.83, abs=0.005)
    assert (events["events_total"] == events[list(kddcup.COUNT_COLUMNS)].sum(axis=1)).all()
    assert ((events["active"] == "active") == (events["events_total"] > 0)).all()
    assert ((events["main_activity"] == "idle") == (events["events_total"] == 0)).all()
    videos = events[list(kddcup.COUNT_COLUMNS)].to_numpy().argmax(axis=1) == 5  # event_video
    assert (events["main_activity"][videos & (events["events_total"] > 0)] == "video").all()


@pytest.mark.realdata
def test_kdd_course_subset_reads_only_that_course(kdd_dir):
    source = KddCup2015(str(kdd_dir), courses=["1038"])
    raw = source.load()
    # A course file is named after its number of enrollments.
    assert raw.events["enrollment_id"].nunique() == 1038 and len(raw.events) == 1038 * 30
    assert set(raw.events["course"]) == {"1038"} and len(raw.labels) == 1038
    assert source.fingerprint() != KddCup2015(str(kdd_dir)).fingerprint()
    with pytest.raises(DataError, match="no file for course"):
        KddCup2015(str(kdd_dir), courses=["nope"]).load()


# --- leakage and training, both datasets -------------------------------------------------------------------

DATA_DIRS = {"movielens100k": "movielens_dir", "kddcup2015": "kdd_dir"}
LEAK_CASES = {
    # Item tokens: some movies are rated only by val/test users, so the <unk> check has cases to catch.
    "movielens100k": ["data=movielens100k", "data.tokens.fields=[item_id]", "data.tokens.min_freq=1"],
    "kddcup2015": ["data=kddcup2015"],
}


def _token_keys(log, vocabulary) -> np.ndarray:
    """(N,) one int per event for its raw token-field values (log-wide categories, train-fitted bins)."""
    codes = []
    for name in vocabulary.spec.fields:
        if name in log.categorical:
            codes.append(log.categorical[name].codes.astype(np.int64) + 1)
        else:
            codes.append(vocabulary.bucketers_[name].codes(log.numeric[name]))
    return np.ravel_multi_index(codes, [c.max() + 1 for c in codes])


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("dataset", list(LEAK_CASES))
def test_no_val_or_test_token_leaks_into_the_vocabulary(request, tmp_path, cache_dir, dataset):
    request.getfixturevalue(DATA_DIRS[dataset])
    data = prepare_from_config(compose_train(LEAK_CASES[dataset], tmp_path, cache_dir).data)
    log, _ = validate(build_source(data.spec).load(), data.spec)
    assert np.array_equal(log.sequence_ids, data.log.sequence_ids)
    vocabulary, token_ids = data.pipeline.vocabulary, np.asarray(data.events.tokens)
    train = np.zeros(log.n_events, bool)
    train[log.event_positions(data.split.train)] = True
    for name, bucketer in vocabulary.bucketers_.items():
        refit = NumericBucketer(bucketer.spec, name).fit(log.numeric[name][train])
        assert bucketer.edges_ == refit.edges_
    keys = _token_keys(log, vocabulary)
    train_keys, train_counts = np.unique(keys[train], return_counts=True)
    position = np.clip(np.searchsorted(train_keys, keys), 0, len(train_keys) - 1)
    count_in_train = np.where(train_keys[position] == keys, train_counts[position], 0)
    if dataset == "movielens100k":
        assert (count_in_train == 0).sum() > 0  # the check below has val/test-only tokens to catch
    # <unk> exactly where the token is unseen in train or below min_freq there.
    assert np.array_equal(token_ids == UNK, count_in_train < vocabulary.spec.min_freq)
    known = token_ids != UNK
    assert np.array_equal(np.asarray(vocabulary.frequencies_)[token_ids[known]], count_in_train[known])
    frequencies = np.bincount(token_ids[train], minlength=vocabulary.size)
    assert frequencies[1:].tolist() == vocabulary.frequencies_[1:]


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize(
    ("dataset", "extra", "min_auroc"),
    [
        ("movielens100k", [], 0.65),
        # A faster learning rate and fewer rounds keep the run short on 57k enrollments.
        ("kddcup2015", ["model.params.n_estimators=300", "model.params.learning_rate=0.1"], 0.80),
    ],
)
def test_xgboost_learns_the_label(request, tmp_path, cache_dir, dataset, extra, min_auroc):
    request.getfixturevalue(DATA_DIRS[dataset])
    cfg = compose_train([f"data={dataset}", *XGBOOST_FAST, *extra], tmp_path / "run", cache_dir)
    result = run(cfg)
    assert result.status == "ok", result.error
    assert result.test_metrics["auroc"] > min_auroc
