"""Save a validated `EventLog` to a folder and load it back memory-mapped (the task-free part of the cache).

    events/time.npy, events/categorical_<i>.npy (codes), events/numeric_<i>.npy     (N,) per event
    offsets.npy, labels.npy                                                         (S+1,), (S,)
    sequences.parquet   sequence_id, group (when configured)
    static.parquet      static attributes; extras.parquet  source extras (e.g. oracle_prob)
    log.json            field names, category names, class names

Arrays load with `mmap_mode="r"`: opening a cached log costs next to nothing, and a task that reads a
few columns touches only those pages.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from behave.data.event_log import EventLog


def save_log(log_: EventLog, folder: Path) -> None:
    events = folder / "events"
    events.mkdir(parents=True, exist_ok=True)
    np.save(events / "time.npy", log_.time)
    for i, values in enumerate(log_.categorical.values()):
        np.save(events / f"categorical_{i}.npy", values.codes)
    for i, values in enumerate(log_.numeric.values()):
        np.save(events / f"numeric_{i}.npy", values)
    np.save(folder / "offsets.npy", log_.offsets)
    np.save(folder / "labels.npy", log_.labels)
    sequences = pd.DataFrame({"sequence_id": log_.sequence_ids})
    if log_.groups is not None:
        sequences["group"] = log_.groups
    sequences.to_parquet(folder / "sequences.parquet", index=False)
    log_.static.to_parquet(folder / "static.parquet", index=False)
    log_.extras.reset_index(drop=True).to_parquet(folder / "extras.parquet", index=False)
    meta = {
        "categorical": {
            name: [str(c) for c in values.categories] for name, values in log_.categorical.items()
        },
        "numeric": list(log_.numeric),
        "class_names": list(log_.class_names),
        "has_groups": log_.groups is not None,
    }
    (folder / "log.json").write_text(json.dumps(meta))


def load_log(folder: Path) -> EventLog:
    meta = json.loads((folder / "log.json").read_text())
    events = folder / "events"

    def array(path: Path) -> np.ndarray:
        return np.load(path, mmap_mode="r")

    categorical = {
        name: pd.Categorical.from_codes(np.asarray(array(events / f"categorical_{i}.npy")), categories=names)
        for i, (name, names) in enumerate(meta["categorical"].items())
    }
    numeric = {name: array(events / f"numeric_{i}.npy") for i, name in enumerate(meta["numeric"])}
    sequences = pd.read_parquet(folder / "sequences.parquet")
    n_sequences = len(sequences)
    return EventLog(
        sequence_ids=sequences["sequence_id"].to_numpy(),
        offsets=np.asarray(array(folder / "offsets.npy")),
        time=array(events / "time.npy"),
        categorical=categorical,
        numeric=numeric,
        labels=np.asarray(array(folder / "labels.npy")),
        class_names=meta["class_names"],
        groups=sequences["group"].to_numpy() if meta["has_groups"] else None,
        static=_per_sequence(folder / "static.parquet", n_sequences),
        extras=_per_sequence(folder / "extras.parquet", n_sequences),
    )


def _per_sequence(path: Path, n_sequences: int) -> pd.DataFrame:
    """A per-sequence frame; one without columns comes back from Parquet without rows, so give them back."""
    frame = pd.read_parquet(path)
    return frame if len(frame.columns) else pd.DataFrame(index=pd.RangeIndex(n_sequences))
