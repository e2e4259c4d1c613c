"""Where modules named in earlier run records live now, so a run folder written before a module moved
still scores, explains and reports (its result.json names the `_target_`s of its day).

Each entry is a module's name when runs recorded it, and its name today. A record's targets are translated
once, when the record is read (`current_targets`), before anything checks or builds them.
"""

from __future__ import annotations

from typing import Any

# Moved in December 2026, when the packages took the layout of the architecture (run/, training/lightning/,
# training/tabular/, data/ingestion, storage, transforms).
MOVED_MODULES = {
    "behave.training.result": "behave.run.record",
    "behave.training.summary": "behave.run.summary",
    "behave.training.board": "behave.run.board",
    "behave.training.checkpoint_folder": "behave.run.checkpoint_folder",
    "behave.training.neural": "behave.training.lightning.neural",
    "behave.training.rating_recipe": "behave.training.lightning.rating",
    "behave.training.pretrain": "behave.training.lightning.pretrain",
    "behave.training.transfer": "behave.training.lightning.transfer",
    "behave.training.resume": "behave.training.lightning.resume",
    "behave.training.processes": "behave.training.lightning.processes",
    "behave.training.progress": "behave.training.lightning.progress",
    "behave.training.lightning_board": "behave.training.lightning.board",
    "behave.training.checkpoints": "behave.training.lightning.checkpoints",
    "behave.training.xgboost_recipe": "behave.training.tabular.xgboost",
    "behave.training.xgboost_dask_recipe": "behave.training.tabular.xgboost_dask",
    "behave.training.xgboost_external": "behave.training.tabular.xgboost_external",
    "behave.training.booster_checkpoint": "behave.training.tabular.booster_checkpoint",
    "behave.training.lightgbm_recipe": "behave.training.tabular.lightgbm",
    "behave.training.sklearn_recipe": "behave.training.tabular.sklearn",
    "behave.training.embedding_trees": "behave.training.tabular.embeddings",
    "behave.training.tabular": "behave.training.tabular.curves",
    "behave.data.validate": "behave.data.ingestion.validate",
    "behave.data.columns": "behave.data.ingestion.columns",
    "behave.data.timestamps": "behave.data.ingestion.timestamps",
    "behave.data.labels": "behave.data.ingestion.labels",
    "behave.data.prepared": "behave.data.storage.prepared",
    "behave.data.cache": "behave.data.storage.cache",
    "behave.data.log_store": "behave.data.storage.log_store",
    "behave.data.out_of_core": "behave.data.storage.out_of_core",
    "behave.data.partitions": "behave.data.storage.partitions",
    "behave.data.card": "behave.data.storage.card",
    "behave.data.pipeline": "behave.data.transforms.pipeline",
    "behave.data.vocabulary": "behave.data.transforms.vocabulary",
    "behave.data.buckets": "behave.data.transforms.buckets",
    "behave.data.levels": "behave.data.transforms.levels",
    "behave.data.static": "behave.data.transforms.static",
    "behave.data.event_fields": "behave.data.transforms.event_fields",
    "behave.data.sequences": "behave.data.transforms.sequences",
    "behave.data.train_parts": "behave.data.transforms.train_parts",
}


def current_target(target: str) -> str:
    """`behave.training.xgboost_recipe.XGBoostRecipe` -> its name today; other targets unchanged."""
    module, _, name = target.rpartition(".")
    return f"{MOVED_MODULES[module]}.{name}" if module in MOVED_MODULES else target


def current_targets(node: Any) -> Any:
    """A recorded config with every `_target_` under its name today (a new object; `node` is unchanged)."""
    if isinstance(node, dict):
        return {
            k: current_target(v) if k == "_target_" and isinstance(v, str) else current_targets(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [current_targets(v) for v in node]
    return node
