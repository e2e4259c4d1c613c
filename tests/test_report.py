"""behave-report end to end on a hand-built multirun folder whose model qualities are known."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, brier_score_loss, log_loss, roc_auc_score

from behave.data.errors import DataError
from behave.report.__main__ import main
from behave.report.paired import Comparison, verdict
from behave.report.plots import embedding_groups
from behave.report.records import load_records
from behave.report.stats import PairedAucDiff

N_TEST = 800
# Signal strength per model: GRU clearly better than XGBoost; the LSTM in between.
STRENGTH = {"gru": 2.0, "lstm": 1.3, "xgboost": 0.6}
FAMILY = {"gru": "neural", "lstm": "neural", "xgboost": "tabular"}
ERROR = "RuntimeError: simulated out of memory"


def test_labels(n_classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1234)
    return np.array([f"s{i:05d}" for i in range(N_TEST)]), rng.integers(0, n_classes, N_TEST)


test_labels.__test__ = False  # a helper, not a test


def binary_metrics(labels: np.ndarray, p1: np.ndarray) -> dict[str, float]:
    bins = np.minimum((p1 * 10).astype(int), 9)
    gaps = [
        abs(p1[bins == b].mean() - labels[bins == b].mean()) * (bins == b).mean() for b in np.unique(bins)
    ]
    return {
        "auroc": roc_auc_score(labels, p1),
        "auprc": average_precision_score(labels, p1),
        "accuracy": accuracy_score(labels, p1 > 0.5),
        "log_loss": log_loss(labels, p1),
        "brier": brier_score_loss(labels, p1),
        "ece": float(np.sum(gaps)),
    }


def write_run(
    run_dir: Path,
    model: str,
    seed: int,
    failed: bool = False,
    ids: np.ndarray | None = None,
    dataset: dict | None = None,
) -> None:
    """One run folder: result.json and, unless failed, predictions (+ embeddings for neural models)."""
    run_dir.mkdir(parents=True)
    sequence_ids, labels = test_labels()
    sequence_ids = sequence_ids if ids is None else ids
    rng = np.random.default_rng(100 * seed + len(model))
    logit = STRENGTH[model] * (2 * labels - 1) + rng.normal(size=N_TEST)
    p1 = 1 / (1 + np.exp(-logit))
    result = {
        "schema_version": 1,
        "status": "failed" if failed else "ok",
        "error": ERROR if failed else None,
        "model": {"name": model, "family": FAMILY[model]},
        "dataset": dataset
        or {
            "name": "synthetic",
            "fingerprint": "ab12cd34ef56",
            "task": "binary",
            "class_names": ["0", "1"],
            "split_sizes": {"train": 3000, "val": 600, "test": N_TEST},
            "vocab_size": 40,
            "n_features": 90,
            "oracle_test_auroc": 0.95,
            "card": {"n_sequences": 4400, "label_balance": {"0": 0.5, "1": 0.5}, "length_mean": 31.5},
        },
        "seed": seed,
        "git_commit": "abc123",
        "overrides": [f"model={model}", f"seed={seed}"],
        "config": {},
        "command": "behave-train -m experiment=compare data=synthetic",
        "n_parameters": 5000 if FAMILY[model] == "neural" else None,
        "embedding_dim": 8 if FAMILY[model] == "neural" else None,
        "best_val": {"metric": "val/auroc", "value": 0.8},
        "test_metrics": None if failed else binary_metrics(labels, p1),
        "fit_seconds": 10.0 + seed,
        "predict_seconds": 0.5,
        "hparams_search": None,
        "run_dir": "/elsewhere/original/path",
    }
    (run_dir / "result.json").write_text(json.dumps(result))
    if failed:
        return
    # Rows shuffled on disk: the report must join on sequence_id, not trust the row order.
    order = rng.permutation(N_TEST)
    frame = pd.DataFrame({"sequence_id": sequence_ids, "label": labels, "prob_0": 1 - p1, "prob_1": p1})
    frame.iloc[order].to_parquet(run_dir / "test_predictions.parquet")
    if FAMILY[model] == "neural":
        write_embeddings(run_dir, rng)


def write_embeddings(run_dir: Path, rng: np.random.Generator) -> None:
    events = ["page_view", "click", "scroll", "purchase"]
    tokens = ["<pad>", "<unk>"] + [f"{e}|page=p{i}" for e in events for i in range(6)]
    field0 = ["<pad>", "<unk>"] + [e for e in events for _ in range(6)]
    table = pd.DataFrame({"token": tokens, "field0": field0, "train_freq": rng.integers(1, 500, len(tokens))})
    for d in range(8):
        table[f"dim_{d}"] = rng.normal(size=len(tokens))
    table.to_parquet(run_dir / "token_embeddings.parquet")


@pytest.fixture
def multirun(tmp_path: Path) -> Path:
    """3 models x 2 seeds; LSTM seed 1 failed."""
    root = tmp_path / "multiruns" / "2026-11-22_10-00-00"
    job = 0
    for model in STRENGTH:
        for seed in (0, 1):
            write_run(root / str(job), model, seed, failed=(model == "lstm" and seed == 1))
            job += 1
    return root


def table_after(markdown: str, heading: str) -> list[list[str]]:
    """Rows (cells) of the first Markdown table after `heading`, header row included."""
    lines = markdown[markdown.index(heading) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return [rows[0]] + rows[2:]  # drop the --- separator


def test_report_end_to_end(multirun: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    out = tmp_path / "report"
    assert main([str(multirun), "--out", str(out), "--n-boot", "300"]) == 0
    printed = capsys.readouterr().out.split()
    for name in ("report.md", "report.html", "results.csv"):
        assert str(out / name) in printed and (out / name).exists()
    figures = sorted((out / "figures").glob("*.png"))
    assert len(figures) >= 4 and all(str(f) in printed for f in figures)

    markdown = (out / "report.md").read_text()
    table = table_after(markdown, "Results on the test split")
    header, rows = table[0], table[1:]
    assert [row[1] for row in rows] == ["gru", "lstm", "xgboost", "oracle (Bayes-optimal)"]
    auroc_column = header.index("auroc ↑")
    assert rows[-1][auroc_column] == "0.950"
    for row in rows[:-1]:
        cell = row[auroc_column].strip("*")
        if row[1] == "lstm":
            assert row[3] == "1 / 1" and "CI n/a" in cell
            continue
        mean, std, lo, hi = map(float, re.fullmatch(r"(\S+) ± (\S+) \[(\S+), (\S+)\]", cell).groups())
        assert lo <= mean <= hi and std >= 0
    assert rows[0][auroc_column].startswith("**")  # GRU has the best AUROC by construction
    assert [row[0] for row in rows] == ["1", "2", "3", "—"] and rows[2][2] == "tabular"  # ranked best first
    assert "Reference: xgboost (the tabular model with the best mean validation score)" in markdown
    assert list((out / "figures").glob("*_auroc_by_cost.png"))
    assert "lstm: no successful run for seed(s) 1." in markdown

    assert re.search(r"GRU beats XGBoost by 0\.\d{3} AUROC \(95% CI 0\.\d{3} to 0\.\d{3}", markdown)
    assert re.search(
        r"(GRU beats LSTM|LSTM beats GRU|No significant difference between GRU and LSTM)", markdown
    )
    assert "## Dataset: synthetic" in markdown and "behave-train model=gru seed=0" in markdown
    assert "### Failed runs" in markdown and ERROR in markdown

    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(figures)
    assert "http://" not in page and "https://" not in page and "<link" not in page
    assert ERROR in page and "GRU beats XGBoost" in page

    csv = pd.read_csv(out / "results.csv")
    assert len(csv) == 6 and set(csv["model"]) == set(STRENGTH)
    failed = csv[csv["status"] == "failed"]
    assert failed[["model", "seed"]].values.tolist() == [["lstm", 1]] and failed["error"].iloc[0] == ERROR
    gru0 = json.loads((multirun / "0" / "result.json").read_text())
    gru0_row = csv[(csv["model"] == "gru") & (csv["seed"] == 0)].iloc[0]
    assert gru0_row["auroc"] == pytest.approx(gru0["test_metrics"]["auroc"])
    assert gru0_row["run_dir"] == str((multirun / "0").resolve())


def test_default_out_dir_is_the_first_folder_and_globs_expand(multirun: Path):
    assert main([str(multirun / "*"), "--n-boot", "50"]) == 0
    # A glob's first match is a run folder: the report lands there, covering all matched runs.
    markdown = (multirun / "0" / "report.md").read_text()
    assert "6 runs (5 ok, 1 failed)" in markdown


def test_report_with_one_model_and_no_reference(tmp_path: Path):
    root = tmp_path / "sweep"
    write_run(root / "0", "gru", 0)
    assert main([str(root), "--n-boot", "50"]) == 0
    markdown = (root / "report.md").read_text()
    assert "No paired comparison" in markdown
    assert [row[1] for row in table_after(markdown, "Results on the test split")[1:]] == [
        "gru",
        "oracle (Bayes-optimal)",
    ]


def test_different_test_rows_are_not_compared(tmp_path: Path):
    root = tmp_path / "sweep"
    write_run(root / "0", "gru", 0)
    shifted = np.array([f"t{i:05d}" for i in range(N_TEST)])
    write_run(root / "1", "xgboost", 0, ids=shifted)
    assert main([str(root), "--n-boot", "50"]) == 0
    markdown = (root / "report.md").read_text()
    assert "GRU and XGBoost could not be compared" in markdown and "test rows differ" in markdown


def test_verdict_sentences():
    def comparison(mean: float, lo: float, hi: float) -> Comparison:
        result = PairedAucDiff(np.array([mean]), np.array([lo]), np.array([hi]), mean, lo, hi)
        return Comparison("gru", "xgboost", [0, 1], result)

    assert verdict(comparison(0.021, 0.012, 0.030)) == (
        "GRU beats XGBoost by 0.021 AUROC (95% CI 0.012 to 0.030, over 2 seeds)."
    )
    assert verdict(comparison(-0.021, -0.030, -0.012)).startswith(
        "XGBoost beats GRU by 0.021 AUROC (95% CI 0.012 to 0.030"
    )
    assert verdict(comparison(0.003, -0.004, 0.010)).startswith(
        "No significant difference between GRU and XGBoost (difference 0.003, 95% CI -0.004 to 0.010"
    )


def test_error_verdicts_name_the_model_with_the_lower_error():
    def comparison(mean: float, lo: float, hi: float) -> Comparison:
        result = PairedAucDiff(np.array([mean]), np.array([lo]), np.array([hi]), mean, lo, hi)
        return Comparison("dot_bias", "dot", [0, 1, 2], result, metric="RMSE", lower_is_better=True)

    # RMSE(dot_bias) - RMSE(dot) = -0.15: dot_bias wins by 0.15.
    assert verdict(comparison(-0.15, -0.17, -0.13)) == (
        "dot product + biases beats dot product by 0.150 RMSE (95% CI 0.130 to 0.170, over 3 seeds)."
    )
    assert verdict(comparison(0.02, 0.01, 0.03)).startswith(
        "dot product beats dot product + biases by 0.020 RMSE (95% CI 0.010 to 0.030"
    )
    assert verdict(comparison(0.001, -0.002, 0.004)).startswith("No significant difference")


def write_multiclass_run(run_dir: Path, model: str, strength: float, seed: int = 0) -> None:
    """A 3-class run: predictions only (no embeddings), metrics as the multiclass task records them."""
    run_dir.mkdir(parents=True)
    sequence_ids, labels = test_labels(n_classes=3)
    rng = np.random.default_rng(seed + len(model))
    logits = rng.normal(size=(N_TEST, 3)) + strength * np.eye(3)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    columns = {f"prob_{c}": probs[:, c] for c in range(3)}
    pd.DataFrame({"sequence_id": sequence_ids, "label": labels, **columns}).to_parquet(
        run_dir / "test_predictions.parquet"
    )
    result = {
        "status": "ok",
        "model": {"name": model, "family": FAMILY[model]},
        "dataset": {"name": "shop", "fingerprint": "ff00", "task": "multiclass", "oracle_test_auroc": None},
        "seed": seed,
        "test_metrics": {
            "accuracy": accuracy_score(labels, probs.argmax(axis=1)),
            "log_loss": log_loss(labels, probs),
            "macro_auroc": roc_auc_score(labels, probs, multi_class="ovr"),
        },
    }
    (run_dir / "result.json").write_text(json.dumps(result))


def test_multiclass_report_compares_macro_auroc(tmp_path: Path):
    root = tmp_path / "sweep"
    write_multiclass_run(root / "0", "gru", strength=2.0)
    write_multiclass_run(root / "1", "xgboost", strength=0.8)
    # A run that failed before it knew its model or data still shows up, with its error.
    (root / "2").mkdir()
    (root / "2" / "result.json").write_text(json.dumps({"status": "failed", "error": "config error"}))
    assert main([str(root), "--n-boot", "100"]) == 0
    markdown = (root / "report.md").read_text()
    header = table_after(markdown, "Results on the test split")[0]  # the first dataset: shop
    assert "macro_auroc ↑" in header and "auroc ↑" not in header
    assert re.search(r"GRU beats XGBoost by 0\.\d{3} macro AUROC \(95% CI", markdown)
    assert "oracle (Bayes-optimal)" not in markdown
    assert "`config error`" in markdown


def test_embedding_groups_split_a_dominant_first_field_by_the_second():
    table = pd.DataFrame(
        {
            "field0": ["page_view"] * 6 + ["search", "add_to_cart"],
            "field1": ["home", "home", "product", "product", "cart", None, "", ""],
        }
    )
    assert embedding_groups(table).tolist() == [
        "page_view|home", "page_view|home", "page_view|product", "page_view|product", "page_view|cart",
        "page_view", "search", "add_to_cart",
    ]  # fmt: skip
    balanced = table.assign(field0=["a", "b"] * 4)
    assert embedding_groups(balanced).tolist() == ["a", "b"] * 4  # no value holds most tokens: no split
    assert embedding_groups(table.drop(columns="field1")).tolist() == table["field0"].tolist()


def edited_run(run_dir: Path, **metrics: float) -> None:
    """Overwrite some test metrics of a written run (to stage edge cases)."""
    record = json.loads((run_dir / "result.json").read_text())
    record["test_metrics"].update(metrics)
    (run_dir / "result.json").write_text(json.dumps(record))


def test_intervals_stay_inside_the_metric_range_and_ties_are_not_bolded(tmp_path: Path):
    root = tmp_path / "sweep"
    for job, (model, seed) in enumerate([(m, s) for m in ("gru", "xgboost") for s in (0, 1, 2)]):
        write_run(root / str(job), model, seed)
        # AUROC near its ceiling with a spread, ECE near its floor, F1 0.000 for every model.
        edited_run(root / str(job), auroc=0.999 - 0.004 * seed, ece=0.001 + 0.012 * seed, f1=0.0)
    assert main([str(root), "--n-boot", "50"]) == 0
    table = table_after((root / "report.md").read_text(), "Results on the test split")
    header, rows = table[0], table[1:-1]
    for name in ("auroc ↑", "ece ↓", "f1 ↑"):
        for row in rows:
            cell = row[header.index(name)]
            lo, hi = map(float, re.search(r"\[(\S+), (\S+)\]", cell).groups())
            assert 0.0 <= lo <= hi <= 1.0, (name, cell)
    assert not any(row[header.index("f1 ↑")].startswith("**") for row in rows)  # all 0.000: nobody best
    assert not any(row[header.index("auroc ↑")].startswith("**") for row in rows)  # equal means: no winner


def test_an_unreadable_prediction_file_is_listed_not_fatal(multirun: Path, tmp_path: Path):
    broken = multirun / "0" / "test_predictions.parquet"
    broken.write_bytes(broken.read_bytes()[:200])  # truncated, as a killed writer would leave it
    out = tmp_path / "report"
    assert main([str(multirun), "--out", str(out), "--n-boot", "50"]) == 0
    markdown = (out / "report.md").read_text()
    assert "### Unreadable prediction files" in markdown and "0/test_predictions.parquet" in markdown
    # GRU seed 0 is out of the comparisons; its seed 1 still compares (and GRU is stronger by construction).
    assert re.search(r"GRU beats XGBoost by 0\.\d{3} AUROC \(95% CI [^)]*over 1 seed\)", markdown)


def test_the_data_cards_warnings_reach_the_report(tmp_path: Path):
    root = tmp_path / "sweep"
    dataset = {
        "name": "drifting", "fingerprint": "ff00", "task": "binary", "class_names": ["0", "1"],
        "card": {"n_sequences": 10, "warnings": ["label shares differ between the split parts beyond noise"],
                 "inputs": {"neural": {"token_fields": ["a"], "per_event_fields": []},
                            "tabular": {"token_fields": ["a"], "categorical_fields": ["a", "b"]},
                            "tabular_only": ["b"]}},
    }  # fmt: skip
    write_run(root / "0", "gru", 0, dataset=dataset)
    assert main([str(root), "--n-boot", "50"]) == 0
    markdown = (root / "report.md").read_text()
    assert "**Warning:** `label shares differ between the split parts beyond noise`" in markdown
    assert "**Only the tabular family sees** b." in markdown


def test_prefix_lengths_without_a_metric_are_named_not_tabled(tmp_path: Path):
    """A long prefix can leave test rows of one class only: no AUROC there, and no 'nan' in the table."""
    root = tmp_path / "sweep"
    for job, model in enumerate(("gru", "xgboost")):
        write_run(root / str(job), model, 0)
        record = json.loads((root / str(job) / "result.json").read_text())
        record["task"] = {"name": "prefix", "headline": "auroc", "group_label": "prefix length (events)"}
        record["config"] = {"task": {"_target_": "behave.tasks.prefix.PrefixTask", "lengths": [2, 40]}}
        record["test_metrics_by_group"] = {
            "2": {"auroc": 0.7 + 0.1 * job, "n_rows": 800, "n_sequences": 800},
            "40": {"auroc": None, "n_rows": 3, "n_sequences": 3},
        }
        (root / str(job) / "result.json").write_text(json.dumps(record))
    assert main([str(root), "--n-boot", "50"]) == 0
    markdown = (root / "report.md").read_text()
    table = table_after(markdown, "### auroc by prefix length (events)")
    assert [row[0] for row in table[1:]] == ["2"] and "nan" not in markdown
    assert "No auroc at prefix length (events) 40: their test rows hold fewer than two classes" in markdown


def test_one_reader_of_result_json_for_the_report_the_sweep_summary_and_predict(multirun: Path):
    from behave.predict import load_record
    from behave.run.record import UnreadableResult, find_result_files, read_result
    from behave.run.summary import sweep_rows

    damaged = multirun / "0" / "result.json"
    damaged.write_text(damaged.read_text()[:50])  # half-written, as a killed writer would leave it
    with pytest.raises(UnreadableResult, match=str(damaged)):
        read_result(multirun / "0")
    with pytest.raises(DataError, match="result.json: cannot be read"):
        load_record(multirun / "0")
    assert [row["status"] for row in sweep_rows(multirun)].count("unreadable") == 1
    assert len(load_records([multirun])) == len(find_result_files([multirun])) - 1


def test_embedding_tables_are_read_as_written(tmp_path: Path):
    from behave.run.embedding_table import read_embedding_table, vectors_of, write_embedding_table

    vectors = np.random.default_rng(0).normal(size=(12, 11)).astype(np.float32)  # dim_10 sorts before dim_2
    described = pd.DataFrame({"token": [f"t{i}" for i in range(12)], "train_freq": np.arange(12)})
    path = write_embedding_table(tmp_path / "token_embeddings.parquet", described, vectors)
    table = read_embedding_table(path)
    assert list(table.columns[:2]) == ["token", "train_freq"] and np.array_equal(vectors_of(table), vectors)
    assert read_embedding_table(tmp_path / "absent.parquet") is None
    with pytest.raises(ValueError, match="11 described rows for 12 vectors"):
        write_embedding_table(path, described.iloc[:11], vectors)


def test_a_runs_prediction_file_is_read_as_written_by_class_index(tmp_path: Path):
    from behave.run.predictions import read_predictions, scores_table, write_predictions

    probs = np.random.default_rng(1).dirichlet(np.ones(12), size=5)  # prob_10 sorts before prob_2
    ids = np.array(["e", "d", "c", "b", "a"])
    write_predictions(tmp_path, ids, np.arange(5), np.full(5, None), np.arange(5), probs)
    read = read_predictions(tmp_path)
    assert list(read.sequence_ids) == ["a", "b", "c", "d", "e"]  # sorted by (sequence id, cutoff)
    assert np.array_equal(read.probs, probs[::-1]) and np.array_equal(read.labels, np.arange(5)[::-1])
    # behave-predict's file names each class: its columns never read as class indices.
    names = [f"class {k}" for k in range(12)]
    table = scores_table(ids, probs, names)
    assert [c for c in table.columns if c.startswith("prob")] == [f"prob[class {k}]" for k in range(12)]
    assert not any(c.startswith("prob_") for c in table.columns)
