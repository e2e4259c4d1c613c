"""Running features for every position of a log, against cutting and re-aggregating each prefix, in one run.

    1. simulate ~--events events with the synthetic dataset's simulator (conf/data/synthetic.yaml), validate,
       split, fit the pipeline on the training part and take every event's token id: all untimed. The log
       gets a binary outcome (`dwell_s` above its median) so the performance-factors columns are timed too,
       with `page_type` as the known field of the predicted event.
    2. running path: `RunningFeatures.transform` over one row per position t >= 1 of every sequence (the row
       predicts event t from events 0..t-1), every streamed frame consumed.
    3. cut path, today's prefix machinery (`tasks/base.row_features`: `EventLog.cut` + the pipeline's
       `feature_table`), on a random sample of --cut-rows of the same rows (cutoff = t): its rate is
       extrapolated to all rows. It writes the sequence-level feature table (another set of columns): what
       is compared is the cost of answering the same rows, not the same columns.
    Each path runs --repeat times and the fastest run counts.

Targets (issue 25): running >= 20x the cut path and >= 1M positions/s, peak RSS < 4 GB at 10M events.
Run: python benchmarks/running_features.py --quick (a smoke run of a few seconds, sizes too small for the
targets: fixed costs dominate).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass, replace

import numpy as np
from pipeline import gb, max_rss, simulate, status_bytes, synthetic_spec

from behave.data.features.running import RunningFeatures, RunningRows, RunningSpec
from behave.data.ingestion.validate import validate
from behave.data.split import split_sequences
from behave.data.transforms.pipeline import FittedPipeline
from behave.tasks.base import row_features

TARGET_SPEED_UP = 20.0
TARGET_POSITIONS_PER_S = 1e6
TARGET_PEAK_BYTES = 4e9
CUT_BATCH = 5000  # rows cut at once on the cut path (its memory grows with rows x history)


def prepared_log(n_events: int, median_events: float | None = None):
    """(log, token ids, fitted pipeline, training sequences) of a simulated log with a binary outcome;
    `median_events` overrides the simulator's median sequence length."""
    with tempfile.TemporaryDirectory() as cache:
        spec = synthetic_spec(cache)
    if median_events is not None:
        spec.source["median_events"] = median_events
    raw = simulate(spec, n_events, "user")
    log, _ = validate(raw, spec)
    del raw
    dwell = log.numeric["dwell_s"]
    log.numeric["success"] = np.where(np.isnan(dwell), np.nan, (dwell > np.nanmedian(dwell)).astype(float))
    split = split_sequences(log, spec.split, strata=log.labels)
    fitted = FittedPipeline.fit(log.select(split.train), spec)
    return log, fitted.vocabulary.transform(log), fitted, split.train


def every_position(log) -> RunningRows:
    """One row per event position t >= 1 (the cut path needs at least one event of history)."""
    sequence = log.sequence_of_event()
    position = np.arange(log.n_events) - log.offsets[sequence]
    keep = position >= 1
    return RunningRows(sequence[keep], position[keep])


@dataclass(frozen=True)
class PathTiming:
    name: str
    rows: int
    columns: int
    wall_s: float
    cpu_s: float  # all threads

    def line(self, rows: int | None = None) -> str:
        """The table line; with `rows`, extrapolated to that many rows at the same rate."""
        scale = 1.0 if rows is None else rows / self.rows
        return (
            f"{self.name:<36}{rows or self.rows:>12,}{self.columns:>9}{self.wall_s * scale:>9.2f}"
            f"{self.cpu_s * scale:>8.2f}{self.rows / self.wall_s:>14,.0f}{self.rows / self.cpu_s:>14,.0f}"
        )


def time_running(log, token_ids, running: RunningFeatures, rows: RunningRows) -> PathTiming:
    """The running path's timing with every frame consumed."""
    wall, cpu, n_rows, n_columns = time.perf_counter(), time.process_time(), 0, 0
    for frame in running.transform(log, token_ids, rows):
        n_rows, n_columns = n_rows + len(frame), frame.shape[1]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return PathTiming("running features (all rows)", n_rows, n_columns, wall, cpu)


