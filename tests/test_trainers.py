"""The trainers besides the default: trainer=ddp (data-parallel over two spawned CPU processes, gloo, inside a
Hydra multirun), automatic mixed precision (the GPU trainer's option, run here in bf16 on the CPU), and
`accelerator: auto` saying which device it chose."""

from __future__ import annotations

import json

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from behave.data.batches.loaders import LengthBucketBatchSampler
from behave.training.lightning.processes import log_device
from tests.cli import behave_ok

LENGTHS = np.random.default_rng(0).integers(1, 200, size=1003)


@pytest.mark.parametrize("world_size", [2, 3])
def test_every_rank_takes_as_many_steps_and_together_they_see_every_row(world_size):
    passes = [
        list(LengthBucketBatchSampler(LENGTHS, 32, seed=4, rank=rank, world_size=world_size))
        for rank in range(world_size)
    ]
    assert len({len(batches) for batches in passes}) == 1  # no rank waits at a gradient sync alone
    assert len(passes[0]) == len(LengthBucketBatchSampler(LENGTHS, 32, world_size=world_size, rank=1))
    seen = np.concatenate([np.concatenate(batches) for batches in passes])
    assert set(seen.tolist()) == set(range(len(LENGTHS)))
    padding = len(seen) - len(LENGTHS)  # repeated batches that even out the steps, fewer than one per rank
    assert 0 <= padding < world_size * 32
    single = list(LengthBucketBatchSampler(LENGTHS, 32, seed=4))
    assert [b for batches in zip(*passes) for b in batches][: len(single)] == single  # the same pass, dealt


def test_a_pass_of_fewer_batches_than_ranks_still_gives_every_rank_its_steps():
    lengths = np.arange(1, 11)  # one batch of 10 rows, three ranks
    passes = [list(LengthBucketBatchSampler(lengths, 32, rank=r, world_size=3)) for r in range(3)]
    assert [len(batches) for batches in passes] == [1, 1, 1]
    assert all(sorted(batches[0]) == list(range(10)) for batches in passes)


def test_evaluation_rows_are_dealt_out_once_each():
    ranks = [
        np.concatenate(list(LengthBucketBatchSampler(LENGTHS, 100, shuffle=False, rank=r, world_size=2)))
        for r in range(2)
    ]
    together = np.concatenate(ranks)
    assert len(together) == len(LENGTHS) and set(together.tolist()) == set(range(len(LENGTHS)))
    assert abs(len(ranks[0]) - len(ranks[1])) <= 1


def test_a_rank_outside_the_world_is_refused():
    with pytest.raises(ValueError, match="rank 2 is not one of the 2 ranks"):
        LengthBucketBatchSampler(LENGTHS, 32, rank=2, world_size=2)


@pytest.mark.slow
def test_two_processes_in_a_multirun_train_as_one_process_accumulating_two_batches(tmp_path):
    """Two ranks of 128 rows average their gradients each step: one process accumulating two batches of 128
    takes the same steps on the same rows (measured: AUROC 0.771/0.745/0.732/0.757 against DDP's
    0.771/0.744/0.736/0.757 over seeds 0-3 after five epochs). Against one process with batches of 256 the
    steps differ in which rows share a step, so early epochs differ by more than this test's margin."""
    common = ["model=gru", "data.source.n_users=2000", "trainer.max_epochs=5", "model.batch_size=128"]
    common += [f"paths.cache_dir={tmp_path}/c"]
    behave_ok("behave.train", *common, "+trainer.accumulate_grad_batches=2", f"hydra.run.dir={tmp_path}/one")
    behave_ok("behave.train", "-m", *common, "trainer=ddp", f"hydra.sweep.dir={tmp_path}/ddp")
    one = json.loads((tmp_path / "one" / "result.json").read_text())
    [path] = (tmp_path / "ddp").rglob("result.json")  # only the main process writes the record
    two = json.loads(path.read_text())
    assert two["status"] == "ok" and two["extra"]["epochs_trained"] == one["extra"]["epochs_trained"] == 5
    assert one["test_metrics"]["auroc"] > 0.65
    assert abs(one["test_metrics"]["auroc"] - two["test_metrics"]["auroc"]) < 0.01
    assert len(list(path.parent.glob("test_predictions.parquet"))) == 1
    log = next(path.parent.glob("*.log")).read_text()
    assert "2 processes" in log and "epoch 5/5" in log  # a spawned rank's lines reach the job's log


def test_accelerator_auto_says_which_device_it_chose(caplog):
    trainer = pl.Trainer(accelerator="auto", devices=1, logger=False, enable_checkpointing=False)
    with caplog.at_level("INFO", logger="behave.train"):
        log_device(trainer)
    device = "cuda:0 (cuda)" if torch.cuda.is_available() else "cpu (cpu)"
    assert f"training on {device}, 1 process," in caplog.text


@pytest.mark.slow
def test_mixed_precision_trains_and_scores_in_full_precision(tmp_path):
    run = tmp_path / "run"
    done = behave_ok(
        "behave.train", "model=gru", "data.source.n_users=400", "trainer.max_epochs=1",
        "trainer.precision=bf16-mixed", f"hydra.run.dir={run}", f"paths.cache_dir={tmp_path}/c",
    )  # fmt: skip
    record = json.loads((run / "result.json").read_text())
    assert record["status"] == "ok" and 0.5 < record["test_metrics"]["auroc"] <= 1.0
    assert "precision bf16-mixed" in done.stderr + (run / "train.log").read_text()
