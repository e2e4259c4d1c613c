"""The metric registry answers every metric fact, tasks record them, and the report reads only the record
plus the registry: ranks follow the recorded headline's direction, and a record it cannot read is an error
naming its result.json."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from behave.report import compare, paired
from behave.report.headline import RecordError, is_regression, section_headline
from behave.report.records import parse_record
from behave.tasks import metric_registry as registry
from behave.tasks.metrics import score, score_regression
from behave.tasks.prefix import PrefixTask
from behave.tasks.rating import RatingTask
from behave.tasks.sequence import SequenceTask

INF = math.inf
# name: (label, range, direction, label kinds, mean over rows)
FACTS = {
    "auroc": ("AUROC", (0, 1), "max", {"binary"}, False),
    "macro_auroc": ("macro AUROC", (0, 1), "max", {"multiclass"}, False),
    "auprc": ("AUPRC", (0, 1), "max", {"binary"}, False),
    "accuracy": ("accuracy", (0, 1), "max", {"binary", "multiclass", "next_value"}, True),
    "f1": ("F1", (0, 1), "max", {"binary"}, False),
    "macro_f1": ("macro F1", (0, 1), "max", {"multiclass"}, False),
    "log_loss": ("log loss", (0, INF), "min", {"binary", "multiclass", "next_value"}, True),
    "recall@5": ("recall@5", (0, 1), "max", {"next_value"}, True),
    "recall@10": ("recall@10", (0, 1), "max", {"next_value"}, True),
    "recall@20": ("recall@20", (0, 1), "max", {"next_value"}, True),
    "mrr@10": ("MRR@10", (0, 1), "max", {"next_value"}, True),
    "ndcg@10": ("NDCG@10", (0, 1), "max", {"next_value"}, True),
    "brier": ("Brier score", (0, 1), "min", {"binary"}, True),
    "ece": ("ECE", (0, 1), "min", {"binary"}, False),
    "loss": ("loss", (0, INF), "min", {"label_free"}, True),
    "mae": ("MAE", (0, INF), "min", {"regression"}, True),
    "rmse": ("RMSE", (0, INF), "min", {"regression"}, False),
    "slice_retrieval": ("slice retrieval", (0, 1), "max", {"label_free"}, False),
}


@pytest.mark.parametrize("name", sorted(FACTS))
def test_the_registry_states_each_metrics_facts(name):
    label, bounds, direction, kinds, mean_over_rows = FACTS[name]
    metric = registry.metric(name)
    assert (metric.label, metric.range, metric.direction) == (label, bounds, direction)
    assert metric.label_kinds == kinds and metric.mean_over_rows is mean_over_rows
    assert registry.monitor_mode(f"val/{name}") == direction
    assert registry.search_direction(f"val/{name}") == f"{direction}imize"


def test_every_registered_metric_is_in_the_facts_table():
    assert set(registry.METRICS) == set(FACTS)


def test_scored_metrics_are_the_registrys_list_for_the_label_kind():
    binary = score([0, 1, 1, 0], [[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.6, 0.4]])
    multiclass = score([0, 1, 2, 1], [[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]])
    assert list(binary) == list(registry.metrics_for("binary"))
    assert set(multiclass) == set(registry.metrics_for("multiclass"))
    assert set(score_regression([1.0, 2.0], [1.5, 2.5])) == set(registry.metrics_for("regression"))


def test_an_unknown_monitor_or_label_kind_is_an_error_naming_it():
    with pytest.raises(registry.UnknownMetric, match="'val/nope'|'nope'"):
        registry.monitor_mode("val/nope")
    with pytest.raises(registry.UnknownMetric, match="'ranking'"):
        registry.headline_for("ranking")


@pytest.mark.parametrize(
    ("task", "label_kind", "headline", "direction"),
    [
        (SequenceTask(), "binary", "auroc", "max"),
        (PrefixTask(lengths=[2]), "multiclass", "macro_auroc", "max"),
        (RatingTask(), "binary", "rmse", "min"),  # the sequence label's kind does not change the rating's
    ],
)
def test_tasks_record_their_headline_direction_and_metric_list(task, label_kind, headline, direction):
    described = task.describe(label_kind)
    assert described["headline"] == headline and described["headline_direction"] == direction
    assert described["monitor"] == f"val/{headline}" and headline in described["metrics"]
    assert "lower_is_better" not in described


def record(
    tmp_path: Path, name: str, model: str, value: float, task: dict | None, dataset: dict | None = None
):
    folder = tmp_path / name
    raw = {
        "status": "ok",
        "model": {"name": model, "family": "tabular"},
        "seed": 0,
        "dataset": dataset or {"name": "d"},
        "task": task,
        "test_metrics": {metric: value for metric in ("auroc", "rmse")},
    }
    return parse_record(raw, folder / "result.json")


def ranked(records) -> list[str]:
    headline = section_headline(records)
    summaries = [compare.summarize_model(records, model) for model in compare.model_names(records)]
    return [summary.model for summary in compare.rank_summaries(summaries, headline)]


def test_the_report_ranks_by_the_recorded_headline_in_its_direction(tmp_path: Path):
    rmse = {"headline": "rmse", "headline_direction": "min"}
    auroc = {"headline": "auroc", "headline_direction": "max"}
    values = {"low": 0.6, "high": 0.9}
    by_rmse = [record(tmp_path, m, m, v, rmse) for m, v in values.items()]
    by_auroc = [record(tmp_path, m, m, v, auroc) for m, v in values.items()]
    assert ranked(by_rmse) == ["low", "high"]
    assert ranked(by_auroc) == ["high", "low"]
    assert is_regression(section_headline(by_rmse)) and not is_regression(section_headline(by_auroc))


def test_records_from_before_the_registry_still_read(tmp_path: Path):
    # Before headline_direction: the registry gives the direction. Before task blocks: the label kind.
    assert section_headline([record(tmp_path, "a", "m", 1.0, {"headline": "rmse"})]).name == "rmse"
    old = record(tmp_path, "b", "m", 0.7, None, {"name": "d", "task": "multiclass"})
    assert section_headline([old]).name == "macro_auroc"


def test_a_record_the_report_cannot_read_is_an_error_naming_its_file(tmp_path: Path):
    unknown = record(tmp_path, "unknown", "m", 0.5, {"headline": "nope"})
    with pytest.raises(RecordError, match=r"unknown/result\.json: task\.headline 'nope'"):
        section_headline([unknown])
    silent = record(tmp_path, "silent", "m", 0.5, None)
    with pytest.raises(RecordError, match=r"silent/result\.json: .*neither task\.headline"):
        section_headline([silent])
    contradicting = record(tmp_path, "flipped", "m", 0.5, {"headline": "rmse", "headline_direction": "max"})
    with pytest.raises(RecordError, match=r"flipped/result\.json: .*contradicts"):
        section_headline([contradicting])


def test_paired_comparisons_score_the_headline_or_its_kinds_pairable_metric():
    assert paired.comparison_metric(registry.metric("mae")).name == "mae"
    assert paired.comparison_metric(registry.metric("macro_auroc")).name == "macro_auroc"
    assert paired.comparison_metric(registry.metric("accuracy")).name == "auroc"
    assert paired.comparison_metric(registry.metric("loss")).name == "loss"


def test_without_validation_scores_no_reference_is_guessed_by_name(tmp_path: Path):
    runs = [record(tmp_path, m, m, 0.7, {"headline": "auroc"}) for m in ("xgboost", "lightgbm")]
    assert compare.resolve_reference(runs, compare.AUTO)[0] is None
    assert compare.resolve_reference(runs[:1], compare.AUTO)[0] == "xgboost"


def test_the_reference_follows_the_recorded_monitors_direction(tmp_path: Path):
    def scored(name: str, monitor: str, value: float):
        run = record(tmp_path, f"{name}-{monitor[4:]}", name, 0.7, {"headline": "rmse"})
        return parse_record(
            {**run.raw, "best_val": {"metric": monitor, "value": value}}, run.run_dir / "result.json"
        )

    by_rmse = [scored("xgboost", "val/rmse", 0.9), scored("lightgbm", "val/rmse", 0.8)]
    assert compare.resolve_reference(by_rmse, compare.AUTO)[0] == "lightgbm"
    by_auroc = [scored("xgboost", "val/auroc", 0.9), scored("lightgbm", "val/auroc", 0.8)]
    assert compare.resolve_reference(by_auroc, compare.AUTO)[0] == "xgboost"
    with pytest.raises(RecordError, match=r"xgboost-nope/result\.json: best_val\.metric 'val/nope'"):
        compare.resolve_reference([scored("xgboost", "val/nope", 0.9)], compare.AUTO)
