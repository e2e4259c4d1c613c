"""Every option of every config group composes, and every `_target_` instantiates (nothing is trained)."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from behave.data.config import build_source, dataset_spec
from behave.data.errors import DataError
from behave.data.spec import DatasetSpec
from behave.paths import CONFIG_DIR
from behave.predict import _collect_targets, trusted_targets
from behave.training.recipe import FAMILIES
from tests.compose import compose_train


def options(group: str) -> list[str]:
    """What a user can pick in `group`; `*_base` files are shared parts that model files extend."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml") if not p.stem.endswith("_base"))


# The template for users' own logs leaves the file and column names to fill in.
TEMPLATE_VALUES = {
    "csv": [
        "data.source.events=log.csv",
        "data.schema.sequence_id=s",
        "data.schema.timestamp=t",
        "data.label.column=y",
        "data.tokens.fields=[e]",
        "data.schema.categorical=[e]",
    ],
}


@pytest.mark.parametrize("data", options("data"))
def test_every_data_config_matches_the_schema_and_builds_its_source(data, tmp_path):
    cfg = compose_train(
        [f"data={data}", *TEMPLATE_VALUES.get(data, [])], tmp_path / "run", tmp_path / "cache"
    )
    spec = dataset_spec(cfg.data)
    assert spec.name and spec.schema.sequence_id and spec.tokens.fields
    assert sum([spec.split.train, spec.split.val, spec.split.test]) == pytest.approx(1.0)
    source = build_source(spec)
    assert callable(source.load) and callable(source.fingerprint)


def test_template_names_every_value_still_to_fill_in(tmp_path):
    cfg = compose_train(["data=csv"], tmp_path / "run", tmp_path / "cache")
    with pytest.raises(DataError) as error:
        dataset_spec(cfg.data)
    for key in ("data.source.events", "data.schema.sequence_id", "data.label.column", "data.tokens.fields"):
        assert key in str(error.value)


@pytest.mark.parametrize("model", options("model"))
def test_every_model_config_builds_a_recipe(model, tmp_path):
    # The transfer models start from a rating run's folder; building the recipe does not read it yet.
    needs = [f"transfer_from={tmp_path / 'rating-run'}"] if "transfer" in model else []
    cfg = compose_train([f"model={model}", *needs], tmp_path / "run", tmp_path / "cache")
    recipe = instantiate(cfg.model)
    assert recipe.family in FAMILIES
    assert callable(recipe.fit) and callable(recipe.predict_proba)
    # Which task kinds it fits, so a mismatch is refused when the run starts (training/runner.py).
    kinds = {"classification", "regression", "pretraining"}
    assert recipe.supported_tasks and recipe.supported_tasks <= kinds


@pytest.mark.parametrize("model", ["gru", "lstm"])
def test_neural_recipes_get_their_sizes_from_data(model, tmp_path):
    cfg = compose_train([f"model={model}"], tmp_path / "run", tmp_path / "cache")
    module = instantiate(cfg.model).build({"vocab_size": 57, "n_numeric": 3, "n_static": 2, "num_classes": 2})
    assert module.encoder.tokens.embedding.num_embeddings == 57
    assert cfg.model.module.encoder.sequence.cell == model


@pytest.mark.parametrize("group", ["logger", "callbacks"])
def test_logger_and_callbacks_instantiate(group, tmp_path):
    for option in options(group):
        cfg = compose_train([f"{group}={option}"], tmp_path / "run", tmp_path / "cache")
        node = cfg[group]
        built = instantiate(node) if "_target_" in node else {k: instantiate(v) for k, v in node.items()}
        assert built


@pytest.mark.parametrize("trainer", options("trainer"))
def test_every_trainer_config_composes(trainer, tmp_path):
    cfg = compose_train([f"trainer={trainer}"], tmp_path / "run", tmp_path / "cache")
    assert cfg.trainer._target_ == "pytorch_lightning.Trainer"
    if cfg.trainer.accelerator == "cpu":
        assert (
            instantiate(cfg.trainer, logger=False, enable_checkpointing=False).max_epochs
            == cfg.trainer.max_epochs
        )


@pytest.mark.parametrize("group", ["experiment", "hparams_search", "debug"])
def test_every_experiment_search_and_debug_option_composes(group):
    for option in options(group):
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose("train", overrides=[f"{group}={option}"], return_hydra_config=True)
        assert OmegaConf.select(cfg, "model.name")
        if group != "debug":
            assert cfg.hydra.mode.name == "MULTIRUN"
            assert cfg.hydra.sweeper.params


def test_the_slurm_launcher_composes_with_requeue_for_resuming_jobs():
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        overrides = ["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=1"]
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.max_num_timeout) == ("gpu", 1, 3)
    assert launcher.submitit_folder == f"{cfg.hydra.sweep.dir}/.submitit/%j"  # beside the run folders


def test_search_budgets_are_equal_across_families():
    budgets = {}
    for option in options("hparams_search"):
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose("train", overrides=[f"hparams_search={option}"], return_hydra_config=True)
        budgets[option] = cfg.hydra.sweeper.n_trials
    assert len(set(budgets.values())) == 1, budgets


@pytest.mark.parametrize(
    ("overrides", "direction"),
    [(["hparams_search=gru"], "maximize"), (["hparams_search=dot_bias", "task=rating"], "minimize")],
)
def test_searches_optimise_in_the_monitors_direction(overrides, direction):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    assert OmegaConf.select(cfg, "hydra.sweeper.direction") == direction


