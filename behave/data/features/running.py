"""Running (causal) tabular features for per-event rows, for all positions at once.

A row (sequence s, position t) predicts event t of s from its events 0..t-1, plus the `known` fields of
event t itself (the question's skill when predicting its outcome). Every column is a running statistic over
the log's one sort order: an exclusive cumulative sum (or a running maximum of positions) per column over
the events, read at each row's event and at its sequence's start. No prefix is ever cut and re-aggregated,
so the cost is O(events + rows) per column, not O(rows x history). Nothing of event t is read but its
position and its known fields (and its time with `time_known`); nothing after it is read at all. So a row
may also predict the event after a sequence's last (position == length: a live sequence's next event, which
behave-predict scores): its known fields and (`time_known`) its time are then unknown, NaN.

Columns, in order (`v` = top training values of a field, then (other), then (missing) if train had any):

    position, gap_s, elapsed_s                   shape: history length, last gap, time since the first event
    so_far.token_count[tok]                      top spec.max_tokens training tokens + (other)
    so_far.f_count[v]                            every categorical field f
    so_far.y_{successes,failures}                with spec.outcome y (binary numeric: 1, 0, NaN = neither)
    so_far.f_{successes,failures}[v], so_far.f_{successes,failures}[current]
                                                 per known field f: per value, and on event t's own value
    events_since.f[v], seconds_since.f[v]        each top value of each field; NaN where it never occurred
    last{j}.token, last{j}.f   (j = 1..last_k)   pandas categoricals (vocabulary tokens / field levels)
    known.f                                      event t's known field, a pandas categorical

Times are measured to the last history event (t - 1), or to event t itself with `time_known` (when the
question's time is known before its answer). `transform` streams frames of `spec.chunk_rows` rows, so the
peak memory is bounded whatever the number of rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from behave.data.event_log import EventLog
from behave.data.features.kinds import FeatureKind
from behave.data.features.running_columns import chunk_events
from behave.data.features.state import FIRST_REAL_TOKEN
from behave.data.transforms.levels import OTHER, Levels, fit_levels

SHAPE = ["position", "gap_s", "elapsed_s"]
TOKEN = "token"  # the last-k columns' name for the event token


@dataclass(frozen=True)
class RunningSpec:
    """What the running features count. `known` and `outcome` name event fields of the log."""

    max_tokens: int = 20
    max_values: int = 10
    last_k: int = 3
    outcome: str | None = None
    known: tuple[str, ...] = ()
    time_known: bool = False
    chunk_rows: int = 32_768  # small enough that a column's passes over a chunk stay in cache


@dataclass(frozen=True)
class RunningRows:
    """R rows: row r predicts event `position[r]` of sequence `sequence[r]` (both (R,) int64)."""

    sequence: np.ndarray
    position: np.ndarray


@dataclass
class RunningFeatures:
    """Fit on the training log (which tokens and values get columns), then stream any log's row features."""

    spec: RunningSpec = field(default_factory=RunningSpec)
    n_threads: int = 2  # a runtime setting: column blocks are filled on threads (numpy releases the GIL)
    top_tokens_: list[int] = field(default_factory=list)
    tokens_: list[str] = field(default_factory=list)
    levels_: dict[str, Levels] = field(default_factory=dict)

    def fit(self, train: EventLog, token_ids: np.ndarray, tokens: list[str]) -> RunningFeatures:
        """`token_ids` (N,) the vocabulary's ids of `train`'s events, `tokens` id -> token string."""
        self._check_fields(train)
        counts = np.bincount(np.asarray(token_ids, dtype=np.int64), minlength=len(tokens))
        counts[:FIRST_REAL_TOKEN] = 0
        order = np.argsort(-counts, kind="stable")[: self.spec.max_tokens]
        self.top_tokens_ = [int(i) for i in order if counts[i] > 0]
        self.tokens_ = list(tokens)
        self.levels_ = {
            name: fit_levels(values, self.spec.max_values, train.category_counts(name))
            for name, values in train.categorical.items()
        }
        names = [name for _, block in self._blocks() for name in block] + [
            n for _, n in self._categorical_names()
        ]
        duplicated = sorted(name for name, count in Counter(names).items() if count > 1)
        if duplicated:
            raise ValueError(
                f"running feature names collide (rename the fields or values): {duplicated[:10]}"
            )
        return self

    def state(self) -> dict:
        """What `fit` learned, as JSON data: the counted tokens (vocabulary ids) and each field's levels."""
        return {
            "top_tokens": list(self.top_tokens_),
            "levels": {
                name: {"values": lv.values, "has_missing": lv.has_missing}
                for name, lv in self.levels_.items()
            },
        }

    @classmethod
    def restored(cls, spec: RunningSpec, state: dict, tokens: list[str]) -> RunningFeatures:
        """Features fitted earlier (`state()`), over the vocabulary `tokens` they were fitted with: a new log
        gets the training columns, nothing refitted."""
        levels = {
            name: Levels(list(lv["values"]), bool(lv["has_missing"])) for name, lv in state["levels"].items()
        }
        return cls(
            spec, top_tokens_=[int(i) for i in state["top_tokens"]], tokens_=list(tokens), levels_=levels
        )

    # --- columns ------------------------------------------------------------------------------------
    def _blocks(self) -> list[tuple[FeatureKind, list[str]]]:
        """The numeric columns, block by block, with their kind (the categorical ones follow them)."""
        token_labels = [self.tokens_[i] for i in self.top_tokens_] + [OTHER]
        blocks = [
            (FeatureKind.SHAPE, SHAPE),
            (FeatureKind.TOKENS, [f"so_far.token_count[{t}]" for t in token_labels]),
        ]
        fields = [f"so_far.{f}_count[{v}]" for f, levels in self.levels_.items() for v in levels.labels]
        blocks.append((FeatureKind.FIELD_COUNTS, fields))
        if self.spec.outcome is not None:
            y = self.spec.outcome
            names = [f"so_far.{y}_successes", f"so_far.{y}_failures"]
            for f in self.spec.known:
                for kind in ("successes", "failures"):
                    names += [f"so_far.{f}_{kind}[{v}]" for v in self.levels_[f].labels]
                    names.append(f"so_far.{f}_{kind}[current]")
            blocks.append((FeatureKind.PERFORMANCE, names))
        recency = [
            f"{what}.{f}[{v}]" for f, lv in self.levels_.items() for v in lv.values
            for what in ("events_since", "seconds_since")
        ]  # fmt: skip
        return [*blocks, (FeatureKind.RECENCY, recency)]

    def _categorical_names(self) -> list[tuple[FeatureKind, str]]:
        last = [
            f"last{j}.{name}" for j in range(1, self.spec.last_k + 1) for name in ["token", *self.levels_]
        ]
        return [(FeatureKind.RECENCY, n) for n in last] + [
            (FeatureKind.KNOWN, f"known.{f}") for f in self.spec.known
        ]

    @property
    def feature_names(self) -> list[str]:
        return list(self.feature_kinds)

    @property
    def feature_kinds(self) -> dict[str, str]:
        """Each column's kind (a `FeatureKind` label), in column order."""
        kinds = {name: kind.value for kind, names in self._blocks() for name in names}
        kinds.update((name, kind.value) for kind, name in self._categorical_names())
        return kinds

    # --- transform ----------------------------------------------------------------------------------
    def transform(self, log: EventLog, token_ids: np.ndarray, rows: RunningRows) -> Iterator[pd.DataFrame]:
        """Frames of at most `spec.chunk_rows` rows, in event order, each indexed by its rows' positions in
        `rows`; concatenated and sorted by index they give one row per input row."""
        if not self.tokens_:  # (a log without categorical fields fits no levels, but always tokens)
            raise RuntimeError("RunningFeatures is not fitted: call fit() on the training log first")
        self._check_fields(log)
        token_ids = np.asarray(token_ids)
        if token_ids.shape != (log.n_events,):
            raise ValueError(f"token_ids has shape {token_ids.shape}, expected ({log.n_events},)")
        sequence, position = _checked_rows(log, rows)
        # Event order, a live row (position == length) after its sequence's events and before the next's.
        slot = log.offsets[sequence] + position + sequence
        order = np.arange(len(slot)) if np.all(slot[1:] >= slot[:-1]) else np.argsort(slot, kind="stable")
        # Built once: a categorical's levels (strings) cost more to build than a chunk's codes.
        categories = {TOKEN: pd.CategoricalDtype(self.tokens_)}
        categories.update((name, pd.CategoricalDtype(lv.labels)) for name, lv in self.levels_.items())
        for start in range(0, len(order), self.spec.chunk_rows):
            chosen = order[start : start + self.spec.chunk_rows]
            yield self._chunk(log, token_ids, sequence[chosen], position[chosen], chosen, categories)

    def _chunk(self, log, token_ids, sequence, position, index, categories) -> pd.DataFrame:
        chunk = chunk_events(
            log,
            token_ids,
            sequence,
            position,
            self.top_tokens_,
            len(self.tokens_),
            self.levels_,
            self.spec.outcome,
        )
        names = [name for _, block in self._blocks() for name in block]
        column = {name: i for i, name in enumerate(names)}
        out = np.empty((len(sequence), len(names)), dtype=np.float32, order="F")

        def block(first: str, width: int) -> np.ndarray:
            return out[:, column[first] : column[first] + width]

        token_width, time_known = len(self.top_tokens_) + 1, self.spec.time_known
        jobs = [
            lambda: chunk.shape(block(SHAPE[0], len(SHAPE)), time_known),
            lambda: chunk.counts(block(names[len(SHAPE)], token_width), chunk.tokens, None, time_known),
        ]
        for name, levels in self.levels_.items():
            counts = block(f"so_far.{name}_count[{levels.labels[0]}]", levels.width)
            n_top = len(levels.values)
            recency = block(f"events_since.{name}[{levels.values[0]}]", 2 * n_top) if n_top else None
            jobs.append(partial(chunk.counts, counts, chunk.fields[name], recency, time_known))
        if self.spec.outcome is not None:
            first = f"so_far.{self.spec.outcome}_successes"
            known = [(chunk.fields[name], self.levels_[name].width) for name in self.spec.known]
            jobs.append(partial(chunk.performance, out[:, column[first] :], known))
        _run(jobs, self.n_threads)
        frame = pd.DataFrame(out, columns=names, index=index, copy=False)
        for j in range(1, self.spec.last_k + 1):
            frame[f"last{j}.token"] = chunk.last(chunk.token_ids, j, categories[TOKEN])
            for name in self.levels_:
                frame[f"last{j}.{name}"] = chunk.last(chunk.fields[name], j, categories[name])
        for name in self.spec.known:
            codes = chunk.fields[name][chunk.row_event]
            frame[f"known.{name}"] = pd.Categorical.from_codes(codes, dtype=categories[name])
        return frame

    def _check_fields(self, log: EventLog) -> None:
        spec = self.spec
        for name in spec.known:
            if name not in log.categorical:
                raise KeyError(
                    f"known field '{name}' is not a categorical event field ({list(log.categorical)})"
                )
        if spec.outcome is not None:
            if spec.outcome not in log.numeric:
                raise KeyError(
                    f"outcome field '{spec.outcome}' is not a numeric event field ({list(log.numeric)})"
                )
            values = log.numeric[spec.outcome]
            if not np.isin(values[~np.isnan(values)], (0.0, 1.0)).all():
                raise ValueError(f"outcome field '{spec.outcome}' must hold 0, 1 or missing values only")


def _checked_rows(log: EventLog, rows: RunningRows) -> tuple[np.ndarray, np.ndarray]:
    sequence, position = np.asarray(rows.sequence, np.int64), np.asarray(rows.position, np.int64)
    if sequence.shape != position.shape or sequence.ndim != 1:
        raise ValueError("rows.sequence and rows.position must be (R,) arrays of the same length")
    if len(sequence) and (sequence.min() < 0 or sequence.max() >= log.n_sequences):
        raise ValueError(f"rows.sequence must lie in [0, {log.n_sequences}) (the log's sequences)")
    if len(sequence) and ((position < 0) | (position > log.lengths[sequence])).any():
        raise ValueError(
            "rows.position must lie in 0..length of its sequence (length: the event after the last)"
        )
    return sequence, position


def _run(jobs: list[Callable[[], None]], n_threads: int) -> None:
    """Run the jobs (each fills its own columns) on up to `n_threads` threads."""
    if n_threads <= 1:
        for job in jobs:
            job()
        return
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        for done in [pool.submit(job) for job in jobs]:
            done.result()
