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

from behave.data.event_log import EventLog
from behave.data.features.builder import FeatureBuilder
from behave.data.features.segments import Segments
from behave.data.features.state import FieldCounts, TokenFrequencies
from behave.data.spec import DatasetSpec, SequenceSpec
from behave.data.transforms.event_fields import EventFieldCodes, embedded_fields
from behave.data.transforms.sequences import NumericScaler, SequenceStore
from behave.data.transforms.static import StaticEncoder
from behave.data.transforms.train_parts import SinglePart, TrainParts, add_keyed_counts
from behave.data.transforms.vocabulary import Vocabulary


def _joined(pieces: list[np.ndarray]) -> np.ndarray:
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


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
        return cls.fit_parts(SinglePart(train), train.static, list(train.class_names), spec)

    @classmethod
    def fit_parts(
        cls, parts: TrainParts, static: pd.DataFrame, class_names: list[str], spec: DatasetSpec
    ) -> FittedPipeline:
        """Fit on the training log given in parts (whole sequences each), in three passes over them:

        1. counts of every categorical field, numeric moments (the scaler), the values of numeric token
           fields (their bin edges);
        2. token key counts (the vocabulary);
        3. token and bigram counts of the training token ids (the feature columns).
        `static` holds the training sequences' static attributes (one small row each).
        """
        scaler = NumericScaler(spec.sequences, list(spec.schema.numeric))
        vocabulary = Vocabulary(spec.tokens)
        binned = [name for name in spec.tokens.fields if name in spec.schema.numeric]
        fields, moments, pending, values = None, [], None, {name: [] for name in binned}
        with ThreadPoolExecutor(max_workers=1) as pool:
            for _, part in parts():
                if pending is not None:  # the previous part's moments: at most two parts are held at once
                    moments.append(pending.result())
                # Parts after the first sum their squares around the first part's means.
                shifts = {name: m.shift for name, m in moments[0].items()} if moments else None
                # numpy releases the GIL: a part's moments run alongside the rest (the last part's, alongside
                # the other two passes).
                pending = pool.submit(scaler.moments, part, shifts)
                part_fields = FieldCounts.of(part)
                fields = part_fields if fields is None else fields + part_fields
                for name in binned:
                    values[name].append(part.numeric[name])
            del part
            vocabulary.fit_fields(
                fields.categories,
                {name: counts for name, counts in fields.categorical.items() if name in spec.tokens.fields},
                {name: _joined(pieces) for name, pieces in values.items()},
            )
            del values
            key_counts = []
            for index, part in parts():
                keys = vocabulary.keys(part)
                key_counts.append(vocabulary.count_keys(keys))
                parts.keep(index, "token_keys", keys)  # the third pass maps them to ids, not rebuilds them
            vocabulary.fit_tokens(*add_keyed_counts(key_counts))
            del key_counts
            token_counts = None
            for index, part in parts():
                ids = vocabulary.ids(parts.kept(index, "token_keys"))
                counted = TokenFrequencies.of(ids, vocabulary.size, Segments.from_offsets(part.offsets))
                token_counts = counted if token_counts is None else token_counts + counted
            moments.append(pending.result())
        scaler.fit_moments(moments)
        static_encoder = StaticEncoder(spec.static).fit(static)
        builder = FeatureBuilder(spec.features).fit_counts(
            fields, token_counts, vocabulary.tokens_, static_encoder
        )
        event_fields = EventFieldCodes(embedded_fields(spec), spec.sequences.max_field_values).fit_counts(
            fields.categories, fields.categorical
        )
        return cls(vocabulary, scaler, event_fields, static_encoder, builder, class_names)

    def encode_events(self, log_: EventLog) -> SequenceStore:
        """The neural models' per-event inputs for every event of `log_` (independent of any task)."""
        with ThreadPoolExecutor(max_workers=1) as pool:
            numeric = pool.submit(self.scaler.transform, log_)  # independent of the tokens: runs alongside
            # int32 straight from the lookup: no (N,) int64 array to narrow afterwards.
            token_ids = self.vocabulary.transform(log_, np.int32)
        return SequenceStore(
            offsets=log_.offsets,
            tokens=token_ids,
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
