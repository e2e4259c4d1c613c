"""A real multirun in a subprocess (2 models x 2 seeds, tiny data), one failing job, then the report."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from behave.paths import REPO_ROOT

pytestmark = pytest.mark.slow

TINY = ["data.source.n_users=500", "trainer.max_epochs=2"]


def behave(tool: str, *args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", tool, *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweeps")
    common = [*TINY, f"paths.cache_dir={root / 'cache'}", f"paths.output_dir={root / 'outputs'}"]
    ok = behave(
        "behave.train",
        "-m",
        "model=gru,xgboost",
        "seed=0,1",
        f"hydra.sweep.dir={root / 'ok'}",
        *common,
        cwd=REPO_ROOT,
    )
    assert ok.returncode == 0, ok.stderr[-3000:]
    # An impossible tree depth makes this job fail inside XGBoost; the sweep must still finish.
    failing = behave(
        "behave.train",
        "-m",
        "model=xgboost",
        "seed=2",
        "model.params.max_depth=-1",
        f"hydra.sweep.dir={root / 'failing'}",
        *common,
        cwd=REPO_ROOT,
    )
    assert failing.returncode == 0, failing.stderr[-3000:]
    report = behave(
        "behave.report",
        str(root / "ok"),
        str(root / "failing"),
        "--out",
        str(root / "report"),
        "--n-boot",
        "300",
        cwd=REPO_ROOT,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    (root / "ok.out").write_text(ok.stdout + ok.stderr)
    (root / "failing.out").write_text(failing.stdout + failing.stderr)
    return root


def test_every_job_wrote_its_record(sweeps):
    records = [json.loads(p.read_text()) for p in sweeps.rglob("result.json")]
    assert len(records) == 5
    assert sorted((r["model"]["name"], r["seed"], r["status"]) for r in records) == [
        ("gru", 0, "ok"),
        ("gru", 1, "ok"),
        ("xgboost", 0, "ok"),
        ("xgboost", 1, "ok"),
        ("xgboost", 2, "failed"),
    ]
    assert len({r["dataset"]["fingerprint"] for r in records if r["status"] == "ok"}) == 1
    assert all(r["command"].startswith("behave-train -m") for r in records)


def test_report_table_has_one_row_per_model_with_mean_inside_its_ci(sweeps):
    results = pd.read_csv(sweeps / "report" / "results.csv")
    assert len(results) == 5
    ok = results[results["status"] == "ok"]
    for model, runs in ok.groupby("model"):
        assert len(runs) == 2, model
    markdown = (sweeps / "report" / "report.md").read_text()
    rows = [
        line for line in markdown.splitlines() if line.startswith("| gru |") or line.startswith("| xgboost |")
    ]
    assert len(rows) >= 2
    for row in rows[:2]:
        auroc_cell = row.split("|")[3]
        mean = float(auroc_cell.split("±")[0].strip(" *"))
        low, high = (float(x) for x in auroc_cell.split("[")[1].split("]")[0].split(","))
        assert low <= mean <= high


def test_failed_job_is_listed_with_its_error(sweeps):
    markdown = (sweeps / "report" / "report.md").read_text()
    assert "max_depth" in markdown
    assert "failed" in markdown.lower()


def test_html_is_self_contained_with_embedded_images(sweeps):
    html = (sweeps / "report" / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3
    assert "http://" not in html and "https://" not in html


def test_optuna_search_records_its_budget_and_survives_a_failed_trial(tmp_path):
    search = behave(
        "behave.train", "hparams_search=xgboost", "search_trials=4", "data.source.n_users=400",
        "model.params.max_depth=choice(-1,3)",  # depth -1 makes XGBoost fail: some trials must fail
        f"hydra.sweep.dir={tmp_path / 'search'}", f"paths.cache_dir={tmp_path / 'cache'}", cwd=REPO_ROOT,
    )  # fmt: skip
    assert search.returncode == 0, search.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "search").glob("trial_*/result.json"))]
    assert len(records) == 4
    assert {r["status"] for r in records} == {"ok", "failed"}
    assert all(
        r["hparams_search"] == {"sweeper": "optuna", "n_trials": 4, "direction": "maximize"} for r in records
    )
    assert (tmp_path / "search" / "optimization_results.yaml").exists()


def test_parallel_launcher_runs_jobs_that_share_one_fresh_cache(tmp_path):
    # Both jobs find no cache and prepare the same dataset at once: one copy must win, none half-written.
    sweep = behave(
        "behave.train", "-m", "model=xgboost", "seed=0,1", "data.source.n_users=400",
        "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path / 'sweep'}",
        f"paths.cache_dir={tmp_path / 'cache'}", f"paths.output_dir={tmp_path / 'outputs'}", cwd=REPO_ROOT,
    )  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "sweep").rglob("result.json")]
    assert sorted((r["seed"], r["status"]) for r in records) == [(0, "ok"), (1, "ok")]
    assert len({r["dataset"]["fingerprint"] for r in records}) == 1
    cached = [p.name for p in (tmp_path / "cache").iterdir()]
    assert cached == [records[0]["dataset"]["fingerprint"]]


def test_every_run_and_every_sweep_ends_with_what_happened(sweeps):
    ok = (sweeps / "ok.out").read_text()
    assert "gru on synthetic (task sequence, seed 1): ok" in ok and "test auroc 0." in ok
    assert "epoch 1/2  train/loss" in ok  # no progress bar outside a terminal: a line per epoch instead
    assert "4 jobs, all ok." in ok and f"next: behave-report {sweeps / 'ok'}" in ok
    failing = (sweeps / "failing.out").read_text()
    (summary,) = [line for line in failing.splitlines() if "jobs FAILED" in line]
    assert summary.startswith("1 of 1 jobs FAILED:") and "max_depth" in summary


def test_a_submitit_sweep_reports_and_its_rerun_skips_finished_jobs(tmp_path):
    """hydra/launcher=slurm's launcher, run here by submitit's local executor: jobs run as separate
    submitted processes, the report reads the sweep, and rerunning the command refits nothing."""
    args = [
        "behave.train", "-m", "hydra/launcher=submitit_local", "model=logreg,xgboost",
        "data.source.n_users=600",
        f"hydra.sweep.dir={tmp_path / 'sweep'}", f"paths.cache_dir={tmp_path / 'cache'}",
    ]  # fmt: skip
    first = behave(*args, cwd=REPO_ROOT)
    assert first.returncode == 0, first.stderr[-3000:]
    assert list((tmp_path / "sweep" / ".submitit").iterdir())  # the jobs went through submitit
    records = {p: json.loads(p.read_text()) for p in (tmp_path / "sweep").rglob("result.json")}
    assert sorted(r["model"]["name"] for r in records.values() if r["status"] == "ok") == [
        "logreg",
        "xgboost",
    ]
    report = behave("behave.report", str(tmp_path / "sweep"), "--n-boot", "100", cwd=REPO_ROOT)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "xgboost" in (tmp_path / "sweep" / "report.md").read_text()
    again = behave(*args, cwd=REPO_ROOT)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {p: json.loads(p.read_text()) for p in records} == records  # untouched: both jobs were skipped
    assert "finished earlier" in "".join(p.read_text() for p in (tmp_path / "sweep").rglob("*.log"))
