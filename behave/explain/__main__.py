"""`behave-explain`: why a finished run's model decides, on its own test rows.

    behave-explain run_dir=outputs/runs/<run> [rows=1000]

Writes into <run_dir>/explanations/: attributions.parquet (tree models: each feature's SHAP contribution
per row; neural models: each event's integrated-gradients attribution per row, with its position from the
end and its token) and summary.json (what the report shows: the share of attribution per kind of feature,
or per position from the end, and the top features or tokens). The first `rows` test rows are explained.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from hydra.utils import instantiate
from omegaconf import OmegaConf

from behave.data.config import build_source
from behave.data.errors import DataError
from behave.data.inputs import RowInputs
from behave.data.storage.cache import atomic_path, write_json_atomic
from behave.data.transforms.pipeline import FittedPipeline
from behave.explain.planted import PLANTED, event_truth, planted_scores, tree_effect_scores
from behave.explain.summary import add_kind_shares, example_strips, top_bigrams, top_tokens
from behave.predict import (
    EARLIER_TASK,
    checked_data_config,
    checked_model_config,
    checked_task_config,
    config_dirs_argument,
    load_record,
)
from behave.tasks.dataset import prepare_task

USAGE = "usage: behave-explain run_dir=<run folder> [rows=1000] [config_dir=<config folder>]"
EXPLANATIONS = "explanations"
SUMMARY_FILE = "summary.json"


def first_rows(inputs: RowInputs, n: int) -> RowInputs:
    keep = np.arange(min(n, len(inputs)))
    return RowInputs(
        events=inputs.events,
        sequence=inputs.sequence[keep],
        cutoff=inputs.cutoff[keep],
        labels=inputs.labels[keep],
        static=inputs.static[keep],
        feature_source=inputs.features.iloc[keep].reset_index(drop=True),
        sequence_ids=inputs.sequence_ids[keep],
        ids={name: values[keep] for name, values in inputs.ids.items()},
    )


def check_against_planted(table, data) -> dict | None:
    """On a source that knows which events carry its label (the simulator), score the attributions
    against them; None for any other source."""
    raw = build_source(data.spec).load()
    if PLANTED not in raw.events.columns:
        return None
    from behave.data.sources.simulator.label import ORDER_WEIGHTS

    truth = event_truth(raw.events, data.spec.schema.sequence_id)
    return planted_scores(table, truth, ORDER_WEIGHTS)


def check_trees_against_planted(table, data) -> dict | None:
    """On the simulator: which kinds of features move a tree model's margin with each planted effect."""
    raw = build_source(data.spec).load()
    if PLANTED not in raw.events.columns:
        return None
    truth = event_truth(raw.events, data.spec.schema.sequence_id)
    return tree_effect_scores(table, truth, data.feature_kinds)


def explain(run_dir: Path, rows: int = 1000, config_dirs: tuple[Path, ...] = ()) -> dict:
    """Explain the run's first `rows` test rows; write the table and the summary; return the summary.
    Every `_target_` the record names (model, task, data source) must be one behave's configs or the
    `config_dirs` the user names use, as for behave-predict: a run folder may come from elsewhere."""
    result = load_record(run_dir)
    config = OmegaConf.create(result["config"])
    plain = OmegaConf.to_container(config, resolve=True)
    recipe = instantiate(checked_model_config(plain["model"], run_dir, config_dirs))
    if not hasattr(recipe, "explain"):
        raise DataError(f"{run_dir}: model {result['model']['name']} has no explainer yet")
    task = instantiate(checked_task_config(plain.get("task", EARLIER_TASK), run_dir, config_dirs))
    checked_data_config(plain["data"], run_dir, config_dirs)
    data = prepare_task(config.data, task)
    inputs = first_rows(data.inputs("test"), rows)
    explanation = recipe.explain(run_dir, inputs, data.spec)
    if explanation.kind == "features":
        add_kind_shares(explanation, data.feature_kinds)
    out = run_dir / EXPLANATIONS
    out.mkdir(exist_ok=True)
    table = explanation.table
    summary = {"model": result["model"], "kind": explanation.kind, **explanation.summary}
    if explanation.kind == "events":
        pipeline = FittedPipeline.from_state_dict(
            json.loads((run_dir / "pipeline.json").read_text())["fitted"], data.spec
        )
        names = list(pipeline.vocabulary.tokens_)
        table = table.assign(token=[names[int(t)] for t in table["token_id"]])
        summary["top_tokens"] = top_tokens(table, names)
        summary["top_bigrams"] = top_bigrams(table)
        if data.num_classes == 2:
            summary["examples"] = example_strips(table, inputs.labels, inputs.sequence_ids)
        planted = check_against_planted(table.assign(sequence_id=inputs.sequence_ids[table["row"]]), data)
        if planted:
            summary["planted"] = planted
    table.insert(1, "sequence_id", inputs.sequence_ids[table["row"].to_numpy()])
    if explanation.kind == "features":
        planted = check_trees_against_planted(table, data)
        if planted:
            summary["planted"] = planted
    with atomic_path(out / "attributions.parquet") as temp:
        table.to_parquet(temp, index=False)
    write_json_atomic(out / SUMMARY_FILE, summary)
    return summary


def main(argv: list[str] | None = None) -> None:
    args = OmegaConf.from_cli(sys.argv[1:] if argv is None else argv)
    if "run_dir" not in args:
        print(f"{USAGE}\nmissing: run_dir", file=sys.stderr)
        sys.exit(2)
    try:
        summary = explain(
            Path(args.run_dir), int(args.get("rows", 1000)), config_dirs_argument(args.get("config_dir"))
        )
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
