"""The typed top-level schemas: an unknown key or a wrong type fails when the config is composed, naming
the key; a key added with `+` is refused before the run, with the data hint when it is a data setting."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from behave.config_schemas import TrainConfig, check_top_level
from behave.data.errors import DataError
from behave.paths import CONFIG_DIR
from tests.compose import compose_train


@pytest.mark.parametrize(
    "override", ["seed=abc", "torch_threads=many", "skip_finished=maybe", "search_trials=all", "paths={x: 1}"]
)
def test_a_wrong_type_fails_at_compose_time_naming_the_key(override, tmp_path):
    with pytest.raises(ConfigCompositionException) as error:
        compose_train([override], tmp_path / "run", tmp_path / "cache")
    assert override.split("=")[0] in f"{error.value} {error.value.__cause__}"


def test_an_unknown_key_in_a_config_file_fails_at_compose_time(tmp_path):
    """An experiment (a `_global_` file) that misspells a top-level key is refused, not silently added."""
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "typo.yaml").write_text("# @package _global_\nsed: 3\n")
    overrides = [f"hydra.searchpath=[file://{tmp_path}]", "experiment=typo"]
    with (
        initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"),
        pytest.raises(ConfigCompositionException) as error,
    ):
        compose("train", overrides=overrides)
    assert "'sed'" in f"{error.value} {error.value.__cause__}"


@pytest.mark.parametrize("app", ["train", "data_card"])
def test_every_app_config_carries_its_schema(app):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(app)
    check_top_level(cfg)  # nothing unknown in the shipped configs


def test_the_schema_lists_every_key_train_yaml_sets(tmp_path):
    cfg = compose_train([], tmp_path / "run", tmp_path / "cache")
    assert list(cfg) == list(TrainConfig.__dataclass_fields__)


@pytest.mark.parametrize(
    ("override", "hint"),
    [
        ("+split.method=time", "'split' is a data setting: write data.split.method=time"),
        ("+sample_sequences=50", "'sample_sequences' is a data setting: write data.sample_sequences=50"),
        ("+seeds=3", "'seeds' is not a setting of behave (known: "),
    ],
)
def test_a_key_added_with_plus_is_refused_with_a_hint(override, hint, tmp_path):
    cfg = compose_train([override], tmp_path / "run", tmp_path / "cache")
    with pytest.raises(DataError) as error:
        check_top_level(cfg)
    assert hint in str(error.value)
    if "known" in hint:
        assert "search_trials" in str(error.value)  # the known keys come from the schema
