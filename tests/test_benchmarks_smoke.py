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
