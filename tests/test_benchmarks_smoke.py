"""Every benchmark in benchmarks/ runs in its quick mode (tiny sizes, figures meaningless), so none of them
stops working unnoticed when the code it measures changes. Each runs in this process (one import of torch
and behave for all); the slow ones start child processes of their own."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def benchmark_module(monkeypatch):
    """Import a benchmark script by name, with benchmarks/ importable (they import one another)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))

    def load(name: str):
        sys.modules.pop(name, None)
        return importlib.import_module(name)

    return load


@pytest.mark.slow
def test_train_throughput_measures_every_module_on_both_paths(benchmark_module):
    results = benchmark_module("train_throughput").main(["--quick"])
    modules = benchmark_module("train_throughput").MODULES
    assert {(name, path) for name in modules for path in ("behave", "bare")} <= set(results)
    assert all(figures.ms_per_step > 0 and figures.tokens_per_s > 0 for figures in results.values())


@pytest.mark.slow
def test_interval_coverage_runs_both_protocols(benchmark_module):
    out = benchmark_module("interval_coverage").main(["--quick"])
    assert 0.0 <= out["fixed"]["coverage"] <= 1.0
    assert 0.0 <= out["resplit"]["coverage_corrected"] <= 1.0


@pytest.mark.slow
def test_running_features_quick_run(benchmark_module):
    benchmark_module("running_features").main(["--quick"])


@pytest.mark.slow
def test_xgboost_memory_fits_with_external_memory(benchmark_module):
    """External memory only: the in-memory mode is the plain fit other tests run (a child process less)."""
    results = benchmark_module("xgboost_memory").main(["--quick", "--modes", "external"])
    assert set(results) == {"external"}
    assert 0.0 <= results["external"]["test_auroc"] <= 1.0


@pytest.mark.slow
def test_rating_anchors_scores_a_fold(benchmark_module):
    pytest.importorskip("surprise", reason="benchmarks/rating_anchors.py needs scikit-surprise")
    results = benchmark_module("rating_anchors").main(["--quick"])
    assert results and all(row["rmse"] > 0 for row in results)


@pytest.mark.slow
def test_verdict_noise_counts_every_repetition(benchmark_module):
    from behave.report.resolution import Decision

    (result,) = benchmark_module("verdict_noise").main(["--quick"])
    assert sum(result[decision.value] for decision in Decision) == 5  # one decision per repetition


@pytest.mark.slow
def test_selection_oracle_gap_pairs_the_two_selections_by_seed(benchmark_module, tmp_path):
    """Runs of a holdout and an inner_cv sweep, as behave-train records them: the script pairs them by seed
    and the difference is holdout gap - inner_cv gap."""
    import json

    test_auroc = {("holdout", 0): 0.70, ("holdout", 1): 0.66, ("inner_cv", 0): 0.74, ("inner_cv", 1): 0.72}
    for (selection, seed), auroc in test_auroc.items():
        run = tmp_path / f"{selection}_{seed}"
        run.mkdir()
        record = {
            "status": "ok", "seed": seed, "model": {"name": "gru"},
            "extra": {"selection": {"kind": selection}},
            "dataset": {"oracle_test_auroc": 0.80}, "test_metrics": {"auroc": auroc},
        }  # fmt: skip
        (run / "result.json").write_text(json.dumps(record))
    module = benchmark_module("selection_oracle_gap")
    gaps = module.main([str(tmp_path)])
    n, mean, low, high, closer = module.paired(gaps["gru"]["holdout"], gaps["gru"]["inner_cv"])
    assert (n, closer) == (2, 2) and mean == pytest.approx(0.05) and low < mean < high


@pytest.mark.slow
def test_pipeline_out_of_core_quick_run(tmp_path):
    """The out-of-core path of benchmarks/pipeline.py (benchmarks/out_of_core.py) at a tiny size."""
    import os
    import subprocess

    root = BENCHMARKS.parent
    command = [sys.executable, "benchmarks/pipeline.py", "--events", "20000", "--out-of-core"]
    env = {**os.environ, "PYTHONPATH": str(root), "TMPDIR": str(tmp_path)}
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "out of core" in done.stdout and "peak RSS" in done.stdout
