"""The data card: from a file source in-process, and `python -m behave.data` end to end on the simulator."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from behave.data.config import prepare_from_config
from behave.data.storage.card import format_card
from behave.paths import REPO_ROOT

SECTIONS = ("dataset", "sequences", "lengths", "vocabulary", "inputs", "split", "train", "val", "test")


def test_card_counts_parts_drops_and_labels(data_config, make_tables):
    events, labels = make_tables(100, seed=6)
    # One sequence loses its label, and one label has no events.
    labels = pd.concat([labels.iloc[1:], pd.DataFrame({"seq": ["nobody"], "y": [1]})], ignore_index=True)
    card = prepare_from_config(data_config(events, labels)).card
    assert card["n_sequences"] == 99
    assert card["dropped"] == {"sequences_without_label": 1, "labels_without_events": 1}
    assert sum(part["n_sequences"] for part in card["parts"].values()) == 99
    assert sum(part["n_events"] for part in card["parts"].values()) == card["n_events"]
    assert card["n_events"] == (events["seq"] != "s0000").sum()
    positive_share = labels["y"].iloc[:-1].mean()
    for part in card["parts"].values():
        assert abs(part["label_share"]["1"] - positive_share) < 0.1
    assert card["oracle_test_auroc"] is None  # files know no true probability
    text = format_card(card)
    assert [line.split()[0] for line in text.splitlines()] == list(SECTIONS)
    assert "99   events" in text and "1 unlabelled sequences, 1 labels without events" in text


@pytest.mark.slow
def test_behave_data_prints_the_card_of_the_simulator(tmp_path):
    command = [
        sys.executable,
        "-m",
        "behave.prepare",
        "data.source.n_users=300",
        f"paths.cache_dir={tmp_path / 'cache'}",
    ]
    workdir = tmp_path / "here"
    workdir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    starts = [
        line.split()[0] for line in done.stdout.splitlines() if line.strip() and not line.startswith(" ")
    ]
    assert [s for s in starts if s in SECTIONS + ("oracle", "task", "cache")] == [
        *SECTIONS,
        "oracle",
        "task",
        "cache",
    ]
    (card_path,) = Path(tmp_path / "cache").glob("*/card.json")
    card = json.loads(card_path.read_text())
    assert card["n_sequences"] == 300
    assert sum(part["n_sequences"] for part in card["parts"].values()) == 300
    assert card["oracle_test_auroc"] > 0.5
    assert str(card_path) in done.stdout
    assert list(workdir.iterdir()) == []  # no run folder, no .hydra, no log file: only the cache was written


def test_a_data_key_at_the_top_level_names_its_place(tmp_path):
    # `split.method=time` fails with Hydra's hint to add `+`; with it, the key would be silently ignored.
    command = [sys.executable, "-m", "behave.prepare", "+split.method=time", f"paths.cache_dir={tmp_path}"]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "'split' is a data setting: write data.split.method=time" in done.stderr
