"""`behave-tune`: equal-budget searches on validation, the winners over seeds, a report that says so."""

from __future__ import annotations

import json

import pytest

from behave.data.errors import DataError
from behave.tune import main as tune_main
from behave.tune import override, parse


def test_arguments_are_checked_before_anything_runs(tmp_path):
    with pytest.raises(DataError, match="missing seeds"):
        parse(["models=gru", f"out={tmp_path}"])
    with pytest.raises(DataError, match="no search space for dot_product_x"):
        parse(["models=gru,dot_product_x", "seeds=0", f"out={tmp_path}"])
    request = parse(["models=gru,xgboost", "seeds=0,1", f"out={tmp_path}", "data=cdnow"])
    assert request.models == ["gru", "xgboost"] and request.seeds == "0,1" and request.trials is None
    assert request.shared == ["data=cdnow"] and request.hydra_flags == []
    assert tune_main(["models=gru"]) == 2  # a usage error, not a traceback


def test_chosen_values_become_exact_overrides():
    assert override("model.module.encoder.pooling", "last+mean") == "model.module.encoder.pooling='last+mean'"
    assert override("model.params.max_depth", 7) == "model.params.max_depth=7"


@pytest.mark.slow
def test_a_tuned_comparison_runs_end_to_end_with_one_budget(tmp_path):
    out = tmp_path / "tuned"
    args = ["models=logreg,xgboost", "seeds=0,1", f"out={out}", "search_trials=2", "data.source.n_users=600"]
    args.append(f"paths.cache_dir={tmp_path / 'cache'}")
    assert tune_main(args) == 0
    tuning = json.loads((out / "tuning.json").read_text())
    assert tuning["trials_per_model"] == {"logreg": 2, "xgboost": 2}
    best = tuning["models"]["xgboost"]["best"]
    final = json.loads((out / "final" / "xgboost" / "seed_1" / "result.json").read_text())
    assert final["config"]["model"]["params"]["max_depth"] == best["model.params.max_depth"]
    assert final["config"]["tuning"] == str((out / "tuning.json").resolve())
    report = (out / "report.md").read_text()
    assert "### Tuning" in report and "Optuna search of 2 trials (the same budget for every model)" in report
    assert "`model.params.max_depth`" in report and "`int(interval(3, 10))`" in report
