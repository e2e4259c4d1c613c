"""`behave-train`: one Hydra app for every model family.

    behave-train                                  # GRU on the embedded simulator
    behave-train model=xgboost seed=3             # the baseline, same split, same metrics
    behave-train -m experiment=compare            # models x seeds, then: behave-report outputs/multiruns/...

`run(cfg)` builds the task (`cfg.task`), prepares (or loads) the dataset and the task's rows, builds the
model family's recipe from `cfg.model`, fits, scores the test rows with the task's metric function, and
writes result.json + test_predictions.parquet. A failing run still writes its record (status "failed")
and does not take a multirun down.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
import time
import traceback
from functools import partial
from pathlib import Path

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from behave import config_schemas
from behave.data.errors import DataError
from behave.data.features.selection import model_label, write_run_pipeline
from behave.paths import CONFIG_DIR
from behave.run.checkpoint_folder import config_digest
from behave.run.record import (
    TASK_STATE_FILE,
    RunResult,
    UnreadableResult,
    git_commit,
    json_plain,
    read_result,
    result_file,
    write_predictions,
)
from behave.run.summary import interactive, run_summary
from behave.tasks import metric_registry
from behave.tasks.base import Evaluation
from behave.tasks.dataset import TaskDataset, prepare_task
from behave.training.recipe import LightningSettings, RunContext
from behave.training.runner import refuse_unsupported, run_recipe

log = logging.getLogger("behave.train")

# The metric that selects checkpoints and stops training is the task's (val/auroc for a binary label,
# val/macro_auroc for a multiclass one...), resolved when the config is composed so callbacks can use it.
OmegaConf.register_new_resolver(
    "behave_monitor", lambda task_target, label_kind: get_class(task_target).monitor(label_kind), replace=True
)
# Callbacks and hyperparameter searches follow the monitor in the direction the metric registry declares.
OmegaConf.register_new_resolver("behave_monitor_mode", metric_registry.monitor_mode, replace=True)
OmegaConf.register_new_resolver("behave_search_direction", metric_registry.search_direction, replace=True)
OmegaConf.register_new_resolver("behave_interactive", interactive, replace=True)
# protocol=kfold: run seed s tests on fold s mod k + 1 (1-based).
OmegaConf.register_new_resolver("behave_fold", lambda seed, folds: int(seed) % int(folds) + 1, replace=True)
config_schemas.register()


def _overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _new_result(cfg: DictConfig, run_dir: Path) -> RunResult:
    overrides = _overrides()
    return RunResult(
        status="failed",
        model={"name": str(cfg.model.get("name", "?")), "family": str(cfg.model.get("family", "?"))},
        # The configured name, so a run that fails before its data is read is still listed under it.
        dataset={"name": OmegaConf.select(cfg, "data.name", default=None, throw_on_missing=False)},
        seed=int(cfg.seed),
        config=_resolved(cfg),
        overrides=overrides,
        command=_command(overrides),
        run_dir=str(run_dir.resolve()),
        git_commit=git_commit(),
        hparams_search=_search_budget(cfg),
    )


def _command(overrides: list[str]) -> str:
    """The command line that started this job (the whole sweep's, for a multirun job)."""
    if HydraConfig.initialized() and sys.argv[1:]:
        return shlex.join(["behave-train", *sys.argv[1:]])
    return shlex.join(["behave-train", *overrides])


def _resolved(cfg: DictConfig) -> dict:
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # an unresolvable interpolation must not cost the record
        return OmegaConf.to_container(cfg, resolve=False)


def _search_budget(cfg: DictConfig) -> dict | None:
    if not HydraConfig.initialized() or "optuna" not in str(HydraConfig.get().sweeper.get("_target_", "")):
        return None
    sweeper = HydraConfig.get().sweeper
    return {"sweeper": "optuna", "n_trials": int(sweeper.n_trials), "direction": str(sweeper.direction)}


def _check_search_direction(search: dict | None, headline: str) -> None:
    """A search returns the validation headline (`main`); its direction follows the monitor, which is the
    headline for most tasks but not for one that monitors its loss (task=next): say how to set it."""
    if search is None:
        return
    wanted = metric_registry.search_direction(headline)
    if search["direction"] != wanted:
        raise DataError(
            f"hparams_search {search['direction']}s the validation {headline} this task selects by: set "
            f"hydra.sweeper.direction={wanted}"
        )


def _cause(error: Exception) -> Exception:
    """The error a user can act on: Hydra wraps what a configured object raised (a DataError naming the
    config key) in an InstantiationException whose text is mostly Hydra's."""
    while isinstance(error, InstantiationException) and isinstance(error.__cause__, Exception):
        error = error.__cause__
    return error


def finished_earlier(cfg: DictConfig, run_dir: Path) -> RunResult | None:
    """The record of a run that already finished `ok` in this folder with this exact config and code, so a
    killed sweep completes by rerunning its command (`skip_finished: false` refits anyway)."""
    if not cfg.get("skip_finished", True) or not result_file(run_dir).exists():
        return None
    try:
        record = read_result(run_dir)
    except UnreadableResult:
        return None  # half-written or damaged: run again
    same_config = record.get("config") == json.loads(json.dumps(json_plain(_resolved(cfg))))
    if record.get("status") != "ok" or not same_config or record.get("git_commit") != git_commit():
        return None
    return RunResult.from_record(record)


def run(cfg: DictConfig) -> RunResult:
    """Run one job and return its record (already written to the run folder)."""
    run_dir = Path(cfg.paths.run_dir)
    earlier = finished_earlier(cfg, run_dir)
    if earlier is not None:
        log.info(
            "skipped: %s finished earlier with this config and code (skip_finished=false refits)", run_dir
        )
        return earlier
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "error.log").unlink(missing_ok=True)  # an earlier failure in this folder is not this run's
    result = _new_result(cfg, run_dir)
    try:
        _fit_and_score(cfg, run_dir, result)
        result.status = "ok"
    except Exception as error:  # the record must be written whatever went wrong
        error = _cause(error)
        result.error = f"{type(error).__name__}: {error}"
        (run_dir / "error.log").write_text(traceback.format_exc())
        log.error("run failed: %s (traceback in %s)", result.error, run_dir / "error.log")
    result.write(run_dir)
    print(run_summary(read_result(run_dir)), flush=True)
    return result


