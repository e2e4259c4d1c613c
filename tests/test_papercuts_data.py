"""Bad data inputs a new user produces by accident, each said in words that name the file, the column or the
config key (and the documented command-line form for bins that must work). Each test names its item."""

from __future__ import annotations

import pytest

from behave.data.config import dataset_spec, prepare_from_config
from behave.data.errors import DataError
from behave.data.spec import BucketMethod, BucketSpec
from tests.compose import compose_train
from tests.test_csv_source import SHOP_YAML, write_log


@pytest.fixture
def shop(tmp_path):
    """The README's shop log (60 sessions) as data/raw/shop/log.csv, and its data YAML under conf/data."""
    (tmp_path / "conf" / "data").mkdir(parents=True)
    (tmp_path / "conf" / "data" / "shop.yaml").write_text(SHOP_YAML)
    (tmp_path / "raw" / "shop").mkdir(parents=True)
    return write_log(tmp_path / "raw" / "shop" / "log.csv", n_sessions=60)


def compose_shop(tmp_path, *overrides: str):
    searchpath = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    base = ["data=shop", searchpath, f"paths.data_dir={tmp_path}"]
    return compose_train([*base, *overrides], tmp_path / "run", tmp_path / "cache")


@pytest.mark.parametrize(
    "override",
    [
        "data.tokens.buckets.price={method:log,n_bins:3}",
        "+data.tokens.buckets.price={method:log,n_bins:3}",
        "data.tokens.buckets={price:{method:log,n_bins:3}}",
    ],
)
def test_item4_bins_set_on_the_command_line(tmp_path, shop, override):
    cfg = compose_shop(tmp_path, "data.tokens.fields=[action,price]", override)
    spec = dataset_spec(cfg.data)
    assert spec.tokens.buckets == {"price": BucketSpec(BucketMethod.log, 3)}
    data = prepare_from_config(cfg.data)
    assert data.pipeline.vocabulary.bucketers_["price"].spec == BucketSpec(BucketMethod.log, 3)


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ("data.tokens.buckets.price={method:lg,n_bins:3}", "Invalid value 'lg'"),
        ("data.tokens.buckets.price={method:log,bins:3}", "Key 'bins' not in 'BucketSpec'"),
        ("data.tokens.buckets.price=log", "data.tokens.buckets.price='log' is not a bucket setting"),
        ("data.tokens.buckets={price: {method: sqrt}}", "expected one of [quantile, log]"),
    ],
)
def test_item4_a_wrong_bin_setting_names_data_tokens_buckets(tmp_path, shop, override, reason):
    """Checked when the spec is built, before any data is read: OmegaConf cannot type a key added to a dict
    of dataclasses from the command line, so the schema leaves the entries to TokenSpec."""
    cfg = compose_shop(tmp_path, "data.tokens.fields=[action,price]", override)
    with pytest.raises(DataError) as error:
        dataset_spec(cfg.data)
    assert "data.tokens.buckets.price=" in str(error.value) and reason in str(error.value)
