"""Save a validated `EventLog` to a folder and load it back memory-mapped (the task-free part of the cache).

    events/time.npy, events/categorical_<i>.npy (codes), events/numeric_<i>.npy     (N,) per event
    events/extra_<i>.npy                                   (N,) per-event source extras (the oracle)
    offsets.npy, labels.npy                                                         (S+1,), (S,)
    sequences.parquet   sequence_id, group (when configured)
    static.parquet      static attributes; extras.parquet  source extras (e.g. oracle_prob)
    log.json            field names, category names, class names, event extras' names

Arrays load with `mmap_mode="r"`: opening a cached log costs next to nothing, and a task that reads a
few columns touches only those pages.
"""

from __future__ import annotations

import json
import mmap
from pathlib import Path

import numpy as np
import pandas as pd

from behave.data.event_log import NO_LABELS, EventLog


def save_log(log_: EventLog, folder: Path) -> None:
    events = folder / "events"
    events.mkdir(parents=True, exist_ok=True)
    np.save(events / "time.npy", log_.time)
    for i, values in enumerate(log_.categorical.values()):
        np.save(events / f"categorical_{i}.npy", values.codes)
    for i, values in enumerate(log_.numeric.values()):
        np.save(events / f"numeric_{i}.npy", values)
    for i, values in enumerate(log_.event_extras.values()):
        np.save(events / f"extra_{i}.npy", values)
    np.save(folder / "offsets.npy", log_.offsets)
    if log_.labelled:  # a log without a sequence label has no labels.npy
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
        "event_extras": list(log_.event_extras),
        "class_names": list(log_.class_names),
        "has_groups": log_.groups is not None,
    }
    (folder / "log.json").write_text(json.dumps(meta))


def load_log(folder: Path, mmap: bool = True) -> EventLog:
    """The log saved in `folder`, its per-event arrays memory-mapped (`mmap=False`: read into memory)."""
    meta = json.loads((folder / "log.json").read_text())
    events = folder / "events"

    def array(path: Path) -> np.ndarray:
        return np.load(path, mmap_mode="r" if mmap else None)

    categorical = {
        name: pd.Categorical.from_codes(np.asarray(array(events / f"categorical_{i}.npy")), categories=names)
        for i, (name, names) in enumerate(meta["categorical"].items())
    }
    numeric = {name: array(events / f"numeric_{i}.npy") for i, name in enumerate(meta["numeric"])}
    # A log written out of core (LogWriter) has no event extras, and no "event_extras" entry.
    extras = {name: array(events / f"extra_{i}.npy") for i, name in enumerate(meta.get("event_extras", []))}
    sequences = pd.read_parquet(folder / "sequences.parquet")
    n_sequences = len(sequences)
    return EventLog(
        sequence_ids=sequences["sequence_id"].to_numpy(),
        offsets=np.asarray(array(folder / "offsets.npy")),
        time=array(events / "time.npy"),
        categorical=categorical,
        numeric=numeric,
        labels=np.asarray(array(folder / "labels.npy")) if (folder / "labels.npy").exists() else NO_LABELS,
        class_names=meta["class_names"],
        groups=sequences["group"].to_numpy() if meta["has_groups"] else None,
        static=_per_sequence(folder / "static.parquet", n_sequences),
        extras=_per_sequence(folder / "extras.parquet", n_sequences),
        event_extras=extras,
    )


def _per_sequence(path: Path, n_sequences: int) -> pd.DataFrame:
    """A per-sequence frame; one without columns comes back from Parquet without rows, so give them back."""
    frame = pd.read_parquet(path)
    return frame if len(frame.columns) else pd.DataFrame(index=pd.RangeIndex(n_sequences))


def release_pages(*arrays: np.ndarray) -> None:
    """Hand back the pages read so far of memory-mapped arrays (views of them included): they stay in the
    page cache but stop counting as this process's memory, so a pass over a log larger than memory holds
    only the slice it works on. Arrays in memory are left alone."""
    for array in arrays:
        base = array
        while base is not None and not isinstance(base, np.memmap):
            base = getattr(base, "base", None)
        mapped = getattr(base, "_mmap", None)
        if mapped is not None:
            mapped.madvise(mmap.MADV_DONTNEED)


def log_arrays(log_: EventLog) -> list[np.ndarray]:
    """The per-event arrays of a log (time, categorical codes, numeric values)."""
    return [log_.time, *[values.codes for values in log_.categorical.values()], *log_.numeric.values()]


