"""The pipeline benchmark runs end to end at a tiny size, side by side with a commit, and its cell check
catches a changed cell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import pipeline_against  # noqa: E402


@pytest.mark.slow
def test_pipeline_benchmark_runs_against_head():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "benchmarks/pipeline.py", "--events", "15000", "--naive-events", "1000"]
    done = subprocess.run(
        [*command, "--against", "HEAD"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    speedup = next(line for line in lines if line.startswith("total speed-up"))
    assert float(speedup.split()[2].rstrip("x")) > 0
    same = next(line for line in lines if line.startswith("same cells as HEAD"))
    assert same.endswith("PASS"), same
    assert "agreement on the shared columns" in done.stdout


def test_compare_outputs_counts_every_changed_cell(tmp_path):
    theirs = {"features": np.arange(12, dtype=np.float32).reshape(3, 4), "tokens": np.arange(5)}
    theirs["features"][0, 0] = np.nan  # NaN on both sides counts as the same
    pipeline_against.save_outputs(theirs, tmp_path)
    ours = {name: values.copy() for name, values in theirs.items()}
    assert pipeline_against.compare_outputs(ours, tmp_path) == (0, 17, [])
    ours["features"][2, 3] += 1e-6
    ours["tokens"][4] = 0
    assert pipeline_against.compare_outputs(ours, tmp_path) == (2, 17, [])
    ours["tokens"] = ours["tokens"][:4]
    differing, cells, mismatched = pipeline_against.compare_outputs(ours, tmp_path)
    assert (differing, cells) == (1, 12) and mismatched[0].startswith("tokens (5,)")