@pytest.mark.parametrize("task", options("task"))
@pytest.mark.parametrize(("kind", "monitor"), [("binary", "val/auroc"), ("multiclass", "val/macro_auroc")])
def test_monitor_is_the_tasks_choice_for_the_label_kind(task, kind, monitor, tmp_path):
    cfg = compose_train([f"task={task}", f"data.label.kind={kind}"], tmp_path / "run", tmp_path / "cache")
    built = instantiate(cfg.task)
    # Classification tasks follow the label's kind; the rating task predicts a number whatever the label,
    # and pretraining reads no label at all (its contrastive loss).
    # A per-event task selects by each model's own loss whatever its target.
    label_free = {"regression": "val/rmse", "pretraining": "val/loss"}
    expected, mode = (monitor, "max") if built.kind == "classification" else (label_free[built.kind], "min")
    if task == "next":
        expected, mode = "val/loss", "min"
    assert cfg.monitor == expected == built.monitor(kind)
    assert cfg.model.module.monitor == expected
    # Callbacks watch the monitor with the loss as tie-breaker, in the monitor's direction.
    assert cfg.callbacks.model_checkpoint.monitor == cfg.callbacks.early_stopping.monitor == "val/selection"
    assert cfg.callbacks.early_stopping.mode == cfg.callbacks.model_checkpoint.mode == mode


def test_a_lower_is_better_monitor_switches_the_callbacks_to_min(tmp_path):
    cfg = compose_train(["monitor=val/loss"], tmp_path / "run", tmp_path / "cache")
    assert cfg.callbacks.early_stopping.mode == cfg.callbacks.model_checkpoint.mode == "min"


@pytest.mark.parametrize("task", options("task"))
def test_every_task_config_builds_a_task(task, tmp_path):
    cfg = compose_train([f"task={task}"], tmp_path / "run", tmp_path / "cache")
    built = instantiate(cfg.task)
    assert built.name == task and built.fingerprint()["name"] == task


@pytest.mark.parametrize("data", options("data"))
def test_debug_fast_works_with_every_dataset(data, tmp_path):
    """The smoke-run preset sets nothing only one source has: it samples sequences, whatever the data."""
    cfg = compose_train(
        [f"data={data}", "debug=fast", *TEMPLATE_VALUES.get(data, [])], tmp_path / "r", tmp_path
    )
    assert dataset_spec(cfg.data).sample_sequences == 600 and cfg.trainer.max_epochs == 2


@pytest.mark.parametrize(
    ("override", "choices"),
    [
        ("data.split.method=random", "[stratified, time, time_strict, kfold, rolling]"),
        ("data.label.kind=ordinal", "[binary, multiclass]"),
        ("data.label.table=sidecar", "[labels, events]"),
        ("data.sequences.keep=middle", "[last, first]"),
        ("data.sequences.numeric_transform={dwell_s: log2}", "[none, log1p]"),
    ],
)
def test_a_string_option_typo_fails_at_compose_time_with_the_choices(override, choices, tmp_path):
    with pytest.raises(ConfigCompositionException) as error:
        compose_train([override], tmp_path / "run", tmp_path / "cache")
    message = f"{error.value} {error.value.__cause__}"
    assert choices in message and override.split("=")[0].split(".")[-1] in message


def test_an_unknown_data_key_fails_at_compose_time(tmp_path):
    with pytest.raises(ConfigCompositionException, match="split.methd"):
        compose_train(["data.split.methd=time"], tmp_path / "run", tmp_path / "cache")


def _leaves(node: dict, prefix: str = "") -> dict:
    leaves = {}
    for key, value in node.items():
        if isinstance(value, dict) and value:
            leaves.update(_leaves(value, f"{prefix}{key}."))
        else:
            leaves[f"{prefix}{key}"] = value
    return leaves


def _data_file(name: str) -> tuple[object, dict]:
    """(what the file extends, the file's own values) of conf/data/<name>.yaml."""
    raw = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "data" / f"{name}.yaml"))
    (parent, *_) = [entry for entry in raw.pop("defaults") if entry != "_self_"]
    return parent, raw


def _composed_data(name: str) -> dict:
    parent, own = _data_file(name)
    base = (
        OmegaConf.structured(DatasetSpec(cache_dir="${paths.cache_dir}"))
        if parent == "dataset_schema"
        else _composed_data(parent)
    )
    return OmegaConf.merge(base, own)


@pytest.mark.parametrize("data", options("data"))
def test_data_files_state_only_what_differs_from_what_they_extend(data):
    parent, own = _data_file(data)
    base = OmegaConf.structured(DatasetSpec) if parent == "dataset_schema" else _composed_data(parent)
    inherited = _leaves(OmegaConf.to_container(base))
    # The source is a `_target_` node the schema does not type: every key of it is the file's own. The
    # template (csv.yaml) names the values still to fill in (???), which the schema leaves missing too.
    restated = {
        key: value
        for key, value in _leaves(own).items()
        if not key.startswith("source.") and value != "???" and key in inherited and inherited[key] == value
    }
    assert not restated, f"conf/data/{data}.yaml restates what {parent} already sets: {restated}"


@pytest.mark.parametrize("model", options("model"))
def test_behave_predict_trusts_every_target_a_model_config_names(model, tmp_path):
    cfg = compose_train([f"model={model}"], tmp_path / "run", tmp_path / "cache")
    named: set[str] = set()
    _collect_targets(OmegaConf.to_container(cfg.model, resolve=False), named)
    assert named <= trusted_targets(), named - trusted_targets()
