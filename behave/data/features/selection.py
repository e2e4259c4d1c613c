"""Where a chosen feature set (`features=<name>`, `encodings.py`) meets a prepared dataset and a run.

The set changes only the tabular family's columns. It is applied to the already fitted pipeline (no refit:
its columns come from the state the builder learned on train), so the data's fingerprint, split, vocabulary
and the neural family's inputs stay what they are, and runs with different sets are compared on the same
rows. With the default set nothing here changes anything: caches, records and files are as before.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

from behave.data.errors import DataError
from behave.data.features.encodings import FeatureSet, feature_set_record, is_default
from behave.data.storage.prepared import PreparedDataset

# The model family whose inputs are the feature table (`behave.training.recipe.FAMILIES`).
FEATURE_TABLE_FAMILY = "tabular"


def with_feature_set(base: PreparedDataset, feature_set: FeatureSet | None) -> PreparedDataset:
    """`base` whose pipeline builds the set's columns (the same object for the default set)."""
    if is_default(feature_set):
        return base
    builder = dataclasses.replace(base.pipeline.features, encoding=feature_set)
    return dataclasses.replace(base, pipeline=dataclasses.replace(base.pipeline, features=builder))


def check_applies(
    task, base: PreparedDataset, encoded: PreparedDataset, feature_set: FeatureSet | None
) -> None:
    """A DataError when the task builds its own tabular view, which the set would silently not change."""
    if encoded is base or task.feature_kinds(encoded) != task.feature_kinds(base):
        return
    raise DataError(
        f"features={feature_set.name}: task={task.name} builds its own tabular features, so the feature set "
        "would change nothing; feature sets apply to tasks whose rows take the pipeline's features "
        "(task=sequence, task=prefix). Leave features at default."
    )


def cache_key_part(base: PreparedDataset) -> dict:
    """What the task's cache key adds for a non-default feature set ({}: the key stays as it was)."""
    encoding = base.pipeline.features.encoding
    return {} if is_default(encoding) else {"features": feature_set_record(encoding)}


def card_entry(base: PreparedDataset) -> dict:
    """What the task card says of the feature set: its name and what of each row's events it leaves out."""
    encoding = base.pipeline.features.encoding
    if is_default(encoding):
        return {}
    return {"feature_set": {"name": encoding.name, "leaves_out": encoding.leaves_out()}}


def model_label(name: str, family: str, feature_set: FeatureSet | None) -> str:
    """The name a run records for its model: a feature-table model on a non-default set is its own model
    (`xgboost.aggregate`), so the report never pools two encodings as seeds of one; a model that does not
    read the table keeps its name whatever the set."""
    if is_default(feature_set) or family != FEATURE_TABLE_FAMILY:
        return name
    return f"{name}.{feature_set.name}"


def write_run_pipeline(base: PreparedDataset, target: Path) -> None:
    """The run's own copy of the fitted pipeline (behave-predict reads it): the cache's file, with the
    feature set recorded in the builder's state when it is not the default. Written to a temporary name and
    renamed."""
    source = base.directory / "pipeline.json"
    temporary = target.with_name(f".{target.name}.tmp")
    if base.pipeline.features.encoding is None:
        shutil.copyfile(source, temporary)
    else:
        state = json.loads(source.read_text())
        state["fitted"]["features"] = base.pipeline.features.state_dict()
        temporary.write_text(json.dumps(state, default=str))
    os.replace(temporary, target)
