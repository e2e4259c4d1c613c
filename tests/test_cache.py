"""The prepared-data cache: keyed by config and file content, reused when unchanged, never half-written."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import behave.data.storage.prepared as prepared_module
import behave.tasks.dataset as dataset_module
from behave.data.config import prepare_from_config
from behave.data.errors import DataError
from behave.data.storage.cache import fingerprint
from behave.tasks.dataset import task_dataset
from behave.tasks.prefix import PrefixTask
from behave.tasks.sequence import SequenceTask


@pytest.fixture
def tables(make_tables):
    return make_tables(60, seed=2)


def cache_entries(config: dict) -> list[str]:
    return sorted(p.name for p in Path(config["cache_dir"]).iterdir())


@pytest.mark.parametrize(
    "change", [{"tokens": {"min_freq": 2}}, {"split": {"seed": 1}}, {"sequences": {"max_len": 5}}]
)
def test_fingerprint_follows_pipeline_config(data_config, tables, change):
    base = prepare_from_config(data_config(*tables))
    changed = prepare_from_config(data_config(*tables, **change))
    assert changed.fingerprint != base.fingerprint
    assert changed.directory != base.directory and base.directory.exists()


def test_fingerprint_follows_source_file_content(data_config, tables):
    events, labels = tables
    base = prepare_from_config(data_config(events, labels))
    edited = labels.copy()
    edited.loc[0, "y"] = 1 - edited.loc[0, "y"]
    changed = prepare_from_config(data_config(events, edited))
    assert changed.fingerprint != base.fingerprint
    assert changed.log.labels[0] == edited.loc[0, "y"] != base.log.labels[0]


def test_same_config_reuses_the_cache(data_config, tables, monkeypatch):
    config = data_config(*tables)
    built = prepare_from_config(config)
    modified = built.directory.stat().st_mtime_ns

    def no_rebuild(*args, **kwargs):
        raise AssertionError("validate ran again: the cache was not reused")

    monkeypatch.setattr(prepared_module, "validate", no_rebuild)
    cached = prepare_from_config(dict(config))
    assert cached.directory == built.directory and cached.directory.stat().st_mtime_ns == modified
    assert cache_entries(config) == [built.fingerprint]
    # What comes back from disk is what was built.
    assert np.array_equal(cached.events.tokens, built.events.tokens)
    assert np.array_equal(cached.events.numeric, built.events.numeric)
    assert np.array_equal(cached.log.labels, built.log.labels)
    assert np.array_equal(cached.log.time, built.log.time)
    for name, values in built.log.categorical.items():
        assert cached.log.categorical[name].equals(values)
    for part in ("train", "val", "test"):
        assert np.array_equal(cached.split.part(part), built.split.part(part))
    assert cached.pipeline.vocabulary.tokens_ == built.pipeline.vocabulary.tokens_


def test_task_rows_and_features_are_cached_beside_the_base(data_config, tables, monkeypatch):
    base = prepare_from_config(data_config(*tables))
    built = task_dataset(base, PrefixTask(lengths=[2, 3]))
    (folder,) = (base.directory / "tasks").iterdir()
    assert (folder / "task.json").exists()

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the task's features were built again")

    monkeypatch.setattr(dataset_module, "_build", no_rebuild)
    cached = task_dataset(base, PrefixTask(lengths=[2, 3]))
    pd.testing.assert_frame_equal(cached.features, built.features)
    assert np.array_equal(cached.rows.cutoff, built.rows.cutoff)
    # Another task on the same base gets its own folder; the base is not rebuilt.
    monkeypatch.undo()
    task_dataset(base, SequenceTask())
    assert len(list((base.directory / "tasks").iterdir())) == 2


def test_a_task_folder_written_before_feature_kinds_is_rebuilt_never_misread(data_config, tables):
    base = prepare_from_config(data_config(*tables))
    task = PrefixTask(lengths=[2, 3])
    built = task_dataset(base, task)
    (folder,) = (base.directory / "tasks").iterdir()
    # A folder of the format before: under the key of the task's config alone, task.json without kinds.
    old = base.directory / "tasks" / fingerprint(task.fingerprint())
    folder.rename(old)
    meta = json.loads((old / "task.json").read_text())
    del meta["feature_kinds"]
    (old / "task.json").write_text(json.dumps(meta))
    rebuilt = task_dataset(base, task)
    assert rebuilt.feature_kinds == built.feature_kinds
    assert list(rebuilt.feature_kinds) == rebuilt.feature_names
    # A folder under the current key that records no kinds (hand-edited) is an error naming the file.
    shutil.copytree(old, folder, dirs_exist_ok=True)
    with pytest.raises(DataError, match="records no feature kinds"):
        task_dataset(base, task)


def test_interrupted_build_leaves_nothing_that_is_reused(data_config, tables, monkeypatch):
    config = data_config(*tables)
    written = []

    def crash(*args):
        (temp,) = Path(config["cache_dir"]).glob(".tmp-*")  # the build writes into one temporary folder
        written.extend(p.name for p in temp.iterdir())
        raise KeyboardInterrupt("interrupted while writing the card")

    monkeypatch.setattr(prepared_module, "build_card", crash)
    with pytest.raises(KeyboardInterrupt):
        prepare_from_config(config)
    assert {"log", "events", "split.parquet"} <= set(written)  # it did get half way
    assert cache_entries(config) == []  # neither a fingerprint folder nor a .tmp- folder is left

    monkeypatch.undo()
    rebuilt = prepare_from_config(config)
    assert (rebuilt.directory / "card.json").exists()
    assert rebuilt.card["n_sequences"] == 60
    assert cache_entries(config) == [rebuilt.fingerprint]


def test_sample_sequences_keeps_a_seeded_subset_of_whole_sequences(data_config, tables):
    whole = prepare_from_config(data_config(*tables))
    sampled = prepare_from_config(data_config(*tables, sample_sequences=25))
    again = prepare_from_config(data_config(*tables, sample_sequences=25))
    assert sampled.log.n_sequences == 25 and sampled.fingerprint != whole.fingerprint
    assert np.array_equal(sampled.log.sequence_ids, again.log.sequence_ids)
    kept = np.searchsorted(whole.log.sequence_ids, sampled.log.sequence_ids)
    assert np.array_equal(whole.log.sequence_ids[kept], sampled.log.sequence_ids)
    assert np.array_equal(whole.log.lengths[kept], sampled.log.lengths)  # whole sequences, never cut
    assert sampled.card["sampled_sequences"] == 25 and sum(sampled.split.sizes().values()) == 25
