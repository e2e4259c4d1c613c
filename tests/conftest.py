"""Shared fixtures: small event logs written as CSV files, the data config reading them, their EventLog.

Tables use the columns `seq, ts, event, page, scroll` (events) and `seq, y` (labels); `make_tables` adds
`user` (3 sequences per user) for grouped splits.
"""

from __future__ import annotations

import os
import sys

# OpenMP threads (XGBoost's, torch's, scikit-learn's) that wait by spinning burn a shared machine's cores:
# one boosting run took 13 s instead of 3 s at load 4, with the same trees. Set before any of them loads;
# runs in a subprocess inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from behave.data.config import build_source, dataset_spec  # noqa: E402
from behave.data.ingestion.validate import validate  # noqa: E402

T0 = 1_700_000_000.0  # unix seconds, a fixed start so timestamps are reproducible


def random_tables(
    n_sequences: int = 120, seed: int = 0, positive_rate: float = 0.3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random events (1..12 per sequence, scroll ~10% missing) and binary labels, rows shuffled."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 13, n_sequences)
    seq = np.repeat(np.arange(n_sequences), lengths)
    start = T0 + rng.uniform(0, 30 * 86400, n_sequences)
    gaps = rng.exponential(600.0, len(seq))
    scroll = rng.uniform(0, 3000, len(seq)).round()
    scroll[rng.random(len(seq)) < 0.1] = np.nan
    events = pd.DataFrame(
        {
            "seq": [f"s{i:04d}" for i in seq],
            "user": [f"u{i // 3:04d}" for i in seq],
            "ts": start[seq] + gaps,  # one event per row at its own random offset; order is set by validation
            "event": rng.choice(["view", "click", "cart", "buy"], len(seq), p=[0.5, 0.3, 0.15, 0.05]),
            "page": rng.choice(["home", "product", "search"], len(seq)),
            "scroll": scroll,
        }
    ).sample(frac=1.0, random_state=seed)
    labels = pd.DataFrame(
        {
            "seq": [f"s{i:04d}" for i in range(n_sequences)],
            "y": (rng.random(n_sequences) < positive_rate).astype(int),
        }
    )
    return events, labels


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """One torch thread, as every run has (`torch_threads: 1` in conf/train.yaml): models this small gain
    nothing from intra-op threads, and spinning threads crawl on a shared machine."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def fits_only_when_marked_slow(request, monkeypatch):
    """A test that fits a Lightning or XGBoost model must be marked slow, so `make test-fast` stays fast:
    an unmarked one fails here, naming the marker it needs. Libraries the test never imported are left be."""
    if request.node.get_closest_marker("slow"):
        return

    def refuse(*args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} fits a model: mark it @pytest.mark.slow")

    if "pytorch_lightning" in sys.modules:
        monkeypatch.setattr(sys.modules["pytorch_lightning"].Trainer, "fit", refuse)
    if "xgboost" in sys.modules:
        monkeypatch.setattr(sys.modules["xgboost"].Booster, "update", refuse)


@pytest.fixture
def make_tables():
    """`make(n_sequences=120, seed=0, positive_rate=0.3)` -> (events, labels) random tables."""
    return random_tables


@pytest.fixture
def multiclass_csv_data(tmp_path) -> list[str]:
    """Overrides of a CSV log with a learnable 3-class label (each sequence's most frequent page, so the
    validation loss falls round after round), written under `tmp_path`."""
    events, labels = random_tables(300, seed=12)
    labels["y"] = labels["seq"].map(events.groupby("seq")["page"].agg(lambda p: p.value_counts().index[0]))
    events.to_csv(tmp_path / "events.csv", index=False)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    return [
        "data=csv",
        f"data.source.events={tmp_path / 'events.csv'}",
        f"data.source.labels={tmp_path / 'labels.csv'}",
        "data.schema.sequence_id=seq",
        "data.schema.timestamp=ts",
        "data.schema.categorical=[event,page]",
        "data.label.column=y",
        "data.label.table=labels",
        "data.label.kind=multiclass",
        "data.tokens.fields=[event,page]",
    ]


@pytest.fixture
def data_config(tmp_path):
    """`make(events, labels=None, **sections)`: write the tables as CSV and return a dict data config.

    Each keyword replaces keys within that config section, e.g. `tokens={"min_freq": 2}`.
    """

    def make(events: pd.DataFrame, labels: pd.DataFrame | None = None, **sections) -> dict:
        events_path = tmp_path / "events.csv"
        events.to_csv(events_path, index=False)
        source = {"_target_": "behave.data.sources.files.FileSource", "events": str(events_path)}
        if labels is not None:
            source["labels"] = str(tmp_path / "labels.csv")
            labels.to_csv(source["labels"], index=False)
        config = {
            "name": "t",
            "source": source,
            "schema": {
                "sequence_id": "seq",
                "timestamp": "ts",
                "categorical": ["event", "page"],
                "numeric": ["scroll"],
            },
            "label": {"column": "y", "positive": 1},
            "tokens": {"fields": ["event", "page"]},
            "cache_dir": str(tmp_path / "cache"),
        }
        for section, values in sections.items():
            config[section] = {**config.get(section, {}), **values} if isinstance(values, dict) else values
        return config

    return make


@pytest.fixture
def load_log(data_config):
    """`load(events, labels=None, **sections)` -> (EventLog, DropCounts) through FileSource and validate."""

    def load(events: pd.DataFrame, labels: pd.DataFrame | None = None, **sections):
        spec = dataset_spec(data_config(events, labels, **sections))
        return validate(build_source(spec).load(), spec)

    return load
