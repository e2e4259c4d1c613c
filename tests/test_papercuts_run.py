"""Run folders and the commands around them, tried as a new user would: a resumed checkpoint never runs
code (item 6), a truncated one restarts the run (item 7), every torch file behave reads back from a run
folder is refused when it carries code, `transfer_from` is named as typed (item 5), `behave-tune` passes
Hydra's own flags through (item 8), and a sweep's identical failures are told once (item 9)."""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from behave.data.errors import DataError
from behave.paths import REPO_ROOT
from behave.run.checkpoint_folder import WRITTEN_FOR, config_digest
from behave.run.torch_file import UnreadableTorchFile, UnsafeTorchFile, read_torch_file
from behave.training.lightning.checkpoints import RunFolderCheckpointIO
from behave.training.lightning.pretrain import ENCODER_RECORD, ENCODER_WEIGHTS, load_encoder_state
from behave.training.lightning.resume import LAST, resume_from


class PlantedCode:
    """Unpickled, it writes `marker`: what a tampered file in a copied run folder would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def plant(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 0, "state_dict": PlantedCode(marker)}, path)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


def a_checkpoint(path: Path, epoch: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": epoch, "state_dict": {"w": torch.ones(3)}}, path)


# Item 6 and "every load of a file from a run folder is safe".
UNPICKLING = re.compile(
    r"torch\.load\(|pickle\.loads?\(|joblib\.load|\bweights_only=False|allow_pickle=True|dill\.|cloudpickle"
)


def test_item6_only_the_weights_only_reader_loads_torch_files_and_nothing_unpickles():
    """Every torch file behave reads back goes through `read_torch_file`; nothing else may unpickle."""
    found = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for path in sorted((REPO_ROOT / "behave").rglob("*.py"))
        if path.name != "torch_file.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if UNPICKLING.search(line) and not line.lstrip().startswith("#")
    ]
    assert found == []


def test_item6_a_planted_torch_file_is_refused_naming_it_without_running_its_code(tmp_path):
    marker = tmp_path / "ran.txt"
    plant(tmp_path / "model.pt", marker)
    with pytest.raises(UnsafeTorchFile, match=r"model\.pt: refused to load: .*builtins\.exec"):
        read_torch_file(tmp_path / "model.pt")
    (tmp_path / "old.pt").write_bytes(pickle.dumps(PlantedCode(marker), protocol=2))  # a bare pickle
    with pytest.raises(UnsafeTorchFile, match=r"old\.pt: refused to load"):
        read_torch_file(tmp_path / "old.pt")
    assert not marker.exists()


def test_item6_a_planted_pretrained_encoder_is_refused(tmp_path):
    marker = tmp_path / "ran.txt"
    plant(tmp_path / ENCODER_WEIGHTS, marker)
    (tmp_path / ENCODER_RECORD).write_text(json.dumps({"data_fingerprint": "same"}))
    with pytest.raises(UnsafeTorchFile, match=ENCODER_WEIGHTS):
        load_encoder_state(tmp_path, SimpleNamespace(fingerprint="same"), "model.encoder_init.run_dir")
    assert not marker.exists()


def test_item6_resuming_refuses_any_planted_checkpoint_in_the_folder(tmp_path):
    marker = tmp_path / "ran.txt"
    a_checkpoint(tmp_path / LAST)
    plant(tmp_path / "best.ckpt", marker)
    with pytest.raises(UnsafeTorchFile, match=r"best\.ckpt: refused"):
        resume_from(tmp_path)
    plant(tmp_path / LAST, marker)
    a_checkpoint(tmp_path / "best.ckpt")
    with pytest.raises(UnsafeTorchFile, match=r"last\.ckpt: refused"):
        resume_from(tmp_path)
    # An unsafe file stops the run even beside an unreadable one: it is never quietly removed.
    truncate(tmp_path / "best.ckpt")
    with pytest.raises(UnsafeTorchFile):
        resume_from(tmp_path)
    assert not marker.exists() and (tmp_path / LAST).exists()


# Item 7.
def test_item7_a_truncated_checkpoint_is_reported_and_the_run_starts_afresh(tmp_path, caplog):
    a_checkpoint(tmp_path / LAST, epoch=3)
    a_checkpoint(tmp_path / "best.ckpt", epoch=2)
    point = resume_from(tmp_path)
    assert point is not None and point.path == tmp_path / LAST and point.epoch == 3
    truncate(tmp_path / LAST)
    with pytest.raises(UnreadableTorchFile, match=r"last\.ckpt: not a readable torch file \(truncated"):
        read_torch_file(tmp_path / LAST)
    assert resume_from(tmp_path) is None
    assert "starting this run afresh" in caplog.text and "last.ckpt: not a readable torch file" in caplog.text
    assert not list(tmp_path.glob("*.ckpt"))  # neither half of the interrupted state is reused


def test_item7_a_checkpoint_write_that_fails_leaves_the_previous_one_whole(tmp_path):
    io = RunFolderCheckpointIO()
    io.save_checkpoint({"epoch": 1, "state_dict": {"w": torch.zeros(2)}}, tmp_path / LAST)
    with pytest.raises(Exception):  # noqa: B017 - a lambda cannot be pickled: the write dies midway
        io.save_checkpoint({"epoch": 2, "state_dict": {"w": torch.ones(2)}, "f": lambda: 0}, tmp_path / LAST)
    assert io.load_checkpoint(tmp_path / LAST)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == [LAST]  # no temporary left behind


# Item 5.
def test_item5_transfer_from_a_classification_run_names_what_the_user_typed(tmp_path):
    from behave.training.lightning.transfer import TokenInit

    run = tmp_path / "gru_run"
    run.mkdir()
    shutil.copy(REPO_ROOT / "tests/fixtures/runs_2026_12/gru/result.json", run / "result.json")
    with pytest.raises(DataError) as refused:
        TokenInit(str(run)).load()
    message = str(refused.value)
    assert message.startswith(f"transfer_from={run}: not a rating run")
    assert "task=sequence run" in message and "model.token_init" not in message
    with pytest.raises(DataError, match="transfer_from is not set"):
        TokenInit(None)
    with pytest.raises(DataError, match=r"transfer_from=.*nope: not a rating run \(no such folder\)"):
        TokenInit(str(tmp_path / "nope")).load()


# Item 9.
def failed_jobs(sweep: Path, errors: list[str]) -> None:
    for number, error in enumerate(errors):
        run_dir = sweep / f"{number}_seed={number}"
        run_dir.mkdir(parents=True)
        record = {"status": "failed", "run_dir": str(run_dir), "model": {"name": "gru"}, "seed": number}
        (run_dir / "result.json").write_text(json.dumps(record | {"error": error.format(run_dir=run_dir)}))


def test_item9_a_sweep_whose_jobs_fail_for_one_reason_tells_it_once(tmp_path):
    from behave.run.summary import sweep_summary

    bad = "DataError: data.label.column: 'churned' is not a column of log.csv (columns: a, b, c)"
    failed_jobs(tmp_path / "one", [bad] * 10)
    (verdict,) = [line for line in sweep_summary(tmp_path / "one").splitlines() if "FAILED" in line]
    assert verdict == f"10 of 10 jobs FAILED: {bad}, e.g. job 0_seed=0"
    # Errors that differ only by the job's own folder are one error; two errors are told once each.
    unsafe = "UnsafeTorchFile: {run_dir}/checkpoints/last.ckpt: refused to load"
    failed_jobs(tmp_path / "two", [unsafe, unsafe, bad, unsafe])
    text = sweep_summary(tmp_path / "two")
    assert "4 of 4 jobs FAILED, for 2 reasons:" in text
    assert f"  3 jobs: {unsafe.format(run_dir=tmp_path / 'two' / '0_seed=0')}, e.g. job 0_seed=0" in text
    assert f"  1 job: {bad}, job 2_seed=2" in text
    assert text.count("refused to load") == 1


# Item 8.
def test_item8_behave_tune_passes_hydra_config_flags_to_every_search_and_final_run(tmp_path, monkeypatch):
    from behave import tune

    own = tmp_path / "conf"
    (own / "data").mkdir(parents=True)
    (own / "data" / "mine.yaml").write_text("defaults:\n  - synthetic\nname: mine\n")
    request = tune.parse(
        [
            "models=xgboost",
            "seeds=0",
            f"out={tmp_path / 'out'}",
            "--config-dir",
            str(own),
            "data=mine",
            "-cn=train",
        ]
    )
    assert request.hydra_flags == [f"--config-dir={own}", "--config-name=train"]
    assert request.shared == ["data=mine"]
    steps = []
    monkeypatch.setattr(tune, "behave_train", steps.append)
    monkeypatch.setattr(tune, "best_of_search", lambda folder: ({"model.params.max_depth": 3}, 0.7, 2))
    monkeypatch.setattr("behave.report.__main__.main", lambda argv: 0)
    assert (
        tune.main(
            ["models=xgboost", "seeds=0,1", f"out={tmp_path / 'out'}", f"--config-dir={own}", "data=mine"]
        )
        == 0
    )
    assert len(steps) == 2 and all(step[0] == f"--config-dir={own}" and "data=mine" in step for step in steps)
    with pytest.raises(DataError, match="'--multirun' is not a flag it passes on"):
        tune.parse(["models=gru", "seeds=0", "out=x", "--multirun"])
    with pytest.raises(DataError, match="--config-dir needs a value"):
        tune.parse(["models=gru", "seeds=0", "out=x", "--config-dir"])
    with pytest.raises(DataError, match="no such folder"):
        tune.parse(["models=gru", "seeds=0", "out=x", f"-cd={tmp_path / 'nope'}"])


# Items 6 and 7 through behave-train, and a planted weights file through behave-predict and behave-explain.
TINY_GRU = ["model=gru", "trainer.max_epochs=1", "data.source.n_users=200"]


def stamped_checkpoints(cfg) -> Path:
    """The run's checkpoint folder as a killed run of this config leaves it (its config stamp written)."""
    folder = Path(cfg.paths.run_dir) / "checkpoints"
    folder.mkdir(parents=True)
    digest = config_digest(OmegaConf.to_container(cfg, resolve=True))
    (folder / WRITTEN_FOR).write_text(config_digest({"config_sha256": digest}))
    return folder


