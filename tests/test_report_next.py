"""The report of a per-event task: ranked prediction files keep what scoring needs, verdicts resample whole
sequences, every ranking metric gets a paired verdict, and the headline is shown pooled and per sequence,
and by history length."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from behave.report.__main__ import main
from behave.report.headline import section_kind
from behave.report.mean_comparison import paired_mean_comparison
from behave.report.per_row import mean_per_sequence
from behave.report.records import load_records
from behave.report.stats import paired_auc_comparison
from behave.run.predictions import PREDICTIONS_FILE, TOP_KEPT, read_predictions, write_predictions
from behave.tasks import metric_registry as registry
from behave.tasks.metrics import score_next_value
from behave.tasks.ranking_metrics import row_terms

N_CLASSES = 60
STRENGTH = {"gru": 3.0, "popularity": 0.5}


def test_rows_of_one_sequence_are_resampled_together():
    """Ten identical rows per sequence carry one sequence's worth of evidence: the row bootstrap's interval
    is about sqrt(10) too narrow, the sequence bootstrap's matches the one-row-per-sequence interval."""
    rng = np.random.default_rng(0)
    n_sequences, copies = 200, 10
    one_a, one_b = rng.normal(0.1, 1, n_sequences), rng.normal(0, 1, n_sequences)
    terms_a, terms_b = np.repeat(one_a, copies)[None], np.repeat(one_b, copies)[None]
    clusters = np.repeat(np.arange(n_sequences), copies)

    def width(result):
        return result.hi - result.lo

    by_row = paired_mean_comparison(terms_a, terms_b, n_boot=1000, seed=1)
    by_sequence = paired_mean_comparison(terms_a, terms_b, n_boot=1000, seed=1, clusters=clusters)
    alone = paired_mean_comparison(one_a[None], one_b[None], n_boot=1000, seed=1)
    assert width(by_sequence) > 2.5 * width(by_row)
    assert width(by_sequence) == pytest.approx(width(alone), rel=0.15)
    assert by_sequence.mean == pytest.approx(alone.mean)


def test_auroc_verdicts_resample_sequences_and_one_row_per_sequence_keeps_its_draws():
    rng = np.random.default_rng(2)
    labels = np.repeat(rng.integers(0, 2, 150), 8)
    scores_a = (labels + np.repeat(rng.normal(0, 1.2, 150), 8))[None]
    scores_b = (labels + np.repeat(rng.normal(0, 1.5, 150), 8))[None]
    clusters = np.repeat(np.arange(150), 8)
    by_row = paired_auc_comparison(labels, scores_a, scores_b, n_boot=500, seed=0)
    by_sequence = paired_auc_comparison(labels, scores_a, scores_b, n_boot=500, seed=0, clusters=clusters)
    assert by_sequence.hi - by_sequence.lo > 2 * (by_row.hi - by_row.lo)
    # One row per sequence: exactly the rows' bootstrap, so earlier reports keep their numbers.
    single = np.arange(150)
    first = paired_auc_comparison(labels[::8], scores_a[:, ::8], scores_b[:, ::8], n_boot=300, seed=3)
    same = paired_auc_comparison(
        labels[::8], scores_a[:, ::8], scores_b[:, ::8], n_boot=300, seed=3, clusters=single
    )
    assert (first.lo, first.hi, first.p_value) == (same.lo, same.hi, same.p_value)