def _fit_and_score(cfg: DictConfig, run_dir: Path, result: RunResult) -> None:
    config_schemas.check_top_level(cfg)  # keys added with `+` (the schema refuses the rest)
    # First, so even a run that fails below is recorded under the model name it would have had.
    feature_set = instantiate(cfg.features) if cfg.get("features") else None
    result.model["name"] = model_label(result.model["name"], result.model["family"], feature_set)
    task = instantiate(cfg.task)
    recipe = task.model_recipe(instantiate(cfg.model))
    refuse_unsupported(recipe, task)  # before any data is prepared
    _check_search_direction(result.hparams_search, task.headline(cfg.data.label.kind))
    data = prepare_task(cfg.data, task, feature_set)
    result.dataset = _dataset_record(data)
    result.task = task.describe(data.label_kind)
    # The run carries its own fitted pipeline and task state, so behave-predict works even after the cache
    # is deleted.
    write_run_pipeline(data.base, run_dir / "pipeline.json")
    (run_dir / TASK_STATE_FILE).write_text(json.dumps(json_plain(data.info)))
    board = instantiate(cfg.logger) if cfg.get("logger") else None
    context = run_context(cfg, run_dir, board)
    outcome = run_recipe(recipe, data, context, instantiate(cfg.selection))
    test = data.part_rows("test")
    if outcome.test_metrics is not None:  # label-free: nothing to predict, the recipe scored the test part
        evaluation = Evaluation(overall=outcome.test_metrics)
    else:
        evaluation = task.evaluate(test, outcome.test_probs)
        write_predictions(
            run_dir,
            data.base.log.sequence_ids[test.sequence],
            test.cutoff,
            test.group_name(np.arange(len(test))),
            test.label,
            outcome.test_probs,
            regression=task.scored_kind(data.label_kind) == metric_registry.REGRESSION,
            ranked=task.scored_kind(data.label_kind) == metric_registry.NEXT_VALUE,
        )
    result.test_metrics = evaluation.overall
    result.test_metrics_by_group = evaluation.by_group
    result.best_val = {"metric": outcome.best_val_metric, "value": outcome.best_val}
    result.n_parameters = outcome.n_parameters
    result.embedding_dim = outcome.embedding_dim
    result.fit_seconds = round(outcome.fit_seconds, 3)
    result.predict_seconds = round(outcome.predict_seconds, 3)
    result.extra = outcome.extra
    if board is not None:
        _log_final(board, cfg, result, test.label, outcome.test_probs)
        board.close()


