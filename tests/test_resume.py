"""A neural run killed mid-training resumes from its `last` checkpoint and ends where an uninterrupted run
ends (same seed, CPU, deterministic)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kill import KILL_AT, KILL_AT_ROUND

REPO = Path(__file__).resolve().parents[1]
ARGS = [
    "data.source.n_users=800", "trainer.max_epochs=6", "callbacks.early_stopping.patience=50",
    "+callbacks.kill._target_=tests.kill.KillAtEpoch",
]  # fmt: skip


def train(run_dir: Path, cache: Path, kill_at: int | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != KILL_AT}
    if kill_at is not None:
        env[KILL_AT] = str(kill_at)
    command = [
        sys.executable,
        "-m",
        "behave.train",
        *ARGS,
        f"hydra.run.dir={run_dir}",
        f"paths.cache_dir={cache}",
    ]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_killed_run_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    whole = train(tmp_path / "whole", tmp_path / "cache")
    assert whole.returncode == 0, whole.stderr[-2000:]
    killed = train(tmp_path / "killed", tmp_path / "cache", kill_at=2)
    assert killed.returncode == -9  # SIGKILL: no record written, the last checkpoint stays
    assert not (tmp_path / "killed" / "result.json").exists()
    assert (tmp_path / "killed" / "checkpoints" / "last.ckpt").exists()
    again = train(tmp_path / "killed", tmp_path / "cache")
    assert again.returncode == 0, again.stderr[-2000:]
    resumed = json.loads((tmp_path / "killed" / "result.json").read_text())
    reference = json.loads((tmp_path / "whole" / "result.json").read_text())
    assert resumed["extra"]["resumed_at_epoch"] == 2  # epochs 0 and 1 were saved; 2 died before its save
    assert resumed["test_metrics"] == reference["test_metrics"]
    assert resumed["best_val"] == reference["best_val"]
    assert not (tmp_path / "killed" / "checkpoints").exists()  # a finished run keeps only its best weights


BOOSTER_ARGS = [
    "model=xgboost", "data.source.n_users=800", "model.checkpoint_every=25", "model.params.n_estimators=300",
    "model.params.early_stopping_rounds=20", "+model.callbacks.kill._target_=tests.kill.KillAtRound",
]  # fmt: skip


def boost(run_dir: Path, cache: Path, *overrides: str, kill_at: int | None = None):
    env = {key: value for key, value in os.environ.items() if key != KILL_AT_ROUND}
    if kill_at is not None:
        env[KILL_AT_ROUND] = str(kill_at)
    command = [sys.executable, "-m", "behave.train", *BOOSTER_ARGS, *overrides]
    command += [f"hydra.run.dir={run_dir}", f"paths.cache_dir={cache}"]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_killed_boosting_run_continues_from_its_checkpoint(tmp_path):
    """Without row or column sampling the continued booster is the uninterrupted one, tree for tree, early
    stopping included (with sampling the rounds after the checkpoint draw other samples: XGBoost saves no
    random state)."""
    overrides = ["model.params.subsample=1.0", "model.params.colsample_bytree=1.0"]
    whole = boost(tmp_path / "whole", tmp_path / "cache", *overrides)
    assert whole.returncode == 0, whole.stderr[-2000:]
    killed = boost(tmp_path / "killed", tmp_path / "cache", *overrides, kill_at=78)
    assert killed.returncode == -9
    assert (tmp_path / "killed" / "checkpoints" / "booster.json").exists()
    again = boost(tmp_path / "killed", tmp_path / "cache", *overrides)
    assert again.returncode == 0, again.stderr[-2000:]
    resumed = json.loads((tmp_path / "killed" / "result.json").read_text())
    reference = json.loads((tmp_path / "whole" / "result.json").read_text())
    # Uninterrupted, the best round is 58 and early stopping ends boosting at round 79; the kill at round
    # 78 leaves the checkpoint of round 75, 16 rounds after the best. A resumed stopper that forgot its
    # count would take round 75 as its best and boost 20 more rounds.
    assert reference["extra"]["best_iteration"] == 58
    assert resumed["extra"]["resumed_at_round"] == 75
    assert not (tmp_path / "killed" / "checkpoints").exists()
    assert resumed["extra"] == reference["extra"] | {"resumed_at_round": 75}  # best round, tree count
    assert resumed["test_metrics"] == reference["test_metrics"]
    assert resumed["best_val"] == reference["best_val"]
    assert (tmp_path / "killed" / "model.xgb.json").read_text() == (
        tmp_path / "whole" / "model.xgb.json"
    ).read_text()