def next_rows(seed: int = 0) -> pd.DataFrame:
    """Sequences of 1..9 test rows (cutoffs 1..), labels over N_CLASSES with a few unpredictable (-1)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 10, 80)
    sequence = np.repeat([f"u{i:03d}" for i in range(len(lengths))], lengths)
    cutoff = np.concatenate([np.arange(1, n + 1) for n in lengths])
    labels = rng.integers(0, N_CLASSES, len(sequence))
    labels[rng.random(len(labels)) < 0.05] = -1
    group = np.where(cutoff <= 2, cutoff.astype(str), "3+")
    return pd.DataFrame({"sequence_id": sequence, "cutoff": cutoff, "group": group, "label": labels})


def model_probs(rows: pd.DataFrame, model: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(100 * seed + len(model))
    logits = rng.normal(size=(len(rows), N_CLASSES))
    known = rows["label"].to_numpy() >= 0
    logits[np.flatnonzero(known), rows["label"].to_numpy()[known]] += STRENGTH[model]
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


def test_a_ranked_prediction_file_keeps_ranks_and_the_top_classes_not_every_probability(tmp_path: Path):
    rows = next_rows()
    probs = model_probs(rows, "gru", 0)
    columns = [rows[c].to_numpy() for c in ("sequence_id", "cutoff", "group", "label")]
    write_predictions(tmp_path, *columns, probs, ranked=True)
    frame = pd.read_parquet(tmp_path / PREDICTIONS_FILE)
    assert not any(c.startswith("prob_") for c in frame.columns)
    read = read_predictions(tmp_path)
    assert read.probs.shape == (len(rows), 0) and read.ranked.top_classes.shape == (len(rows), TOP_KEPT)
    order = np.lexsort((rows["cutoff"], rows["sequence_id"]))
    assert np.array_equal(read.ranked.top_classes[:, 0], probs[order].argmax(axis=1))
    assert np.all(np.diff(read.ranked.top_probs, axis=1) <= 0)
    from_file = {name: float(np.nanmean(t)) for name, t in row_terms(read.ranked.ranks).items()}
    assert from_file == pytest.approx(score_next_value(rows["label"].to_numpy(), probs))
    # Every other task keeps its full probability rows.
    write_predictions(tmp_path, *columns, probs)
    assert (
        read_predictions(tmp_path).ranked is None and read_predictions(tmp_path).probs.shape[1] == N_CLASSES
    )


def test_the_mean_per_sequence_weighs_each_sequence_once():
    terms = np.array([1.0, 1.0, 1.0, 0.0, np.nan])
    assert mean_per_sequence(np.array(["a", "a", "a", "b", "b"]), terms) == pytest.approx(0.5)


def write_next_run(run_dir: Path, model: str, seed: int) -> None:
    run_dir.mkdir(parents=True)
    rows = next_rows()
    probs = model_probs(rows, model, seed)
    labels = rows["label"].to_numpy()
    columns = [rows[c].to_numpy() for c in ("sequence_id", "cutoff", "group", "label")]
    write_predictions(run_dir, *columns, probs, ranked=True)
    by_group = {}
    for name in ("1", "2", "3+"):
        members = rows["group"].to_numpy() == name
        by_group[name] = {
            **score_next_value(labels[members], probs[members]),
            "n_rows": int(members.sum()),
            "n_sequences": int(rows["sequence_id"][members].nunique()),
        }
    record = {
        "status": "ok",
        "model": {"name": model, "family": "neural" if model == "gru" else "tabular"},
        "dataset": {"name": "synthetic_next", "fingerprint": "ff00ff00ff00", "task": "multiclass"},
        "seed": seed,
        "task": {
            "name": "next",
            "headline": "accuracy",
            "headline_direction": "max",
            "metrics": list(registry.metrics_for(registry.NEXT_VALUE)),
            "group_label": "history length",
            "rows": "one prediction per event",
            "named_in_titles": True,
        },
        "config": {"task": {"_target_": "behave.tasks.next.NextTask"}},
        "best_val": {"metric": "val/loss", "value": 1.0},
        "test_metrics": score_next_value(labels, probs),
        "test_metrics_by_group": by_group,
    }
    (run_dir / "result.json").write_text(json.dumps(record))


@pytest.fixture
def next_sweep(tmp_path: Path) -> Path:
    root = tmp_path / "sweep"
    for job, (model, seed) in enumerate((m, s) for m in STRENGTH for s in (0, 1)):
        write_next_run(root / str(job), model, seed)
    return root


def section(markdown: str, heading: str) -> str:
    start = markdown.index(heading)
    end = markdown.find("\n### ", start + len(heading))
    return markdown[start : end if end > 0 else None]


def test_a_next_value_report_pairs_every_ranking_metric_by_sequence(next_sweep: Path):
    assert section_kind(load_records([next_sweep])) == registry.NEXT_VALUE
    assert main([str(next_sweep), "--n-boot", "200", "--reference", "popularity"]) == 0
    markdown = (next_sweep / "report.md").read_text()
    assert "GRU beats popularity by" in markdown and " accuracy (95% CI" in markdown  # not AUROC
    verdicts = section(markdown, "### Paired comparisons on every ranking metric")
    for name in registry.metrics_for(registry.NEXT_VALUE):
        assert f"| {registry.metric(name).label} {registry.metric(name).arrow} |" in verdicts
    assert "**+" in verdicts and "**-" in verdicts  # GRU better on recall, lower (better) log loss
    pooled = section(markdown, "### accuracy: pooled and per sequence")
    assert "| gru |" in pooled and "| popularity |" in pooled
    by_length = section(markdown, "### accuracy by history length")
    assert all(f"| {group} |" in by_length for group in ("1", "2", "3+"))
    assert "reliability" not in markdown and "roc_pr" not in markdown


def test_the_pooled_and_per_sequence_accuracy_are_the_hand_computed_ones(next_sweep: Path):
    assert main([str(next_sweep), "--n-boot", "20"]) == 0
    pooled = section((next_sweep / "report.md").read_text(), "### accuracy: pooled and per sequence")
    rows = next_rows()
    accuracies, per_sequence = [], []
    for seed in (0, 1):
        probs = model_probs(rows, "gru", seed)
        hit = (probs.argmax(axis=1) == rows["label"].to_numpy()).astype(float)
        accuracies.append(hit.mean())
        per_sequence.append(pd.Series(hit).groupby(rows["sequence_id"]).mean().mean())
    line = next(line for line in pooled.splitlines() if line.startswith("| gru |"))
    assert f"| {np.mean(accuracies):.3f} | {np.mean(per_sequence):.3f} | 80 | 2 |" in line


def test_history_length_groups_sort_by_their_first_number():
    from behave.report.groups import group_key

    names = ["51+", "6-10", "2", "11-20", "1", "21-50"]
    assert sorted(names, key=group_key) == ["1", "2", "6-10", "11-20", "21-50", "51+"]


def test_the_scored_label_kind_is_the_one_kind_every_recorded_metric_shares(tmp_path: Path):
    from behave.report.records import parse_record

    def record(metrics):
        task = {"name": "next", "headline": "accuracy", **({"metrics": metrics} if metrics else {})}
        return parse_record({"status": "ok", "task": task}, tmp_path / "result.json")

    assert section_kind([record(list(registry.metrics_for(registry.BINARY)))]) == registry.BINARY
    assert section_kind([record(list(registry.metrics_for(registry.NEXT_VALUE)))]) == registry.NEXT_VALUE
    assert section_kind([record(["accuracy", "log_loss"])]) is None  # binary, multiclass or next value
    assert section_kind([record(None)]) is None  # written before records listed their metrics
