"""`behave-predict`: score a new event log with a finished run of either family.

    behave-predict run_dir=outputs/runs/<run> input=new_events.csv output=scores.csv [labels=labels.csv]
        [config_dir=<a config folder of your own, as given to behave-train's hydra.searchpath>]
        [last_only=true]

The run folder carries everything fitted on its training split (pipeline.json: vocabulary, bins, scalers,
static encoder, feature state) and the model (XGBoost JSON or a weights-only state dict). The new log goes
through the SAME transform with nothing refitted: unseen tokens map to <unk>, unseen values to "other".
The run's task says which rows a new log gives (`Task.scoring_rows`): for the sequence and prefix tasks,
each sequence as it stands (for a prefix run, the early prediction for a case still in progress); for the
per-event task (task=next), a row per event of each sequence (labelled from the log), or with
`last_only=true` one per sequence: what comes after its last event, which has not happened yet. Rows that
see only part of their sequence carry a `cutoff` column (the events each saw). What the task fitted on the
training rows (a per-event task's classes and levels, by name) comes from the run's task_state.json
(`Task.restore`), so the new log's rows get the ids and features the run's own rows got.

A run folder may come from someone else, so nothing in it is trusted to name code: the model and the task
are rebuilt only from `_target_`s that behave's own configs use (see `trusted_targets`), or that the config
folders named on the command line (`config_dir=`) use; never from the run folder itself.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import OmegaConf

from behave.data.config import dataset_spec
from behave.data.errors import DataError
from behave.data.event_log import EventLog
from behave.data.ingestion.validate import validate
from behave.data.inputs import RowInputs
from behave.data.sources.files import FileSource
from behave.data.spec import DatasetSpec
from behave.data.storage.cache import atomic_path
from behave.data.transforms.pipeline import FittedPipeline
from behave.paths import CONFIG_DIR
from behave.run.earlier_names import current_targets
from behave.run.predictions import scores_table
from behave.run.record import TASK_STATE_FILE, UnreadableResult, read_result, result_file
from behave.tasks.base import Task

USAGE = (
    "usage: behave-predict run_dir=<run folder> input=<events CSV/Parquet> output=<CSV>"
    " [labels=<labels file>] [config_dir=<config folder>] [last_only=true]"
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


@dataclass(frozen=True)
class ScoringRun:
    """What a finished run scores a new log with: its task (restored from task_state.json), its model's
    recipe, the data spec and the fitted pipeline, none of it refitted."""

    run_dir: Path
    task: Task
    recipe: object
    spec: DatasetSpec
    pipeline: FittedPipeline
    class_names: list[str]


def load_run(run_dir: Path, config_dirs: tuple[Path, ...] = ()) -> ScoringRun:
    """The run folder's task, recipe and pipeline; `config_dirs`: config folders whose `_target_`s are
    trusted besides behave's own."""
    result = load_record(run_dir)
    config = OmegaConf.create(result["config"])
    model_config = checked_model_config(
        OmegaConf.to_container(config.model, resolve=True), run_dir, config_dirs
    )
    task_node = OmegaConf.to_container(config.task, resolve=True) if "task" in config else EARLIER_TASK
    state = read_task_state(run_dir)
    task = instantiate(checked_task_config(task_node, run_dir, config_dirs)).restore(state)
    spec = dataset_spec(config.data)
    pipeline_file = run_dir / "pipeline.json"
    if not pipeline_file.is_file():
        raise DataError(f"{run_dir}: pipeline.json is missing; the run folder is incomplete.")
    pipeline = FittedPipeline.from_state_dict(json.loads(pipeline_file.read_text())["fitted"], spec)
    recipe = task.model_recipe(instantiate(model_config))
    class_names = state.get("class_names", pipeline.class_names)  # as `TaskDataset.class_names`
    return ScoringRun(run_dir, task, recipe, spec, pipeline, list(class_names))


def read_log(spec: DatasetSpec, events: Path, labels: Path | None = None) -> EventLog:
    """A new log, validated as the run's data was (its read options and categorical fields)."""
    read_options = (spec.source or {}).get("read_options") if isinstance(spec.source, dict) else None
    source = FileSource(
        str(events),
        labels=str(labels) if labels else None,
        read_options=read_options,
        categorical=list(spec.schema.categorical),
        columns_missing_in_files=spec.schema.columns_missing_in_files,
    )
    event_log, _ = validate(source.load(), spec, with_labels=labels is not None)
    return event_log


def scoring_inputs(run: ScoringRun, event_log: EventLog, last_only: bool = False) -> RowInputs:
    """The rows the run's task gives for `event_log` (`Task.scoring_rows`), as both families read them."""
    task, pipeline = run.task, run.pipeline
    # (A task that predates `last_only` takes the log alone.)
    rows = task.scoring_rows(event_log, last_only=True) if last_only else task.scoring_rows(event_log)
    if not len(rows):
        raise DataError(f"no sequence of this log gives a row to score for task={task.name}")
    events = pipeline.encode_events(event_log)
    return RowInputs(
        events=events,
        sequence=rows.sequence,
        cutoff=rows.cutoff,
        labels=rows.label,
        static=pipeline.static_inputs(event_log)[rows.sequence],
        # Built only if the model reads them (a tree model): a neural model scores from the events alone.
        feature_source=lambda: task.scoring_features(pipeline, event_log, events.tokens, rows),
        sequence_ids=event_log.sequence_ids[rows.sequence],
        ids=task.scoring_ids(event_log, rows),
    )


def predict(
    run_dir: Path,
    events: Path,
    labels: Path | None = None,
    config_dirs: tuple[Path, ...] = (),
    last_only: bool = False,
) -> pd.DataFrame:
    """One row per row the run's task gives for `events`: sequence_id (and cutoff where a row sees part of
    its sequence), the class probabilities by name and the predicted class (`run.predictions.scores_table`).
    `config_dirs`: config folders whose `_target_`s are trusted besides behave's own; `last_only`: only each
    sequence's row as it stands (`Task.scoring_rows`)."""
    run = load_run(run_dir, config_dirs)
    event_log = read_log(run.spec, events, labels)
    inputs = scoring_inputs(run, event_log, last_only)
    probs = run.recipe.predict_proba(run_dir, inputs, run.spec)
    whole = np.array_equal(inputs.cutoff, event_log.lengths[inputs.sequence])
    return scores_table(
        inputs.sequence_ids,
        probs,
        run.class_names,
        None if whole else inputs.cutoff,
        regression=run.task.kind == "regression",
    )


def read_task_state(run_dir: Path) -> dict:
    """The task's fitted state the run carries ({} for a run written before runs carried it)."""
    path = run_dir / TASK_STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def config_dirs_argument(value) -> tuple[Path, ...]:
    """`config_dir=<folder>` or `config_dir=[<folder>,...]`; each must be a folder."""
    if value is None:
        return ()
    folders = tuple(Path(str(v)) for v in (value if OmegaConf.is_list(value) else [value]))
    missing = [str(folder) for folder in folders if not folder.is_dir()]
    if missing:
        raise DataError(f"config_dir: no such folder {missing}")
    return folders


def flag_argument(value, key: str) -> bool:
    """`key=true` / `key=false` on the command line."""
    if not isinstance(value, bool):
        raise DataError(f"{key} must be true or false, got {value!r}")
    return value


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
            last_only=flag_argument(args.get("last_only", False), "last_only"),
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
