"""`data=csv`: a user's own log goes through the whole pipeline from a config alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from behave.data.config import prepare_from_config
from behave.data.errors import DataError
from behave.paths import REPO_ROOT
from behave.tasks.dataset import prepare_task
from behave.tasks.sequence import SequenceTask
from behave.train import run
from tests.compose import compose_train


def write_log(path, n_sessions: int = 400, seed: int = 0) -> pd.DataFrame:
    """Sessions of users on a shop; 'yes' when the session holds more basket adds than the user's country
    would suggest. Semicolon separated, string labels, a group (user) and a static (country) column."""
    rng = np.random.default_rng(seed)
    rows = []
    for session in range(n_sessions):
        user, country = session // 3, ["de", "fr", "nl"][session // 3 % 3]
        n = int(rng.integers(3, 25))
        actions = rng.choice(["view", "search", "basket", "help"], size=n, p=[0.55, 0.2, 0.15, 0.1])
        start = pd.Timestamp("2025-03-01") + pd.Timedelta(hours=int(rng.integers(0, 2000)))
        times = start + pd.to_timedelta(np.cumsum(rng.exponential(40, size=n)), unit="s")
        prices = np.where(actions == "basket", rng.lognormal(3, 1, size=n).round(2), np.nan)
        bonus = {"de": 0, "fr": 1, "nl": 2}[country]
        outcome = "yes" if (actions == "basket").sum() + bonus + rng.normal(0, 1) > 3 else "no"
        for action, time, price in zip(actions, times, prices):
            rows.append(
                (
                    f"s{session}",
                    f"u{user}",
                    time.strftime("%d/%m/%Y %H:%M:%S"),
                    action,
                    price,
                    country,
                    outcome,
                )
            )
    frame = pd.DataFrame(rows, columns=["session", "user", "when", "action", "price", "country", "outcome"])
    frame.sample(frac=1.0, random_state=seed).to_csv(path, sep=";", index=False)
    return frame


# The README's worked example, verbatim (a test checks the README still carries it).
SHOP_YAML = """defaults:
  - csv
name: shop
source:
  events: shop/log.csv              # relative to data/raw (or an absolute path)
  read_options: {sep: ";"}
schema:
  sequence_id: session
  timestamp: when
  timestamp_format: "%d/%m/%Y %H:%M:%S"
  categorical: [action]
  numeric: [price]
  group: user                       # one user's sessions never straddle train and test
  static_categorical: [country]     # a feature for XGBoost, an input to the RNN head
label:
  column: outcome
  positive: "yes"
tokens:
  fields: [action]
"""


def write_shop(root, n_sessions: int = 400) -> list[str]:
    """The README's shop example under `root` (conf/data/shop.yaml, raw/shop/log.csv); returns the overrides
    that compose it as a user's own config folder would (data=shop, that folder, data read under `root`)."""
    (root / "conf" / "data").mkdir(parents=True)
    (root / "conf" / "data" / "shop.yaml").write_text(SHOP_YAML)
    (root / "raw" / "shop").mkdir(parents=True)
    write_log(root / "raw" / "shop" / "log.csv", n_sessions=n_sessions)
    return ["data=shop", f"hydra.searchpath=[file://{root / 'conf'}]", f"paths.data_dir={root}"]


def test_readme_example_config_from_a_yaml_file(tmp_path):
    assert SHOP_YAML in (REPO_ROOT / "README.md").read_text()
    overrides = write_shop(tmp_path)
    cfg = compose_train(overrides, tmp_path / "run", tmp_path / "cache")
    data = prepare_from_config(cfg.data)
    assert data.spec.name == "shop" and data.class_names == ["no", "yes"] and data.n_static >= 2


def csv_overrides(path) -> list[str]:
    return [
        "data=csv",
        f"data.source.events={path}",
        "data.source.read_options.sep=';'",
        "data.schema.sequence_id=session",
        "data.schema.timestamp=when",
        "data.schema.timestamp_format='%d/%m/%Y %H:%M:%S'",
        "data.schema.categorical=[action]",
        "data.schema.numeric=[price]",
        "data.schema.group=user",
        "data.schema.static_categorical=[country]",
        "data.label.column=outcome",
        "data.label.positive=yes",
        "data.tokens.fields=[action]",
    ]