@pytest.mark.slow
def test_item6_and_7_a_rerun_refuses_a_planted_checkpoint_and_restarts_past_a_truncated_one(tmp_path):
    from behave.train import run
    from tests.compose import compose_train

    marker = tmp_path / "ran.txt"
    cfg = compose_train(TINY_GRU, tmp_path / "run", tmp_path / "cache")
    plant(stamped_checkpoints(cfg) / LAST, marker)
    refused = run(cfg)
    assert refused.status == "failed" and "checkpoints/last.ckpt: refused to load" in refused.error
    assert not marker.exists()
    shutil.rmtree(tmp_path / "run")
    a_checkpoint(stamped_checkpoints(cfg) / LAST, epoch=4)
    truncate(tmp_path / "run" / "checkpoints" / LAST)
    again = run(cfg)
    assert again.status == "ok", again.error
    assert "resumed_at_epoch" not in again.extra and again.extra["epochs_trained"] == 1  # afresh


@pytest.fixture(scope="module")
def neural_shop_run(tmp_path_factory):
    """A one-epoch GRU on the README's shop example (a log file behave-predict can score)."""
    from behave.train import run
    from tests.compose import compose_train
    from tests.test_csv_source import write_shop

    root = tmp_path_factory.mktemp("shop")
    overrides = [*write_shop(root), "model=gru", "trainer.max_epochs=1"]
    cfg = compose_train(overrides, root / "run", root / "cache")
    result = run(cfg)
    assert result.status == "ok", result.error
    return root


