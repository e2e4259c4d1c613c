"""The one pipeline: what is learned from the training split, and how it turns any log into both views.

`FittedPipeline` holds the vocabulary, numeric scaler and feature builder, all fitted on train only, and
transforms any `EventLog` (val, test, or a new file at predict time) into (a) index sequences for the
neural models and (b) the tabular feature matrix for the tree models, without refitting anything.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from behave.data.event_log import EventLog
from behave.data.features import FeatureBuilder
from behave.data.sequences import NumericScaler, SequenceStore
from behave.data.spec import DatasetSpec, FeatureSpec, SequenceSpec
from behave.data.vocabulary import UNK, Vocabulary


@dataclass(frozen=True)
class Views:
    """Both model families' inputs for the same sequences, in the same row order."""

    sequences: SequenceStore
    features: pd.DataFrame
    unknown_rate: float  # share of events whose token is <unk>


@dataclass
class FittedPipeline:
    vocabulary: Vocabulary
    scaler: NumericScaler
    features: FeatureBuilder
    class_names: list[str]
    # Static attributes reach the RNN head as the feature builder's `static.*` columns, standardised with
    # training mean/std: {column: [mean, std]}.
    static_scaling: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def fit(cls, train: EventLog, spec: DatasetSpec) -> FittedPipeline:
        with ThreadPoolExecutor(max_workers=1) as pool:
            # The scaler needs nothing from the vocabulary: it fits alongside (numpy releases the GIL).
            scaler = pool.submit(NumericScaler(spec.sequences, list(spec.schema.numeric)).fit, train)
            vocabulary = Vocabulary(spec.tokens)
            train_ids = vocabulary.fit_transform(train)
            builder = FeatureBuilder(spec.features).fit(train, train_ids, vocabulary.tokens_)
        static_scaling = {}
        if any(name.startswith(STATIC_PREFIX) for name in builder.feature_names):
            train_static = _static_columns(builder.transform(train, train_ids))
            static_scaling = {c: [float(train_static[c].mean()), float(train_static[c].std(ddof=0)) or 1.0]
                              for c in train_static.columns}
        return cls(vocabulary, scaler.result(), builder, list(train.class_names), static_scaling)

    def transform(self, log_: EventLog) -> Views:
        with ThreadPoolExecutor(max_workers=1) as pool:
            numeric = pool.submit(self.scaler.transform, log_)  # independent of the tokens: runs alongside
            token_ids = self.vocabulary.transform(log_)
            features = self.features.transform(log_, token_ids)
        store = SequenceStore(
            offsets=log_.offsets,
            tokens=token_ids.astype(np.int32),
            numeric=numeric.result(),
            labels=log_.labels,
            static=self.static_inputs(features),
        )
        unknown = float(np.mean(token_ids == UNK)) if len(token_ids) else 0.0
        return Views(store, features, unknown)

    def static_inputs(self, features: pd.DataFrame) -> np.ndarray:
        """(S, D) standardised static attributes for the RNN head (D = 0 without static fields)."""
        if not self.static_scaling:
            return np.zeros((len(features), 0), np.float32)
        columns = list(self.static_scaling)
        mean = np.array([self.static_scaling[c][0] for c in columns])
        std = np.array([self.static_scaling[c][1] for c in columns])
        return ((features[columns].to_numpy(dtype=np.float64) - mean) / std).astype(np.float32)

    def state_dict(self) -> dict:
        return {
            "vocabulary": self.vocabulary.to_json(),
            "scaler": self.scaler.state_dict(),
            "features": self.features.state_dict(),
            "class_names": self.class_names,
            "static_scaling": self.static_scaling,
        }

    @classmethod
    def from_state_dict(cls, state: dict, spec: DatasetSpec) -> FittedPipeline:
        return cls(
            Vocabulary.from_json(state["vocabulary"]),
            NumericScaler.from_state_dict(state["scaler"], spec.sequences or SequenceSpec()),
            FeatureBuilder.from_state_dict(state["features"]) if state["features"] else FeatureBuilder(FeatureSpec()),
            state["class_names"],
            state.get("static_scaling", {}),
        )


STATIC_PREFIX = "static."


def _static_columns(features: pd.DataFrame) -> pd.DataFrame:
    return features[[c for c in features.columns if c.startswith(STATIC_PREFIX)]]