def run_context(cfg: DictConfig, run_dir: Path, board=None) -> RunContext:
    """What a recipe gets from the config: seed, monitor, the config's digest (which checkpoints it may
    resume) and how to build the configured Lightning trainer and callbacks; never the config itself."""
    callback_nodes = [node for node in cfg.get("callbacks", {}).values() if node]
    lightning = LightningSettings(
        trainer=partial(instantiate, cfg.trainer),
        callbacks=lambda: [instantiate(node) for node in callback_nodes],
        torch_threads=cfg.get("torch_threads"),
    )
    return RunContext(
        run_dir=run_dir,
        seed=int(cfg.seed),
        monitor=str(cfg.monitor),
        config_digest=config_digest(OmegaConf.to_container(cfg, resolve=True)),
        lightning=lightning,
        board=board,
    )


def _dataset_record(data: TaskDataset) -> dict:
    return {
        "name": data.spec.name,
        "fingerprint": data.fingerprint,
        # The same data without its split: what the report groups resplit and k-fold runs by.
        "data_fingerprint": data.base.data_fingerprint,
        "label_kind": data.label_kind,
        "class_names": data.class_names,
        "split_sizes": data.base.split.sizes(),
        "rows": {part: values["n_rows"] for part, values in data.card["parts"].items()},
        "vocab_size": data.vocab_size,
        "n_features": len(data.feature_names),
        # The oracle is P(label | whole sequence): a ceiling only for tasks that predict from whole sequences.
        "oracle_test_auroc": data.base.card.get("oracle_test_auroc") if data.task.oracle_applies else None,
        # The ceiling on every test metric, where the source knows it for these rows (per-event oracle).
        "oracle_test": (data.card.get("oracle") or {}).get("metrics"),
        "card": data.base.card,
        "task_card": data.card,
    }


def _log_final(board, cfg: DictConfig, result: RunResult, labels: np.ndarray, probs: np.ndarray) -> None:
    """HPARAMS tab row (hyperparameters + final metrics) and the test PR curve, same for both families."""
    final = {f"test/{name}": value for name, value in result.test_metrics.items() if np.isfinite(value)}
    if result.best_val["value"] is not None:
        final[f"best_{result.best_val['metric']}"] = result.best_val["value"]
    params = {
        "model": result.model["name"],
        "seed": result.seed,
        "data": result.dataset["name"],
        "task": result.task["name"],
        **_flat(OmegaConf.to_container(cfg.model, resolve=True)),
    }
    if result.embedding_dim is not None:
        params["embedding_dim_resolved"] = result.embedding_dim
    board.log_hparams(params, final)
    if probs.ndim == 2 and probs.shape[1] == 2:
        board.add_pr_curve("test/pr_curve", labels == 1, probs[:, 1])
    board.flush()


def _flat(node: dict, prefix: str = "") -> dict:
    """Nested config values as dotted keys (module.encoder.hidden_size), the HPARAMS tab's columns."""
    flat = {}
    for key, value in node.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    started = time.perf_counter()
    result = run(cfg)
    log.info("done in %.1f s", time.perf_counter() - started)
    if result.status != "ok" and not _is_multirun():
        sys.exit(1)
    value = (result.best_val or {}).get("value")
    # None (not NaN) for a failed run: the Optuna sweeper records a trial whose value is not a float as
    # failed and goes on (with max_failure_rate: 1.0), whereas NaN crashes it.
    return None if result.status != "ok" or value is None else float(value)


if __name__ == "__main__":
    main()