@pytest.mark.slow
def test_item6_predict_and_explain_refuse_a_planted_weights_file_without_running_it(
    neural_shop_run, tmp_path
):
    from behave.explain.__main__ import explain
    from behave.predict import predict

    marker = tmp_path / "ran.txt"
    tampered = tmp_path / "run"
    shutil.copytree(neural_shop_run / "run", tampered)
    plant(tampered / "model.pt", marker)
    with pytest.raises(UnsafeTorchFile, match=r"model\.pt: refused to load"):
        predict(tampered, neural_shop_run / "raw/shop/log.csv")
    with pytest.raises(UnsafeTorchFile, match=r"model\.pt: refused to load"):
        explain(tampered, rows=20)
    assert not marker.exists()


def test_item7_a_damaged_booster_checkpoint_is_reported_and_boosting_starts_afresh(tmp_path, caplog):
    from behave.training.tabular.booster_checkpoint import BOOSTER_CHECKPOINT, resumable_state

    (tmp_path / BOOSTER_CHECKPOINT).write_text('{"rounds": 25, "booster_ubj_base64": "AAAA')  # cut short
    path, state = resumable_state(tmp_path)
    assert path == tmp_path / BOOSTER_CHECKPOINT and state is None
    assert "booster.json: not a readable booster checkpoint" in caplog.text


def test_item6_a_scikit_learn_model_file_that_calls_a_builtin_while_loading_is_refused(tmp_path):
    """skops builds what its schema names; a node that constructs `builtins.exec` with a string would run
    that string. Trusting every `builtins.` name let it through."""
    import io
    import zipfile

    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from behave.training.tabular.sklearn import load_model

    marker = tmp_path / "ran.txt"
    model = LogisticRegression().fit(np.eye(4), [0, 1, 0, 1])
    (tmp_path / "model.skops").write_bytes(sio.dumps(model))
    load_model(tmp_path / "model.skops")  # the genuine file loads
    code = sio.dumps((f"open({str(marker)!r}, 'w').write('ran')",))
    call = {
        "__class__": "exec", "__module__": "builtins", "__loader__": "ConstructorFromReduceNode", "__id__": 1,
        "content": json.loads(zipfile.ZipFile(io.BytesIO(code)).read("schema.json")),
    }  # fmt: skip
    genuine = zipfile.ZipFile(tmp_path / "model.skops")
    schema = json.loads(genuine.read("schema.json"))
    schema["content"]["content"]["tol"] = call
    with zipfile.ZipFile(tmp_path / "planted.skops", "w") as planted:
        for name in genuine.namelist():
            planted.writestr(name, json.dumps(schema) if name == "schema.json" else genuine.read(name))
    with pytest.raises(DataError, match=r"planted\.skops: the model holds types .*builtins\.exec"):
        load_model(tmp_path / "planted.skops")
    assert not marker.exists()