def time_cut(log, token_ids, fitted, rows: RunningRows, n_sample: int, seed: int) -> PathTiming:
    """Cutting and re-aggregating the prefixes of a random sample of the rows."""
    chosen = np.sort(np.random.default_rng(seed).choice(len(rows.sequence), n_sample, replace=False))
    wall, cpu, n_columns = time.perf_counter(), time.process_time(), 0
    for begin in range(0, n_sample, CUT_BATCH):
        batch = chosen[begin : begin + CUT_BATCH]
        table = row_features(fitted, log, token_ids, rows.sequence[batch], rows.position[batch])
        n_columns = table.shape[1]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return PathTiming("cut + re-aggregate (sample)", n_sample, n_columns, wall, cpu)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (/proc/loadavg)."""
    with open("/proc/loadavg") as averages:
        return " ".join(averages.read().split()[:3])


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    load_start = load_average()
    started = time.perf_counter()
    log, token_ids, fitted, train = prepared_log(args.events, args.median_events)
    rows = every_position(log)
    spec = RunningSpec(
        max_tokens=args.max_tokens,
        max_values=args.max_values,
        outcome="success",
        known=("page_type",),
        chunk_rows=args.chunk_rows,
    )
    train_log = log.select(train)
    train_ids = token_ids[log.event_positions(train)]
    running = RunningFeatures(spec, n_threads=args.threads)
    running.fit(train_log, train_ids, fitted.vocabulary.tokens_)
    del train_log, train_ids
    print(
        f"{log.n_events:,} events of {log.n_sequences:,} sequences, {len(rows.sequence):,} positions t >= 1 "
        f"(simulate, validate, fit, token ids: {time.perf_counter() - started:.0f} s, untimed); "
        f"{os.cpu_count()} CPUs, load average at the start {load_start}"
    )
    # The fastest of --repeat runs of each path: other jobs on shared cores only ever slow a run down.
    resident = status_bytes("VmRSS")
    running_path = min(
        (time_running(log, token_ids, running, rows) for _ in range(args.repeat)), key=lambda t: t.wall_s
    )
    n_sample = min(args.cut_rows, len(rows.sequence))
    cut_path = min(
        (time_cut(log, token_ids, fitted, rows, n_sample, args.seed) for _ in range(args.repeat)),
        key=lambda timing: timing.wall_s,
    )
    running_rate = running_path.rows / running_path.wall_s
    speed_up = running_rate / (cut_path.rows / cut_path.wall_s)
    print(
        f"\n{'path':<36}{'positions':>12}{'columns':>9}{'wall s':>9}{'cpu s':>8}{'positions/s':>14}"
        f"{'per cpu s':>14}\n{running_path.line()}\n{cut_path.line()}\n"
        f"{replace(cut_path, name='cut + re-aggregate (extrapolated)').line(running_path.rows)}\n"
        f"mean history of a row: {rows.position.mean():.1f} events (the cut path's work grows with it)\n"
    )
    cpu_speed_up = (running_path.rows / running_path.cpu_s) / (cut_path.rows / cut_path.cpu_s)
    print(
        f"speed-up {speed_up:.1f}x wall ({cpu_speed_up:.1f}x per cpu second)  vs {TARGET_SPEED_UP:.0f}x  "
        f"{verdict(speed_up >= TARGET_SPEED_UP)}"
    )
    print(
        f"running positions/s {running_rate / 1e6:.2f}M  vs 1M  "
        f"{verdict(running_rate >= TARGET_POSITIONS_PER_S)}"
    )
    print(
        f"resident before the running path {gb(resident)} (log, token ids, rows, fitted pipeline); max RSS "
        f"of the whole run {gb(max_rss())} (simulator and cut path included)  vs 4 GB  "
        f"{verdict(max_rss() < TARGET_PEAK_BYTES)}"
    )
    print(f"load average at the end {load_average()}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--cut-rows", type=int, default=50_000, help="rows timed on the cut path")
    parser.add_argument("--chunk-rows", type=int, default=RunningSpec.chunk_rows)
    parser.add_argument(
        "--median-events",
        type=float,
        default=None,
        help="the simulator's median sequence length (default 30): longer histories cost the cut path more",
    )
    parser.add_argument("--max-tokens", type=int, default=RunningSpec.max_tokens)
    parser.add_argument("--max-values", type=int, default=RunningSpec.max_values)
    parser.add_argument("--repeat", type=int, default=3, help="run each path this often, keep the fastest")
    parser.add_argument("--threads", type=int, default=2, help="threads of the running path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="200k events, cut path on 2k rows, once: a smoke run"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.cut_rows, args.repeat = 200_000, 2_000, 1
    return args


if __name__ == "__main__":
    main()
