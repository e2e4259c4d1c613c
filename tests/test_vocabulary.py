"""The token vocabulary: fitted on train only, <pad>/<unk>, frequency order, composite tokens, bins."""

import json

import numpy as np
import pandas as pd
import pytest

from behave.data.config import prepare_from_config
from behave.data.spec import BucketSpec, TokenSpec
from behave.data.transforms.buckets import NumericBucketer
from behave.data.transforms.vocabulary import PAD, UNK, Vocabulary

NAN = float("nan")
# (sequence, event, page, portal, scroll). Sequences a-c are "train", t is "test" with unseen values.
ROWS = [
    ("a", "view", "home", "app", 0),
    ("a", "view", "home", "app", 400),
    ("a", "view", "product", "web", 800),
    ("a", "click", "product", "web", 1200),
    ("b", "view", "home", "app", 1600),
    ("b", "view", "home", None, NAN),
    ("b", "buy", "cart", "app", 800),
    ("c", "view", "product", "web", 400),
    ("c", "click", "product", "app", 1200),
    ("t", "share", "home", "app", 5000),
    ("t", "view", "checkout", "app", -10),
    ("t", "view", "home", "app", 0),
    ("t", "view", "home", "tv", NAN),
]
TRAIN, TEST = np.array([0, 1, 2]), np.array([3])


@pytest.fixture
def log_(load_log):
    frame = pd.DataFrame(ROWS, columns=["seq", "event", "page", "portal", "scroll"])
    frame["ts"] = 1_700_000_000 + 60.0 * np.arange(len(frame))
    labels = pd.DataFrame({"seq": ["a", "b", "c", "t"], "y": [0, 1, 0, 1]})
    schema = {"categorical": ["event", "page", "portal"]}
    return load_log(frame.sample(frac=1.0, random_state=0), labels, schema=schema)[0]


def fit(log_, fields=("event", "page"), **options) -> Vocabulary:
    spec = TokenSpec(fields=list(fields), aliases={"page": "page", "scroll": "px"}, **options)
    return Vocabulary(spec).fit(log_.select(TRAIN))


def tokens_of(vocab: Vocabulary, log_) -> list[str]:
    return [vocab.tokens_[i] for i in vocab.transform(log_)]


def test_ids_follow_train_frequency(log_):
    vocab = fit(log_)
    assert vocab.tokens_[:2] == ["<pad>", "<unk>"]
    assert vocab.tokens_[2:] == ["view|page=home", "click|page=product", "view|page=product", "buy|page=cart"]
    assert vocab.frequencies_ == [0, 0, 4, 2, 2, 1]
    assert vocab.size == len(vocab) == 6


def test_token_only_in_test_maps_to_unk_and_transform_never_refits(log_):
    vocab = fit(log_)
    tokens, keys = list(vocab.tokens_), vocab.keys_.copy()
    test_ids = vocab.transform(log_.select(TEST))
    # share (unseen event), view|checkout (unseen page), view|home twice (known)
    assert test_ids.tolist() == [
        UNK,
        UNK,
        vocab.tokens_.index("view|page=home"),
        vocab.tokens_.index("view|page=home"),
    ]
    assert vocab.tokens_ == tokens and np.array_equal(vocab.keys_, keys)
    assert vocab.categories_["event"] == ["buy", "click", "view"]  # 'share' from the test part never learned


def test_padding_id_is_never_produced(log_):
    vocab = fit(log_, fields=("event", "page", "portal"), min_freq=2)
    ids = vocab.transform(log_)
    assert ids.min() >= 1 and PAD not in ids
    assert (ids == UNK).any()


def test_min_freq_and_max_size_send_rare_tokens_to_unk(log_):
    rare = fit(log_, min_freq=2)
    assert "buy|page=cart" not in rare.tokens_
    assert rare.frequencies_[UNK] == 1
    assert tokens_of(rare, log_.select(TRAIN)).count("<unk>") == 1
    small = fit(log_, max_size=3)
    assert small.tokens_ == ["<pad>", "<unk>", "view|page=home"]
    assert small.frequencies_[UNK] == 9 - 4
    assert tokens_of(small, log_.select(TRAIN)).count("<unk>") == 5


def test_composite_tokens_leave_missing_fields_out(log_):
    vocab = fit(log_, fields=("event", "page", "portal"))
    train_tokens = tokens_of(vocab, log_.select(TRAIN))
    assert train_tokens[:4] == [
        "view|page=home|portal=app",
        "view|page=home|portal=app",
        "view|page=product|portal=web",
        "click|page=product|portal=web",
    ]
    assert "view|page=home" in train_tokens  # sequence b's event without a portal
    assert vocab.parts_[vocab.tokens_.index("view|page=home")] == {"event": "view", "page": "home"}


def test_numeric_bins_come_from_train_and_clip_new_values_to_the_end_bins(log_):
    vocab = fit(log_, fields=("event", "scroll"), buckets={"scroll": BucketSpec("quantile", 2)})
    assert vocab.bucketers_["scroll"].edges_ == [0.0, 800.0, 1600.0]
    assert vocab.bucketers_["scroll"].labels() == ["0-800", "800-1600"]
    # test scrolls: share 5000 (unseen event), view -10, view 0, view missing
    assert tokens_of(vocab, log_.select(TEST)) == ["<unk>", "view|px=0-800", "view|px=0-800", "view"]
    assert "view|px=800-1600" in vocab.tokens_


def test_log_bins_are_geometric(log_):
    vocab = fit(log_, fields=("scroll",), buckets={"scroll": BucketSpec("log", 3)})
    bucketer = vocab.bucketers_["scroll"]
    assert bucketer.n_bins == 3
    edges = np.asarray(bucketer.edges_)
    assert edges[0] == 0 and edges[-1] == 1600  # zeros get the first bin, then geometric steps from 400
    assert np.isclose(edges[2] / edges[1], edges[3] / edges[2])
    codes = bucketer.codes(np.array([0.0, 399.0, 400.0, 1600.0, 99999.0, NAN]))
    assert codes.tolist() == [2, 2, 3, 4, 4, 0]


def test_log_bins_without_zeros_give_the_requested_number_of_bins():
    bucketer = NumericBucketer(BucketSpec("log", 3), "x").fit(np.array([1.0, 10.0, 100.0, 1000.0]))
    assert bucketer.edges_ == [1.0, 10.0, 100.0, 1000.0]
    assert bucketer.labels() == ["1-10", "10-100", "100-1000"]


def test_json_round_trip_gives_the_same_transform(log_):
    vocab = fit(
        log_, fields=("event", "page", "scroll"), min_freq=1, buckets={"scroll": BucketSpec("quantile", 3)}
    )
    restored = Vocabulary.from_json(json.loads(json.dumps(vocab.to_json())))
    assert np.array_equal(restored.transform(log_), vocab.transform(log_))
    assert restored.tokens_ == vocab.tokens_ and restored.size == vocab.size
    assert (vocab.transform(log_) >= 2).sum() > 5  # the round trip compared real tokens, not only <unk>


def test_prepare_fits_the_vocabulary_on_the_train_part_only(data_config, make_tables):
    prepared = prepare_from_config(data_config(*make_tables(90, seed=8)))
    vocab = prepared.pipeline.vocabulary
    train_events = prepared.log.lengths[prepared.split.train].sum()
    assert sum(vocab.frequencies_) == train_events < prepared.events.tokens.size
