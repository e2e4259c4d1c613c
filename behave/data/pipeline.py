"""The one pipeline: what is learned from the training split, and how it turns any log into model inputs.

`FittedPipeline` holds the vocabulary, the per-event numeric scaler, the static-attribute encoder and the
feature builder, all fitted on train only. It never refits. It turns a log into:

- `encode_events`: the task-free per-event inputs of the neural models (token ids, scaled numerics, codes
  of the other categorical fields);
- `static_inputs`: the per-sequence static inputs of the neural head;
- `features`: the tabular feature matrix of the tree models, for whatever rows a task cut the log into
  (`EventLog.cut`), from the same token ids. Both families therefore see the same events of each row.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from behave.data.event_fields import EventFieldCodes, embedded_fields
from behave.data.event_log import EventLog
from behave.data.features.builder import FeatureBuilder
from behave.data.sequences import NumericScaler, SequenceStore
from behave.data.spec import DatasetSpec, SequenceSpec
from behave.data.static import StaticEncoder
from behave.data.vocabulary import Vocabulary


@dataclass
class FittedPipeline:
    vocabulary: Vocabulary
    scaler: NumericScaler
    event_fields: EventFieldCodes
    static: StaticEncoder
    features: FeatureBuilder
    class_names: list[str]

    @classmethod
    def fit(cls, train: EventLog, spec: DatasetSpec) -> FittedPipeline:
        with ThreadPoolExecutor(max_workers=1) as pool:
            # The scaler needs nothing from the vocabulary: it fits alongside (numpy releases the GIL).
            scaler = pool.submit(NumericScaler(spec.sequences, list(spec.schema.numeric)).fit, train)
            vocabulary = Vocabulary(spec.tokens)
            train_ids = vocabulary.fit_transform(train)
            static = StaticEncoder(spec.static).fit(train.static)
            builder = FeatureBuilder(spec.features).fit(train, train_ids, vocabulary.tokens_, static)
        fields = EventFieldCodes(embedded_fields(spec), spec.sequences.max_field_values).fit(train)
        return cls(vocabulary, scaler.result(), fields, static, builder, list(train.class_names))

    def encode_events(self, log_: EventLog) -> SequenceStore:
        """The neural models' per-event inputs for every event of `log_` (independent of any task)."""
        with ThreadPoolExecutor(max_workers=1) as pool:
            numeric = pool.submit(self.scaler.transform, log_)  # independent of the tokens: runs alongside
            token_ids = self.vocabulary.transform(log_)
        return SequenceStore(
            offsets=log_.offsets,
            tokens=token_ids.astype(np.int32),
            numeric=numeric.result(),
            fields=self.event_fields.transform(log_),
        )

    def static_inputs(self, log_: EventLog) -> np.ndarray:
        """(S, D) standardised / one-hot static attributes for the neural head (D = 0 without any)."""
        return self.static.transform(log_.static)

    def feature_table(self, rows: EventLog, token_ids: np.ndarray) -> pd.DataFrame:
        """(R, n_features) tabular features of each row of `rows` (a log, or a log cut into task rows)."""
        return self.features.transform(rows, token_ids)

    def state_dict(self) -> dict:
        return {
            "vocabulary": self.vocabulary.to_json(),
            "scaler": self.scaler.state_dict(),
            "event_fields": self.event_fields.state_dict(),
            "static": self.static.state_dict(),
            "features": self.features.state_dict(),
            "class_names": self.class_names,
        }

    @classmethod
    def from_state_dict(cls, state: dict, spec: DatasetSpec) -> FittedPipeline:
        return cls(
            Vocabulary.from_json(state["vocabulary"]),
            NumericScaler.from_state_dict(state["scaler"], spec.sequences or SequenceSpec()),
            EventFieldCodes.from_state_dict(state["event_fields"]),
            StaticEncoder.from_state_dict(state["static"]),
            FeatureBuilder.from_state_dict(state["features"]),
            state["class_names"],
        )
