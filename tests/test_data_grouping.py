"""Grouping by data, not by name: runs of a resplit or k-fold protocol are pooled as splits of one dataset
only when they share the fingerprint of the source and pipeline without the split."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from behave.data.config import build_source, dataset_spec
from behave.data.storage.prepared import data_fingerprint
from behave.report.__main__ import main as report_main
from behave.report.records import group_by_dataset, load_records
from behave.train import run
from tests.compose import compose_train

SIMULATOR = ["data.source.n_users=300"]


def data_key(overrides: list[str], tmp_path: Path) -> str:
    spec = dataset_spec(compose_train([*SIMULATOR, *overrides], tmp_path / "run", tmp_path / "cache").data)
    return data_fingerprint(spec, build_source(spec).fingerprint())


def test_the_data_fingerprint_leaves_out_the_split_and_keeps_the_source(tmp_path):
    resplit = data_key(["protocol=resplit", "seed=1"], tmp_path)
    assert data_key(["protocol=resplit", "seed=2"], tmp_path) == resplit
    assert data_key(["protocol=kfold", "seed=3"], tmp_path) == resplit
    assert data_key(["data.split.method=time"], tmp_path) == resplit
    assert data_key(["protocol=resplit", "seed=1", "data.source.seed=8"], tmp_path) != resplit
    assert data_key(["data.tokens.min_freq=3"], tmp_path) != resplit  # another pipeline, other inputs


def write_record(run_dir: Path, model: str, seed: int, draw: int, data: str | None, auroc: float) -> None:
    """A finished resplit run's result.json on split `seed` of simulator draw `draw`; `data`: its data
    fingerprint (None: a record from before there was one)."""
    run_dir.mkdir(parents=True)
    dataset = {
        "name": "synthetic",
        "fingerprint": f"draw{draw}-split{seed}",
        "task": "binary",
        "split_sizes": {"train": 700, "val": 150, "test": 150},
    }
    if data is not None:
        dataset["data_fingerprint"] = data
    record = {
        "status": "ok",
        "model": {"name": model, "family": "tabular"},
        "seed": seed,
        "dataset": dataset,
        "config": {"protocol": {"name": "resplit"}},
        "best_val": {"metric": "val/auroc", "value": 0.7},
        "test_metrics": {"auroc": auroc},
    }
    (run_dir / "result.json").write_text(json.dumps(record))


def two_draws(root: Path, fingerprints: tuple[str | None, str | None]) -> None:
    """Two simulator draws under one name, three splits and two models each."""
    for draw, data in enumerate(fingerprints):
        for seed in range(3):
            for model, auroc in (("logreg", 0.70), ("xgboost", 0.75)):
                run_dir = root / f"draw{draw}-{model}-{seed}"
                write_record(run_dir, model, seed, draw, data, auroc + 0.01 * seed)


def test_two_draws_under_one_name_are_two_datasets(tmp_path):
    two_draws(tmp_path / "runs", ("aaaa1111aaaa1111", "bbbb2222bbbb2222"))
    groups = group_by_dataset(load_records([tmp_path / "runs"]))
    assert sorted(len(records) for records in groups.values()) == [6, 6]
    assert report_main([str(tmp_path / "runs"), "--n-boot", "50"]) == 0
    markdown = (tmp_path / "runs" / "report.md").read_text()
    assert "on 2 datasets" in markdown and "Grouped by name" not in markdown
    titles = re.findall(r"Dataset: synthetic, data `(\w+)` \(protocol resplit, 3 splits\)", markdown)
    assert sorted(titles) == ["aaaa1111aaaa", "bbbb2222bbbb"]
    assert "On **synthetic (data aaaa1111)**" in markdown and "On **synthetic (data bbbb2222)**" in markdown
    table = pd.read_csv(tmp_path / "runs" / "results.csv")
    assert table.groupby("data_fingerprint")["fingerprint"].nunique().to_dict() == {
        "aaaa1111aaaa1111": 3,
        "bbbb2222bbbb2222": 3,
    }


def test_records_without_the_data_fingerprint_are_grouped_by_name_and_say_so(tmp_path):
    two_draws(tmp_path / "runs", (None, None))
    groups = group_by_dataset(load_records([tmp_path / "runs"]))
    assert [len(records) for records in groups.values()] == [12]  # as before: the name is all they give
    assert report_main([str(tmp_path / "runs"), "--n-boot", "50"]) == 0
    markdown = (tmp_path / "runs" / "report.md").read_text()
    assert "on 1 dataset." in markdown and "(protocol resplit, 6 splits)" in markdown
    assert (
        "**Grouped by name:** these records predate the fingerprint of the data without its split" in markdown
    )


@pytest.mark.slow
def test_two_simulator_seeds_trained_under_one_name_are_reported_as_two_datasets(tmp_path):
    root = tmp_path / "sweep"
    for source_seed in (1, 2):
        for seed in (0, 1):
            overrides = [
                "protocol=resplit",
                "model=logreg",
                f"seed={seed}",
                f"data.source.seed={source_seed}",
            ]
            cfg = compose_train([*SIMULATOR, *overrides], root / f"{source_seed}-{seed}", tmp_path / "cache")
            assert run(cfg).status == "ok"
    data = {
        path.parent.name: json.loads(path.read_text())["dataset"]["data_fingerprint"]
        for path in root.glob("*/result.json")
    }
    assert data["1-0"] == data["1-1"] != data["2-0"] == data["2-1"]
    assert report_main([str(root), "--n-boot", "50"]) == 0
    markdown = (root / "report.md").read_text()
    assert "on 2 datasets" in markdown
    assert len(re.findall(r"Dataset: synthetic, data `\w+` \(protocol resplit, 2 splits\)", markdown)) == 2
