"""Both families see the same fields: categorical fields outside the token reach the neural side as codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from behave.data.batches.loaders import SequenceDataset
from behave.data.config import prepare_from_config
from behave.data.transforms.event_fields import EventFieldCodes
from behave.data.transforms.levels import MISSING, OTHER
from behave.tasks.dataset import task_dataset
from behave.tasks.sequence import SequenceTask


@pytest.fixture
def tables(make_tables):
    return make_tables(200, seed=21)


def test_fields_outside_the_token_are_embedded_by_default(data_config, tables):
    data = prepare_from_config(data_config(*tables, tokens={"fields": ["event"]}))
    inputs = data.card["inputs"]
    assert inputs["neural"]["per_event_fields"] == ["page"] and inputs["tabular_only"] == []
    codes = data.pipeline.event_fields
    assert data.events.fields.shape == (data.log.n_events, 1)
    # Each event's code is its page's column among the fitted values, shifted past the padding code 0.
    page = data.log.categorical["page"].astype(str)
    expected = pd.Index(codes.levels_["page"].values).get_indexer(page) + 1
    assert np.array_equal(np.asarray(data.events.fields)[:, 0], expected)


def test_switching_embedding_off_is_said_on_the_card(data_config, tables):
    config = data_config(*tables, tokens={"fields": ["event"]}, sequences={"embed_fields": []})
    data = prepare_from_config(config)
    assert data.card["inputs"]["tabular_only"] == ["page"] and data.events.fields.shape[1] == 0


def test_codes_are_fitted_on_train_and_never_refit(load_log, tables):
    events, labels = tables
    log_, _ = load_log(events, labels)
    train, rest = log_.select(np.arange(100)), log_.select(np.arange(100, 200))
    codes = EventFieldCodes(["page"], max_values=2).fit(train)
    levels = codes.levels_["page"]
    assert len(levels.values) == 2 and levels.labels[-1] == OTHER and MISSING not in levels.labels
    assert codes.sizes == [levels.width + 1]
    before = codes.state_dict()
    out = codes.transform(rest)
    assert codes.state_dict() == before
    rare = ~np.isin(rest.categorical["page"].astype(str), levels.values)
    assert rare.any() and (out[rare, 0] == len(levels.values) + 1).all()  # OTHER, after the top values
    assert (out >= 1).all()  # 0 is padding only


def test_batches_carry_the_field_codes_with_zero_padding(data_config, tables):
    base = prepare_from_config(data_config(*tables, tokens={"fields": ["event"]}))
    inputs = task_dataset(base, SequenceTask()).inputs("train")
    batch = SequenceDataset(inputs, max_len=64).__getitems__(list(range(8)))
    assert batch.fields.shape == (*batch.tokens.shape, 1)
    assert (batch.fields[~batch.mask] == 0).all() and (batch.fields[batch.mask] > 0).all()
