"""`behave-predict`: score a new event log with a finished run of either family.

    behave-predict run_dir=outputs/runs/<run> input=new_events.csv output=scores.csv [labels=labels.csv]

The run folder carries everything fitted on its training split (pipeline.json: vocabulary, bins, scalers,
static encoder, feature state) and the model (XGBoost JSON or a weights-only state dict). The new log goes
through the SAME transform with nothing refitted: unseen tokens map to <unk>, unseen values to "other".
Each sequence of the input is scored as it stands (one row per sequence, all of its events): for a run of
the prefix task, that is the early prediction for a case still in progress.

A run folder may come from someone else, so nothing in it is trusted to name code: the model is rebuilt
only from `_target_`s that behave's own model configs use (see `trusted_targets`), never from any other.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import OmegaConf

from behave.data.config import dataset_spec
from behave.data.errors import DataError
from behave.data.ingestion.validate import validate
from behave.data.inputs import RowInputs
from behave.data.sources.files import FileSource
from behave.data.storage.cache import atomic_path
from behave.data.transforms.pipeline import FittedPipeline
from behave.paths import CONFIG_DIR
from behave.run.earlier_names import current_targets
from behave.run.predictions import scores_table
from behave.run.record import UnreadableResult, read_result, result_file

USAGE = (
    "usage: behave-predict run_dir=<run folder> input=<events CSV/Parquet> output=<CSV>"
    " [labels=<labels file>]"
)


# Config groups whose files make up a model config: the model files and what they mount.
MODEL_PARTS = ("model", "encoder_init")


@cache
def trusted_targets() -> frozenset[str]:
    """Every `_target_` in behave's own model configs (`MODEL_PARTS`): the only code a record may name."""
    targets: set[str] = set()
    for path in sorted(path for group in MODEL_PARTS for path in (CONFIG_DIR / group).glob("*.yaml")):
        _collect_targets(OmegaConf.to_container(OmegaConf.load(path)), targets)
    return frozenset(targets)


def _collect_targets(node, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "_target_":
                found.add(str(value))
            else:
                _collect_targets(value, found)
    elif isinstance(node, list):
        for value in node:
            _collect_targets(value, found)


def checked_model_config(model: dict, run_dir: Path) -> dict:
    """The record's model config, refused unless every `_target_` in it is one behave's configs use."""
    named: set[str] = set()
    _collect_targets(model, named)
    untrusted = sorted(named - trusted_targets())
    if untrusted or "_target_" not in model:
        shown = untrusted or ["(none)"]
        raise DataError(
            f"{result_file(run_dir)}: the model config names code behave does not ship ({shown}); "
            "refusing to build it. Only run folders written by behave-train with behave's model configs "
            "can be scored."
        )
    return model


def load_record(run_dir: Path) -> dict:
    path = result_file(run_dir)
    if not path.is_file():
        raise DataError(
            f"{run_dir}: no {path.name} here; run_dir must be a run folder written by behave-train."
        )
    try:
        result = read_result(path)
    except UnreadableResult as error:
        raise DataError(str(error)) from None
    # A run recorded before a module moved names it as it was then; everything below sees today's names.
    result["config"] = current_targets(result.get("config") or {})
    if result.get("status") != "ok":
        raise DataError(
            f"{run_dir}: this run failed ({result.get('error')}); there is no model to predict with."
        )
    return result


def predict(run_dir: Path, events: Path, labels: Path | None = None) -> pd.DataFrame:
    """One row per sequence of `events`: sequence_id, prob[<class name>] for each class, the predicted class
    (`behave.run.predictions.scores_table`)."""
    result = load_record(run_dir)
    config = OmegaConf.create(result["config"])
    model_config = checked_model_config(OmegaConf.to_container(config.model, resolve=True), run_dir)
    spec = dataset_spec(config.data)
    pipeline_file = run_dir / "pipeline.json"
    if not pipeline_file.is_file():
        raise DataError(f"{run_dir}: pipeline.json is missing; the run folder is incomplete.")
    pipeline = FittedPipeline.from_state_dict(json.loads(pipeline_file.read_text())["fitted"], spec)
    read_options = (spec.source or {}).get("read_options") if isinstance(spec.source, dict) else None
    source = FileSource(
        str(events),
        labels=str(labels) if labels else None,
        read_options=read_options,
        categorical=list(spec.schema.categorical),
    )
    event_log, _ = validate(source.load(), spec, with_labels=labels is not None)
    rows = np.arange(event_log.n_sequences)
    events = pipeline.encode_events(event_log)
    inputs = RowInputs(
        events=events,
        sequence=rows,
        cutoff=event_log.lengths.astype(np.int64),
        labels=np.asarray(event_log.labels, dtype=np.int64),
        static=pipeline.static_inputs(event_log),
        # Built only if the model reads them (a tree model): a neural model scores from the events alone.
        feature_source=lambda: pipeline.feature_table(event_log, events.tokens),
        sequence_ids=event_log.sequence_ids,
    )
    recipe = instantiate(model_config)
    probs = recipe.predict_proba(run_dir, inputs, spec)
    return scores_table(event_log.sequence_ids, probs, pipeline.class_names)


def main(argv: list[str] | None = None) -> None:
    args = OmegaConf.from_cli(sys.argv[1:] if argv is None else argv)
    missing = [key for key in ("run_dir", "input", "output") if key not in args]
    if missing:
        print(f"{USAGE}\nmissing: {', '.join(missing)}", file=sys.stderr)
        sys.exit(2)
    try:
        table = predict(
            Path(args.run_dir), Path(args.input), Path(args.labels) if args.get("labels") else None
        )
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    output = Path(args.output)
    with atomic_path(output) as temp:
        table.to_csv(temp, index=False)
    print(f"wrote {len(table)} predictions to {output}")


if __name__ == "__main__":
    main()
