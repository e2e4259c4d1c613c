"""The founding study's comparison as one sweep: every model of the zoo trains, and the report ranks them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.cli import behave_ok
from tests.compose import SMALL_DATA

pytestmark = pytest.mark.slow

ZOO = ("logreg", "svm", "svm_rbf", "random_forest", "mlp", "xgboost", "lightgbm")
ZOO += ("gru", "lstm", "transformer", "cnn", "bag", "flatten")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    behave_ok(
        "behave.train", "-m", "experiment=zoo", "seed=0", *SMALL_DATA, "trainer.max_epochs=6",
        f"paths.cache_dir={root / 'cache'}", f"hydra.sweep.dir={root / 'sweep'}", timeout=1200,
    )  # fmt: skip
    behave_ok("behave.report", str(root / "sweep"), "--n-boot", "200")
    return root / "sweep"


def test_every_model_of_the_zoo_learns_the_planted_signal(zoo):
    records = [json.loads(path.read_text()) for path in zoo.rglob("result.json")]
    scores = {r["model"]["name"]: r["test_metrics"].get("auroc") for r in records if r["status"] == "ok"}
    assert sorted(scores) == sorted(ZOO), [r.get("error") for r in records if r["status"] != "ok"]
    weak = {model: auroc for model, auroc in scores.items() if not auroc > 0.6}
    assert not weak, weak


def test_the_report_ranks_every_model_against_the_best_tabular_one(zoo):
    markdown = (zoo / "report.md").read_text()
    results = pd.read_csv(zoo / "results.csv")
    tabular = results[results["family"] == "tabular"]
    # The reference is chosen on validation scores; here it must at least be a tabular model.
    reference = markdown.split("Reference: ")[1].split(" (")[0]
    assert reference in set(tabular["model"]) and "best mean validation score" in markdown
    ranked = [
        line.split("|")[2].strip() for line in markdown.splitlines() if line.startswith("| ") and "|" in line
    ]
    assert all(model in ranked for model in ZOO)
    assert sum(f"{model}" in markdown and f"− {reference}" in markdown for model in ZOO) == len(ZOO)
    assert list(zoo.glob("figures/*_auroc_by_cost.png"))