class ArrayAppender:
    """An (N, ...) .npy file of known final shape, filled by appending consecutive row blocks: a log larger
    than memory is written one partition at a time, with plain sequential writes (no mapping keeps the
    written pages counted as this process's memory)."""

    def __init__(self, path: Path, dtype, shape: tuple[int, ...]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape).flush()  # header, sparse body
        self.path, self.dtype, self.shape, self.row = path, np.dtype(dtype), shape, 0
        self.handle = open(path, "r+b")  # noqa: SIM115 (closed by close())
        self.handle.seek(0, 2)
        self.handle.seek(self.handle.tell() - self.dtype.itemsize * int(np.prod(shape, dtype=np.int64)))

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.shape[1:] != self.shape[1:] or self.row + len(block) > self.shape[0]:
            raise ValueError(
                f"{self.path}: block {block.shape} does not fit rows {self.row}.. of {self.shape}"
            )
        block.tofile(self.handle)
        self.row += len(block)

    def close(self) -> None:
        self.handle.close()
        if self.row != self.shape[0]:
            raise ValueError(f"{self.path}: {self.row} of {self.shape[0]} rows written")


class LogWriter:
    """Writes a log in `save_log`'s layout from consecutive slices of its sequences (each an EventLog with
    the whole log's categories), then its per-sequence tables. No event extras: a source read out of core
    (a Parquet log) has none to give, so such a log never carries an oracle."""

    def __init__(self, folder: Path, n_events: int, first: EventLog) -> None:
        self.folder, events = folder, folder / "events"
        self.arrays = [ArrayAppender(events / "time.npy", np.float64, (n_events,))]
        self.arrays += [
            ArrayAppender(events / f"categorical_{i}.npy", values.codes.dtype, (n_events,))
            for i, values in enumerate(first.categorical.values())
        ]
        self.arrays += [
            ArrayAppender(events / f"numeric_{i}.npy", np.float64, (n_events,))
            for i in range(len(first.numeric))
        ]
        self.meta = {
            "categorical": {name: [str(c) for c in v.categories] for name, v in first.categorical.items()},
            "numeric": list(first.numeric),
        }

    def append(self, part: EventLog) -> None:
        for appender, column in zip(self.arrays, log_arrays(part)):
            appender.append(column)

    def finish(self, sequences: EventLog, used: dict[str, set[str]] | None = None) -> None:
        """`sequences`: the whole log's per-sequence fields (ids, offsets, labels, groups, static, extras);
        `used`: per field, the categories the slices used, when they may be fewer than those they were coded
        with."""
        for appender in self.arrays:
            appender.close()
        for index, (name, categories) in enumerate(self.meta["categorical"].items()):
            if used is not None and len(used[name]) < len(categories):
                self.meta["categorical"][name] = self._drop_unused(index, categories, used[name])
        np.save(self.folder / "offsets.npy", sequences.offsets)
        np.save(self.folder / "labels.npy", sequences.labels)
        table = pd.DataFrame({"sequence_id": sequences.sequence_ids})
        if sequences.groups is not None:
            table["group"] = sequences.groups
        table.to_parquet(self.folder / "sequences.parquet", index=False)
        sequences.static.to_parquet(self.folder / "static.parquet", index=False)
        sequences.extras.reset_index(drop=True).to_parquet(self.folder / "extras.parquet", index=False)
        meta = self.meta | {
            "class_names": list(sequences.class_names),
            "has_groups": sequences.groups is not None,
        }
        (self.folder / "log.json").write_text(json.dumps(meta))

    def _drop_unused(self, index: int, categories: list[str], used: set[str]) -> list[str]:
        """Recode field `index` to the categories in `used` (order kept), one block of events at a time."""
        kept = [c for c in categories if c in used]
        lookup = np.full(len(categories) + 1, -1, dtype=code_width(len(kept)))  # last slot: missing (-1)
        lookup[[categories.index(c) for c in kept]] = np.arange(len(kept))
        path = self.folder / "events" / f"categorical_{index}.npy"
        old = np.load(path, mmap_mode="r")
        recoded = ArrayAppender(path.with_name(f".recoded-{path.name}"), lookup.dtype, old.shape)
        for start in range(0, len(old), 1 << 24):
            recoded.append(lookup[old[start : start + (1 << 24)]])
            release_pages(old)
        recoded.close()
        del old
        recoded.path.replace(path)
        return kept


def code_width(n_categories: int) -> type:
    """The integer type pandas gives the codes of a categorical with this many categories."""
    for width in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(width).max:
            return width
    return np.int64
