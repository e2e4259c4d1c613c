"""Hand-engineered tabular features for the tree models, from the same events and vocabulary as the RNNs.

`FeatureBuilder.fit` learns from the training log only which tokens, categorical values and bigrams get
columns; `transform` never refits and always returns the same float32 columns in the same order
(values unseen in fit count only towards OTHER columns). The output has no NaN or inf: statistics
of nothing (gaps of a one-event sequence, a numeric field never present) are 0.

Columns, in order (`k` = spec.last_k, `1d` = spec.last_window_s written as a duration):

    n_events, duration_s, gap_s_{mean,std,min,max}, start_hour_utc, start_weekday_utc, last_1d.n_events
    token_count[tok] / token_share[tok]      top spec.max_token_features training tokens + [(other)]
    distinct_tokens
    per categorical field f (values v: top spec.max_values_per_field + (other) + (missing) if train had any):
        f_count[v], f_share[v], distinct.f, first.f[v], last.f[v], last{k}.f_count[v]
        + last_1d.f_count[v] for the first categorical field only (the event-type-like one)
    per numeric field x: x_{count,sum,mean,std,min,max}, first.x, last.x (+ first/last.x_missing)
    bigram_count[a -> b]                     top spec.top_bigrams training bigrams within sequences
    static.c (numeric, + static.c_missing), static.c[v] (categorical one-hot)

Everything is vectorised over integer codes in the log's one sort order (see `segments.py`);
the groups of columns are filled on `n_threads` threads (numpy releases the GIL in the heavy calls).
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, is_dataclass

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from behave.data.event_log import EventLog
from behave.data.features.encodings import (
    FeatureSet,
    feature_set_from_record,
    feature_set_record,
    is_default,
)
from behave.data.features.fields import CategoricalField, EventInputs, FeatureGroup, NumericField
from behave.data.features.groups import (
    Bigrams,
    SequenceShape,
    StaticCategorical,
    StaticNumeric,
    TokenCounts,
)
from behave.data.features.segments import Segments
from behave.data.features.state import (
    FeatureState,
    FieldCounts,
    TokenFrequencies,
    fit_state,
    state_from_counts,
)
from behave.data.spec import FeatureSpec
from behave.data.transforms.static import StaticEncoder


@dataclass
class FeatureBuilder:
    """Fit on the training log, then transform any log into an (S, n_features) float32 frame."""

    spec: FeatureSpec
    n_threads: int = 2  # a runtime setting, not part of the saved state
    state_: FeatureState | None = None
    # Which of the fitted state's columns a row gets (`encodings.py`); None: every group below.
    encoding: FeatureSet | None = None

    def fit(
        self, train: EventLog, token_ids: np.ndarray, tokens: list[str], static: StaticEncoder | None = None
    ) -> FeatureBuilder:
        """Learn the columns from `train` only. `token_ids` (N,) int64 vocabulary ids, `tokens` id -> str,
        `static` the pipeline's fitted encoder of static attributes (fitted here on `train` when None)."""
        static = static or StaticEncoder().fit(train.static)
        token_ids = _checked_token_ids(train, token_ids, len(tokens))
        return self._fitted_to(fit_state(self.spec, train, token_ids, tokens, static))

    def fit_counts(
        self, fields: FieldCounts, counts: TokenFrequencies, tokens: list[str], static: StaticEncoder
    ) -> FeatureBuilder:
        """Learn the columns from counts over the training log (summed over its parts, see train_parts.py)."""
        return self._fitted_to(state_from_counts(self.spec, fields, counts, tokens, static))

    def _fitted_to(self, state: FeatureState) -> FeatureBuilder:
        self.state_ = state
        duplicated = [name for name, count in Counter(self.feature_names).items() if count > 1]
        if duplicated:
            raise ValueError(f"feature names collide (rename the fields or values): {duplicated[:10]}")
        return self

    def transform(self, log: EventLog, token_ids: np.ndarray) -> pd.DataFrame:
        """(S, n_features) float32 frame with a positional index, columns = `feature_names`."""
        groups = self._groups()
        names = [name for group in groups for name in group.names()]
        out = np.zeros((log.n_sequences, len(names)), dtype=np.float32, order="F")
        if log.n_sequences > 0:
            self._check_inputs(log)
            token_ids = _checked_token_ids(log, token_ids, self.state_.n_tokens)
            segments = Segments.from_offsets(log.offsets)
            window_starts = segments.window_starts(log.time, float(self.spec.last_window_s))
            inputs = EventInputs(log, token_ids, segments, window_starts)
            _fill_groups(groups, inputs, out, self.n_threads)
        # copy=False: the column-major array already is pandas' block layout, so no second copy is made.
        return pd.DataFrame(out, columns=names, copy=False)

    @property
    def feature_names(self) -> list[str]:
        return [name for group in self._groups() for name in group.names()]

    @property
    def feature_kinds(self) -> dict[str, str]:
        """Each column's kind (a `FeatureKind` label) as its feature group declares it, in column order."""
        kinds = {}
        for group in self._groups():
            names, declared = group.names(), group.kinds()
            if len(names) != len(declared):
                raise RuntimeError(
                    f"{type(group).__name__} declares {len(declared)} kinds for {len(names)} columns"
                )
            kinds.update((name, kind.value) for name, kind in zip(names, declared))
        return kinds

    def state_dict(self) -> dict:
        """JSON-serialisable spec and fitted state."""
        saved = {"spec": _spec_dict(self.spec), "state": self._fitted().to_dict()}
        if not is_default(self.encoding):  # the default's saved state stays as it always was
            saved["encoding"] = feature_set_record(self.encoding)
        return saved

    @classmethod
    def from_state_dict(cls, state: dict) -> FeatureBuilder:
        encoding = feature_set_from_record(state["encoding"]) if "encoding" in state else None
        return cls(
            spec=FeatureSpec(**state["spec"]),
            state_=FeatureState.from_dict(state["state"]),
            encoding=encoding,
        )

    def _fitted(self) -> FeatureState:
        if self.state_ is None:
            raise RuntimeError("FeatureBuilder is not fitted: call fit() on the training log first")
        return self.state_

    def _groups(self) -> list[FeatureGroup]:
        state = self._fitted()
        chosen = None if self.encoding is None else self.encoding.groups(state)
        if chosen is not None:
            return chosen
        window_s = float(self.spec.last_window_s)
        return [
            SequenceShape(window_s=window_s),
            TokenCounts(n_tokens=state.n_tokens, token_ids=state.token_ids, token_names=state.token_names),
            *[
                CategoricalField(f, levels, self.spec.last_k, window_s if f == state.window_field else None)
                for f, levels in state.categorical.items()
            ],
            *[NumericField(f, has_missing) for f, has_missing in state.numeric_has_missing.items()],
            Bigrams(n_tokens=state.n_tokens, pairs=state.bigrams, pair_names=state.bigram_names),
            StaticNumeric(has_missing=state.static_numeric_has_missing),
            StaticCategorical(levels=state.static_categorical),
        ]

    def _check_inputs(self, log: EventLog) -> None:
        state = self._fitted()
        needed = {
            "categorical field": (state.categorical, log.categorical),
            "numeric field": (state.numeric_has_missing, log.numeric),
            "static column": ({**state.static_numeric_has_missing, **state.static_categorical}, log.static),
        }
        for kind, (fitted, present) in needed.items():
            missing = [name for name in fitted if name not in present]
            if missing:
                raise KeyError(f"{kind}s seen in fit but absent from this log: {missing}")