def test_own_csv_goes_through_the_pipeline_from_config_alone(tmp_path):
    log = write_log(tmp_path / "log.csv")
    cfg = compose_train(csv_overrides(tmp_path / "log.csv"), tmp_path / "run", tmp_path / "cache")
    data = prepare_task(cfg.data, SequenceTask())
    assert data.num_classes == 2 and data.class_names == ["no", "yes"]
    assert len(data.rows) == log["session"].nunique()
    positives = log.groupby("session")["outcome"].first().eq("yes")
    assert data.rows.label.sum() == positives.sum()
    users = log.groupby("session")["user"].first()
    parts = {p: set(users[data.inputs(p).sequence_ids]) for p in ("train", "val", "test")}
    assert (
        not parts["train"] & parts["val"]
        and not parts["train"] & parts["test"]
        and not parts["val"] & parts["test"]
    )
    assert any(name.startswith("static.") and "country" in name for name in data.feature_names)
    # The country one-hot reaches the neural head with the same columns the tree features have.
    static_names = data.base.pipeline.static.columns
    assert static_names == [n.removeprefix("static.") for n in data.feature_names if n.startswith("static.")]
    static = data.inputs("train").static
    assert data.n_static == len(static_names) >= 2 and (static.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(
        static, data.inputs("train").features[[f"static.{n}" for n in static_names]]
    )
    assert data.vocab_size == 2 + 4


@pytest.mark.slow
@pytest.mark.parametrize("model", ["xgboost", "gru"])
def test_own_csv_trains_both_families(tmp_path, model):
    write_log(tmp_path / "log.csv")
    extra = ["trainer.max_epochs=3"] if model == "gru" else []
    cfg = compose_train(
        [*csv_overrides(tmp_path / "log.csv"), f"model={model}", *extra], tmp_path / "run", tmp_path / "cache"
    )
    result = run(cfg)
    assert result.status == "ok", result.error
    assert result.dataset["class_names"] == ["no", "yes"]
    assert result.test_metrics["auroc"] > 0.6


def test_label_that_changes_within_a_sequence_is_a_clear_error(tmp_path):
    log = write_log(tmp_path / "log.csv")
    first_session = log["session"].iloc[0]
    rows = log.index[log["session"] == first_session]
    log.loc[rows[0], "outcome"] = "no"
    log.loc[rows[-1], "outcome"] = "yes"
    log.to_csv(tmp_path / "bad.csv", sep=";", index=False)
    cfg = compose_train(csv_overrides(tmp_path / "bad.csv"), tmp_path / "run", tmp_path / "cache")
    with pytest.raises(DataError) as error:
        prepare_from_config(cfg.data)
    message = str(error.value)
    assert "bad.csv" in message and "'outcome'" in message and "constant within a sequence" in message
    assert first_session in message


def test_a_folder_of_parquet_files_prepares_exactly_as_the_csv(tmp_path):
    """A partitioned export (a folder of Parquet files, string fields read as categories) gives the same
    vocabulary, split, per-event inputs and feature table as the same rows in one CSV."""
    write_log(tmp_path / "log.csv")
    rows = pd.read_csv(tmp_path / "log.csv", sep=";")
    (tmp_path / "export").mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(rows)), 3)):
        rows.iloc[part].to_parquet(tmp_path / "export" / f"part-{i}.parquet", index=False)
    prepared = {}
    for name, path in (("csv", tmp_path / "log.csv"), ("parquet", tmp_path / "export")):
        cfg = compose_train(csv_overrides(path), tmp_path / "run", tmp_path / f"cache-{name}")
        prepared[name] = prepare_task(cfg.data, SequenceTask())
    csv, parquet = prepared["csv"], prepared["parquet"]
    assert parquet.base.pipeline.vocabulary.to_json() == csv.base.pipeline.vocabulary.to_json()
    np.testing.assert_array_equal(parquet.base.events.tokens, csv.base.events.tokens)
    np.testing.assert_array_equal(parquet.base.events.numeric, csv.base.events.numeric)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(parquet.inputs(part).sequence_ids, csv.inputs(part).sequence_ids)
        pd.testing.assert_frame_equal(parquet.inputs(part).features, csv.inputs(part).features)


def test_parquet_string_fields_are_read_as_categories_and_numbers_as_numbers(tmp_path):
    from behave.data.sources.files import read_table

    frame = pd.DataFrame({"action": ["view", "buy", "view"], "code": [3, 4, 3], "price": [1.5, 2.0, None]})
    frame.to_parquet(tmp_path / "log.parquet", index=False)
    read = read_table(tmp_path / "log.parquet", categorical=["action", "code"])
    assert isinstance(read["action"].dtype, pd.CategoricalDtype)
    assert read["code"].dtype == np.int64 and read["action"].astype(str).tolist() == ["view", "buy", "view"]
