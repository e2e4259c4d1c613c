"""Out-of-core preparation of a log larger than memory, for `benchmarks/pipeline.py --out-of-core`.

1. write ~--events simulated events as a folder of Parquet files, generated in slices of 10M events
   (untimed; `--parquet-dir` keeps the folder for the next run)
2. prepare it out of core in a child process (so its peak RSS is its own): partition by sequence id,
   validate, split, fit on train, transform, write the cache, then the tabular features of every
   sequence as task=sequence builds them; report events/s, peak RSS and the disk the cache takes
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from hydra.utils import instantiate
from omegaconf import OmegaConf

SLICE_EVENTS = 10_000_000
TARGET_EVENTS_PER_S = 1e6
TARGET_PEAK_BYTES = 4e9


def write_simulated_parquet(spec, n_events: int, folder: Path) -> tuple[int, int]:
    """About `n_events` simulated events as Parquet files of one slice of users each, plus one label file.

    Each slice is an independent simulator run with its own seed; user ids are shifted so slices never
    share a user. Returns (events, users). A folder that already holds a complete log is reused as it is.
    """
    done = folder / "log.json"
    if done.exists():
        meta = json.loads(done.read_text())
        return meta["events"], meta["users"]
    (folder / "events").mkdir(parents=True, exist_ok=True)
    pilot_users = 2000
    pilot = instantiate(spec.source, n_users=pilot_users, seed=1).load()
    users_per_event = pilot_users / len(pilot.events)
    labels, written, users = [], 0, 0
    for index in range(max(1, round(n_events / SLICE_EVENTS))):
        want = min(SLICE_EVENTS, n_events - written) if index else min(SLICE_EVENTS, n_events)
        n_users = max(100, round(want * users_per_event))
        raw = instantiate(spec.source, n_users=n_users, seed=100 + index).load()
        events = raw.events
        events["user_id"] += users
        raw.labels["user_id"] += users
        events.to_parquet(folder / "events" / f"part-{index:03d}.parquet", index=False)
        labels.append(raw.labels)
        written, users = written + len(events), users + len(raw.labels)
        print(f"  slice {index}: {len(events):,} events, {written:,} in all", flush=True)
        del raw, events
    pd.concat(labels, ignore_index=True).to_parquet(folder / "labels.parquet", index=False)
    done.write_text(json.dumps({"events": written, "users": users}))
    return written, users


class MemorySampler:
    """Resident memory sampled every 0.2 s on a thread (the peak of one stretch of the run); every 5 s also
    the size of the cache folder (the cache and its temporary partitions), with a line on stderr beside the
    preparation's step lines."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.peak, self.peak_disk, self.running = folder, 0, 0, True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        started = time.perf_counter()
        last = started
        while self.running:
            rss = resident_bytes()
            self.peak = max(self.peak, rss)
            if time.perf_counter() - last >= 5:
                last = time.perf_counter()
                disk = folder_bytes(self.folder)
                self.peak_disk = max(self.peak_disk, disk)
                seconds = last - started
                line = f"    [{seconds:5.0f} s] resident {rss / 1e9:.2f} GB, cache folder {disk / 1e9:.1f} GB"
                print(line, file=sys.stderr, flush=True)
            time.sleep(0.2)

    def stop(self) -> None:
        self.running = False
        self.thread.join()


def folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(FileNotFoundError):  # temporary files come and go while sampling
            total += path.stat().st_size if path.is_file() else 0
    return total


def resident_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def prepare_in_child(spec, folder: Path, memory_cap_gb: float) -> dict:
    """Run `child_main` on the log in `folder` with the data config of `spec` (a DatasetSpec), in a fresh
    process (its peak RSS is then its own), and return what it measured."""
    data_config = OmegaConf.to_container(OmegaConf.structured(spec), enum_to_str=True)
    (folder / "data_config.json").write_text(json.dumps(data_config))
    command = [sys.executable, __file__, str(folder), str(memory_cap_gb)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the out-of-core preparation failed:\n{done.stdout}\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["log"] = done.stderr
    return result


def child_main(folder: Path, memory_cap_gb: float) -> None:
    """Prepare the log in `folder` out of core into a fresh cache, then build task=sequence's features."""
    import logging
    import tempfile

    from behave.data.config import dataset_spec
    from behave.data.sources.files import FileSource
    from behave.data.storage.prepared import prepare
    from behave.tasks.dataset import task_cache
    from behave.tasks.sequence import SequenceTask

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory(dir=folder) as cache_dir:
        data_config = json.loads((folder / "data_config.json").read_text())
        spec = dataset_spec({**data_config, "cache_dir": cache_dir})
        source = FileSource(
            str(folder / "events"),
            str(folder / "labels.parquet"),
            categorical=spec.schema.categorical,
            out_of_core=True,
            memory_cap_gb=memory_cap_gb,
        )
        sampler = MemorySampler(Path(cache_dir))
        started = time.perf_counter()
        base = prepare(spec, source)
        prepared_s, prepare_peak = time.perf_counter() - started, sampler.peak
        features = task_cache(base, SequenceTask()) / "features.parquet"
        total_s = time.perf_counter() - started
        disk = folder_bytes(Path(cache_dir))
        sampler.stop()
        metadata = pq.ParquetFile(features).metadata
        result = {
            "events": base.log.n_events,
            "sequences": base.log.n_sequences,
            "partitions": base.card["out_of_core"]["partitions"],
            "features": [metadata.num_rows, metadata.num_columns],
            "prepare_s": prepared_s,
            "total_s": total_s,
            "cache_bytes": disk,
            "peak_disk_bytes": max(sampler.peak_disk, disk),
            "prepare_peak_rss_bytes": prepare_peak,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "load_average": os.getloadavg(),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    child_main(Path(sys.argv[1]), float(sys.argv[2]))