def _fill_groups(groups: list[FeatureGroup], inputs: EventInputs, out: np.ndarray, n_threads: int) -> None:
    """Let every group fill its own column slice of `out` (S, n_features), on up to `n_threads` threads."""
    bounds = np.cumsum([0] + [len(group.names()) for group in groups])
    jobs = [(group, out[:, start:stop]) for group, start, stop in zip(groups, bounds[:-1], bounds[1:])]
    if n_threads <= 1:
        for group, columns in jobs:
            group.fill(inputs, columns)
        return
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        for done in [pool.submit(group.fill, inputs, columns) for group, columns in jobs]:
            done.result()


def _checked_token_ids(log: EventLog, token_ids: np.ndarray, n_tokens: int) -> np.ndarray:
    """(N,) int64 ids, each a valid index into the vocabulary the builder was fitted with."""
    token_ids = np.asarray(token_ids, dtype=np.int64)
    if token_ids.shape != (log.n_events,):
        raise ValueError(
            f"token_ids has shape {token_ids.shape}, expected ({log.n_events},): one id per event"
        )
    if len(token_ids) and (token_ids.min() < 0 or token_ids.max() >= n_tokens):
        raise ValueError(f"token ids must lie in [0, {n_tokens}) (the fitted vocabulary's size)")
    return token_ids


def _spec_dict(spec) -> dict:
    """The spec as plain data, whether it came as the dataclass or as Hydra's DictConfig."""
    return asdict(spec) if is_dataclass(spec) else OmegaConf.to_container(spec, resolve=True)
