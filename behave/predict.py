"""`behave-predict`: score a new event log with a finished run of either family.

    behave-predict run_dir=outputs/runs/<run> input=new_events.csv output=scores.csv [labels=labels.csv]
        [config_dir=<a config folder of your own, as given to behave-train's hydra.searchpath>]

The run folder carries everything fitted on its training split (pipeline.json: vocabulary, bins, scalers,
static encoder, feature state) and the model (XGBoost JSON or a weights-only state dict). The new log goes
through the SAME transform with nothing refitted: unseen tokens map to <unk>, unseen values to "other".
The run's task says which rows a new log gives (`Task.scoring_rows`): for the sequence and prefix tasks,
each sequence as it stands (for a prefix run, the early prediction for a case still in progress). Rows that
see only part of their sequence carry a `cutoff` column (the events each saw).

A run folder may come from someone else, so nothing in it is trusted to name code: the model and the task
are rebuilt only from `_target_`s that behave's own configs use (see `trusted_targets`), or that the config
folders named on the command line (`config_dir=`) use; never from the run folder itself.
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
from behave.tasks.base import row_features

USAGE = (
    "usage: behave-predict run_dir=<run folder> input=<events CSV/Parquet> output=<CSV>"
    " [labels=<labels file>] [config_dir=<config folder>]"
)


# Config groups whose files make up what behave-predict and behave-explain build from a record: the model
# files and what they mount, the task files and the objective a task may carry, the data files (behave-explain
# rebuilds the run's data from its recorded source).
TRUSTED_GROUPS = ("model", "encoder_init", "task", "objective", "data")
# A record written before runs recorded their task predicted one label per whole sequence.
EARLIER_TASK = {"_target_": "behave.tasks.sequence.SequenceTask"}


@cache
def trusted_targets(config_dirs: tuple[Path, ...] = ()) -> frozenset[str]:
    """Every `_target_` in the `TRUSTED_GROUPS` of behave's own configs and of `config_dirs` (folders the
    user names, never one a run folder names): the only code a record may name."""
    targets: set[str] = set()
    for root in (CONFIG_DIR, *config_dirs):
        for path in sorted(path for group in TRUSTED_GROUPS for path in (Path(root) / group).glob("*.yaml")):
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


def checked_model_config(model: dict, run_dir: Path, config_dirs: tuple[Path, ...] = ()) -> dict:
    """The record's model config, refused unless every `_target_` in it is one the trusted configs use."""
    return _checked(model, "model", run_dir, config_dirs)


def checked_task_config(task: dict, run_dir: Path, config_dirs: tuple[Path, ...] = ()) -> dict:
    """The record's task config (as `checked_model_config`)."""
    return _checked(task, "task", run_dir, config_dirs)


def checked_data_config(data: dict, run_dir: Path, config_dirs: tuple[Path, ...] = ()) -> dict:
    """The record's data config, refused unless every `_target_` in it (its source's) is a trusted one."""
    return _checked(data, "data", run_dir, config_dirs, needs_target=False)


def _checked(
    node: dict, what: str, run_dir: Path, config_dirs: tuple[Path, ...], needs_target: bool = True
) -> dict:
    named: set[str] = set()
    _collect_targets(node, named)
    untrusted = sorted(named - trusted_targets(tuple(Path(d).resolve() for d in config_dirs)))
    if untrusted or (needs_target and "_target_" not in node):
        shown = untrusted or ["(none)"]
        raise DataError(
            f"{result_file(run_dir)}: the {what} config names code behave does not ship ({shown}); "
            "refusing to build it. Only run folders written by behave-train with behave's configs (or those "
            "of a config folder you name: config_dir=<folder>) can be scored."
        )
    return node


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


def predict(
    run_dir: Path, events: Path, labels: Path | None = None, config_dirs: tuple[Path, ...] = ()
) -> pd.DataFrame:
    """One row per row the run's task gives for `events`: sequence_id (and cutoff where a row sees part of
    its sequence), prob[<class name>] for each class, the predicted class (`run.predictions.scores_table`).
    `config_dirs`: config folders whose `_target_`s are trusted besides behave's own."""
    result = load_record(run_dir)
    config = OmegaConf.create(result["config"])
    model_config = checked_model_config(
        OmegaConf.to_container(config.model, resolve=True), run_dir, config_dirs
    )
    task_node = OmegaConf.to_container(config.task, resolve=True) if "task" in config else EARLIER_TASK
    task = instantiate(checked_task_config(task_node, run_dir, config_dirs))
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
    rows = task.scoring_rows(event_log)
    events = pipeline.encode_events(event_log)
    inputs = RowInputs(
        events=events,
        sequence=rows.sequence,
        cutoff=rows.cutoff,
        labels=rows.label,
        static=pipeline.static_inputs(event_log)[rows.sequence],
        # Built only if the model reads them (a tree model): a neural model scores from the events alone.
        feature_source=lambda: row_features(pipeline, event_log, events.tokens, rows.sequence, rows.cutoff),
        sequence_ids=event_log.sequence_ids[rows.sequence],
    )
    recipe = instantiate(model_config)
    probs = recipe.predict_proba(run_dir, inputs, spec)
    whole = np.array_equal(rows.cutoff, event_log.lengths[rows.sequence])
    cutoffs = None if whole else rows.cutoff
    return scores_table(inputs.sequence_ids, probs, pipeline.class_names, cutoffs)


def config_dirs_argument(value) -> tuple[Path, ...]:
    """`config_dir=<folder>` or `config_dir=[<folder>,...]`; each must be a folder."""
    if value is None:
        return ()
    folders = tuple(Path(str(v)) for v in (value if OmegaConf.is_list(value) else [value]))
    missing = [str(folder) for folder in folders if not folder.is_dir()]
    if missing:
        raise DataError(f"config_dir: no such folder {missing}")
    return folders


def main(argv: list[str] | None = None) -> None:
    args = OmegaConf.from_cli(sys.argv[1:] if argv is None else argv)
    missing = [key for key in ("run_dir", "input", "output") if key not in args]
    if missing:
        print(f"{USAGE}\nmissing: {', '.join(missing)}", file=sys.stderr)
        sys.exit(2)
    try:
        table = predict(
            Path(args.run_dir),
            Path(args.input),
            Path(args.labels) if args.get("labels") else None,
            config_dirs=config_dirs_argument(args.get("config_dir")),
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
