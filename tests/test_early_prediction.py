"""Early prediction end to end, as a process-mining user would run it: a YAML for their log, one sweep over
tasks and models, one report. The generated log's last activity gives the outcome away, so whole cases
are easy for every model and prefixes are not: the comparison must show exactly that."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.cli import behave_ok
from tests.process_log import write_process_project

pytestmark = pytest.mark.slow

MODELS = ("gru", "lstm", "xgboost")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("process")
    project = write_process_project(root)
    common = ["-m", *project, f"model={','.join(MODELS)}", "seed=0", "trainer.max_epochs=12"]
    common.append(f"paths.output_dir={root / 'outputs'}")
    for task in (["task=sequence"], ["task=prefix", "task.lengths=[2,4,8]"]):
        behave_ok("behave.train", *common, *task, f"hydra.sweep.dir={root / 'sweep' / task[0].split('=')[1]}")
    behave_ok("behave.report", str(root / "sweep"), "--n-boot", "300")
    return root / "sweep"


def records(sweep) -> dict[tuple[str, str], dict]:
    found = {}
    for path in sweep.rglob("result.json"):
        record = json.loads(path.read_text())
        assert record["status"] == "ok", record["error"]
        found[(record["task"]["name"], record["model"]["name"])] = record
    return found


def test_whole_cases_give_the_outcome_away_to_every_model(sweep):
    for model in MODELS:
        assert records(sweep)[("sequence", model)]["test_metrics"]["auroc"] > 0.97, model


def test_prefixes_never_include_the_revealing_last_activity(sweep):
    for model in MODELS:
        record = records(sweep)[("prefix", model)]
        by_length = record["test_metrics_by_group"]
        assert set(by_length) == {"2", "4", "8"}
        # Informative but far from certain: the early signal is a lean, not a giveaway.
        assert 0.5 < by_length["2"]["auroc"] < 0.9, model
        assert record["test_metrics"]["auroc"] < 0.92, model
        assert by_length["8"]["n_sequences"] < by_length["2"]["n_sequences"]  # only cases longer than 8


def test_report_gives_the_metric_by_prefix_length_for_every_model(sweep):
    markdown = (sweep / "report.md").read_text()
    assert "task prefix" in markdown and "### auroc by prefix length (events)" in markdown
    section = markdown.split("### auroc by prefix length (events)")[1].split("\n### ")[0]
    table = [line for line in section.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header[:2] == ["prefix length (events)", "test sequences"]
    assert {f"{m} auroc" for m in MODELS} <= set(header) and "gru − xgboost" in header
    assert [row.split("|")[1].strip() for row in table[2:]] == ["2", "4", "8"]
    assert list(sweep.glob("figures/*-prefix_auroc_by_group.png"))
    results = pd.read_csv(sweep / "results.csv")
    assert len(results) == 6 and (results["status"] == "ok").all()
