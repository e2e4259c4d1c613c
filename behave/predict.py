"""`behave-predict`: score a new event log with a finished run of either family.

    behave-predict run_dir=outputs/runs/<run> input=new_events.csv output=scores.csv [labels=labels.csv]

The run folder carries everything fitted on its training split (pipeline.json: vocabulary, bins, scalers,
feature state) and the model (XGBoost JSON or a weights-only state dict). The new log goes through the
SAME transform with nothing refitted: unseen tokens map to <unk>, unseen values to "other" features.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import OmegaConf

from behave.data.cache import atomic_path
from behave.data.config import dataset_spec
from behave.data.errors import DataError
from behave.data.pipeline import FittedPipeline
from behave.data.sources.files import FileSource
from behave.data.validate import validate

USAGE = (
    "usage: behave-predict run_dir=<run folder> input=<events CSV/Parquet> output=<CSV>"
    " [labels=<labels file>]"
)


def predict(run_dir: Path, events: Path, labels: Path | None = None) -> pd.DataFrame:
    """One row per sequence of `events`: sequence_id, prob_<class> for each class, predicted class."""
    result = json.loads((run_dir / "result.json").read_text())
    if result["status"] != "ok":
        raise DataError(
            f"{run_dir}: this run failed ({result.get('error')}); there is no model to predict with."
        )
    config = OmegaConf.create(result["config"])
    spec = dataset_spec(config.data)
    state = json.loads((run_dir / "pipeline.json").read_text())
    pipeline = FittedPipeline.from_state_dict(state["fitted"], spec)
    source = FileSource(
        str(events),
        labels=str(labels) if labels else None,
        read_options=dict(getattr(spec.source, "read_options", None) or {}),
    )
    event_log, _ = validate(source.load(), spec, with_labels=labels is not None)
    views = pipeline.transform(event_log)
    recipe = instantiate(config.model)
    probs = recipe.predict_proba(run_dir, views, spec)
    table = pd.DataFrame({"sequence_id": event_log.sequence_ids})
    for k, name in enumerate(pipeline.class_names):
        table[f"prob_{name}"] = probs[:, k]
    table["predicted"] = np.asarray(pipeline.class_names, dtype=object)[probs.argmax(axis=1)]
    return table


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
