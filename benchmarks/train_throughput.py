"""Training step speed of every neural module behave fits: behave's loop against a bare PyTorch loop, one run.

    behave   the module in pl.Trainer built from conf/trainer/default.yaml (TensorBoard logger, gradient
             clipping, deterministic), as behave-train fits it, without validation or checkpoints
    bare     a plain loop over the same batches (a fresh loader with the same seed): zero, the module's own
             training_step (its self.log is a no-op without a trainer), backward, clip, step
    random   (gru only) the bare loop over shuffled batches padded to the batch maximum (no bucketing)

Modules: the classifier with each sequence encoder of conf/model/ (gru, lstm, transformer, cnn, bag,
flatten), CoLES pretraining (conf/objective/coles.yaml) of the GRU encoder, and the rating model
(conf/model/dot.yaml), each with its config's batch size. Random sequences, lognormal lengths (median 30).
Reported: real (non-padding) tokens/s (ratings/s for `dot`), ms per step, behave's overhead per step in ms
and in % of the bare step, the Transformer's epoch over the GRU's, and bucketed over random batches.

Targets: overhead <= 10% of the bare step (recurrent, convolutional, attention encoders), the Transformer's
epoch <= 2x the GRU's, bucketed/random >= 5. Run: python benchmarks/train_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

import behave.train  # noqa: F401  (registers the config resolvers the configs use)
from behave.data.batches.loaders import LengthBucketBatchSampler, SequenceDataset, keep_batch
from behave.data.inputs import RowInputs
from behave.data.transforms.sequences import SequenceStore
from behave.models.contrastive import ContrastivePretrainer
from behave.paths import CONFIG_DIR
from behave.run.board import TensorBoard
from behave.training.lightning.board import BoardLogger

TRAINER = OmegaConf.load(CONFIG_DIR / "trainer" / "default.yaml")
ENCODERS = ("gru", "lstm", "transformer", "cnn", "bag", "flatten")
MODULES = (*ENCODERS, "coles", "dot")
TARGET_OVERHEAD = 0.10
TARGET_TRANSFORMER_OVER_GRU = 2.0
TARGET_BUCKETED_OVER_RANDOM = 5.0
VOCAB_SIZE, N_NUMERIC, MAX_LEN = 1000, 4, 512
N_USERS, N_ITEMS = 2000, 1000


def make_rows(n_sequences: int, seed: int) -> RowInputs:
    """Random sequences with lognormal lengths (median 30, ~0.2% reach the 512 cap), 4 numeric inputs."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(np.round(rng.lognormal(np.log(30.0), 1.0, n_sequences)), 1, MAX_LEN).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    store = SequenceStore(
        offsets=offsets,
        tokens=rng.integers(2, VOCAB_SIZE, offsets[-1]).astype(np.int32),
        numeric=rng.standard_normal((offsets[-1], N_NUMERIC), dtype=np.float32),
        fields=np.zeros((offsets[-1], 0), dtype=np.int32),
    )
    rows = np.arange(n_sequences)
    return RowInputs(
        events=store,
        sequence=rows,
        cutoff=lengths,
        labels=rng.integers(0, 2, n_sequences).astype(np.int64),
        static=np.zeros((n_sequences, 0), dtype=np.float32),
        feature_source=pd.DataFrame(index=rows),
        sequence_ids=rows,
    )


def make_ratings(n_ratings: int, seed: int) -> TensorDataset:
    rng = np.random.default_rng(seed)
    return TensorDataset(
        torch.from_numpy(rng.integers(0, N_USERS, n_ratings)),
        torch.from_numpy(rng.integers(0, N_ITEMS, n_ratings)),
        torch.from_numpy(rng.integers(1, 6, n_ratings).astype(np.float32)),
    )


def model_config(name: str):
    """conf/model/<name>.yaml composed as behave-train composes it."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        task = ["task=rating"] if name == "dot" else []
        return compose("train", overrides=[f"model={name}", *task]).model


@dataclass
class Module:
    """How to build one module (seeded, so every path starts from the same weights) and its batches."""

    build: Callable[[], pl.LightningModule]
    batch_size: int
    ratings: bool = False  # batches of (user, item, rating) rows, counted as rows, not tokens


def modules(args) -> dict[str, Module]:
    sizes = {"vocab_size": VOCAB_SIZE, "n_numeric": N_NUMERIC}
    found = {}
    for name in ENCODERS:
        recipe = instantiate(model_config(name))
        found[name] = Module(
            partial(recipe.build, {**sizes, "n_static": 0, "num_classes": 2}), recipe.batch_size
        )
    encoder = instantiate(model_config("gru")).module.keywords["encoder"]
    coles = instantiate(OmegaConf.load(CONFIG_DIR / "objective" / "coles.yaml"))
    optimizer = partial(torch.optim.AdamW, lr=coles.lr, weight_decay=1e-4)
    found["coles"] = Module(
        partial(
            ContrastivePretrainer, encoder, **sizes, slices=coles.slices, loss=coles.loss, optimizer=optimizer
        ),
        coles.batch_size,
    )
    rating = instantiate(model_config("dot"))
    rating_sizes = {"n_users": N_USERS, "n_items": N_ITEMS, "global_mean": 3.0, "target_range": [1, 5]}
    found["dot"] = Module(partial(rating.build, rating_sizes), rating.batch_size, ratings=True)
    return {name: found[name] for name in args.modules}


def make_loader(data, module: Module, bucketed: bool, seed: int) -> DataLoader:
    """A fresh loader per run with the same seed, so every run of a module sees the same batches."""
    generator = torch.Generator().manual_seed(seed)
    if module.ratings:
        return DataLoader(data, batch_size=module.batch_size, shuffle=True, generator=generator)
    if bucketed:
        sampler = LengthBucketBatchSampler(data.lengths, module.batch_size, shuffle=True, seed=seed)
    else:
        sampler = BatchSampler(RandomSampler(data, generator=generator), module.batch_size, drop_last=False)
    return DataLoader(data, batch_sampler=sampler, collate_fn=keep_batch, num_workers=0)


class Clock(pl.Callback):
    """Epoch wall times (epoch start to the next epoch's start, so work between epochs counts), steps and
    real tokens (or rating rows). Also driven by hand from the bare loop, so both paths measure alike."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.steps: list[int] = []
        self.real: list[int] = []
        self.slots: list[int] = []

    def on_train_epoch_start(self, *_) -> None:
        self.stamps.append(time.perf_counter())
        self.steps.append(0)
        self.real.append(0)
        self.slots.append(0)

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.count(batch)

    def count(self, batch) -> None:
        self.steps[-1] += 1
        if isinstance(batch, (list, tuple)):  # rating rows
            self.real[-1] += len(batch[0])
            self.slots[-1] += len(batch[0])
        else:
            self.real[-1] += int(batch.lengths.sum())
            self.slots[-1] += batch.tokens.numel()

    def on_train_end(self, *_) -> None:
        self.stamps.append(time.perf_counter())

    def epochs(self, warmup: int) -> list[tuple[float, int, int]]:
        """(seconds, steps, real tokens) of each epoch after the first `warmup` ones."""
        return list(zip(np.diff(self.stamps), self.steps, self.real))[warmup:]


def train_bare(model: pl.LightningModule, loader: DataLoader, epochs: int, clock: Clock) -> None:
    """What Lightning's automatic optimisation does here: zero, training_step, backward, clip, step."""
    optimizer = model.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    parameters = [p for p in model.parameters() if p.requires_grad]
    model.train()
    for _ in range(epochs):
        clock.on_train_epoch_start()
        for index, batch in enumerate(loader):
            clock.count(batch)
            optimizer.zero_grad(set_to_none=True)
            model.training_step(batch, index).backward()
            torch.nn.utils.clip_grad_norm_(parameters, float(TRAINER.gradient_clip_val))
            optimizer.step()
    clock.on_train_end()


def train_behave(model: pl.LightningModule, loader: DataLoader, epochs: int, clock: Clock) -> None:
    with tempfile.TemporaryDirectory() as log_dir:
        trainer = instantiate(
            TRAINER,
            max_epochs=epochs,
            logger=BoardLogger(TensorBoard(log_dir, name="bench")),
            callbacks=[clock],
            enable_checkpointing=False,
            enable_progress_bar=False,
            limit_val_batches=0,
        )
        trainer.fit(model, train_dataloaders=loader)


def run_once(path: str, module: Module, data, args) -> Clock:
    torch.manual_seed(args.seed)
    model = module.build()
    loader = make_loader(data, module, bucketed=path != "random", seed=args.seed)
    clock = Clock()
    train = train_behave if path == "behave" else train_bare
    train(model, loader, args.warmup + args.epochs, clock)
    return clock


@dataclass
class Figures:
    tokens_per_s: float
    ms_per_step: float


def figures(epochs: list[tuple[float, int, int]]) -> Figures:
    """The fastest epoch's rates: epochs of one module hold the same batches, and other jobs on the machine
    only ever add time (on the shared machine one repeat took 332 s, the next 117 s)."""
    seconds = min(e[0] for e in epochs)
    steps, real = epochs[0][1], epochs[0][2]
    return Figures(real / seconds, 1e3 * seconds / steps)


def print_report(results: dict[tuple[str, str], Figures]) -> None:
    print(f"\n{'module':12} {'bare ms/step':>12} {'behave ms/step':>14} {'overhead ms':>11} {'overhead':>9} "
          f"{'bare tokens/s':>14} {'behave tokens/s':>15}")  # fmt: skip
    for name in dict.fromkeys(name for name, _ in results):
        bare, ours = results[(name, "bare")], results[(name, "behave")]
        overhead = ours.ms_per_step / bare.ms_per_step - 1.0
        flag = (
            ""
            if name in ("bag", "flatten", "coles", "dot")
            else (" PASS" if overhead <= TARGET_OVERHEAD else " FAIL")
        )
        print(f"{name:12} {bare.ms_per_step:12.1f} {ours.ms_per_step:14.1f} "
              f"{ours.ms_per_step - bare.ms_per_step:11.1f} {overhead:9.1%} {bare.tokens_per_s:14,.0f} "
              f"{ours.tokens_per_s:15,.0f}{flag}")  # fmt: skip
    print(f"(dot: rating rows/s; overhead target <= {TARGET_OVERHEAD:.0%} for the recurrent, convolutional "
          "and attention encoders)")  # fmt: skip
    if ("transformer", "bare") in results and ("gru", "bare") in results:
        for path in ("bare", "behave"):
            ratio = results[("transformer", path)].ms_per_step / results[("gru", path)].ms_per_step
            verdict = "PASS" if ratio <= TARGET_TRANSFORMER_OVER_GRU else "FAIL"
            print(f"transformer epoch / gru epoch ({path}, same batches) {ratio:5.2f}  {verdict} "
                  f"(target <= {TARGET_TRANSFORMER_OVER_GRU:g})")  # fmt: skip
    if ("gru", "random") in results:
        ratio = results[("gru", "bare")].tokens_per_s / results[("gru", "random")].tokens_per_s
        verdict = "PASS" if ratio >= TARGET_BUCKETED_OVER_RANDOM else "FAIL"
        target = TARGET_BUCKETED_OVER_RANDOM
        print(f"gru bucketed / random batches {ratio:5.2f}  {verdict} (target >= {target:g})")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=4000)
    parser.add_argument("--ratings", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per run, after --warmup epochs")
    parser.add_argument("--warmup", type=int, default=1, help="untimed epochs at the start of each run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per path, interleaved across paths")
    parser.add_argument("--modules", default=",".join(MODULES), help=f"a subset of {','.join(MODULES)}")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument(
        "--keep-denormal", action="store_true", help="leave denormal floats on (behave-train flushes them)"
    )
    parser.add_argument("--no-random", action="store_true", help="skip the gru random-batch row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of a few seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.sequences, args.ratings, args.epochs, args.warmup, args.repeats = 100, 1000, 1, 0, 1
        args.threads = args.threads or 1
    args.modules = args.modules.split(",")
    unknown = set(args.modules) - set(MODULES)
    if unknown:
        parser.error(f"--modules: unknown {sorted(unknown)}; valid: {','.join(MODULES)}")
    return args


def quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for message in (
        ".*does not have many workers.*",
        ".*no `val_dataloader`.*",
        ".*treespec.*",
        ".*self.log.*",
    ):
        warnings.filterwarnings("ignore", message=message)


def main(argv: list[str] | None = None) -> dict[tuple[str, str], Figures]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # As behave-train's ProcessSettings does for every fit (training/lightning/processes.py).
    torch.set_flush_denormal(not args.keep_denormal)
    quiet_lightning()
    # Lightning turns this on from the trainer config (deterministic: true); the bare loop runs under it too.
    torch.use_deterministic_algorithms(bool(TRAINER.deterministic))
    sequences = SequenceDataset(make_rows(args.sequences, args.seed), MAX_LEN)
    ratings = make_ratings(args.ratings, args.seed)
    built = modules(args)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"flush denormal {not args.keep_denormal}, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    lengths = sequences.lengths
    print(f"{len(sequences)} sequences, {lengths.sum():,} real tokens per epoch, median length "
          f"{np.median(lengths):.0f}, max {lengths.max()}; {args.ratings:,} ratings")  # fmt: skip
    epochs: dict[tuple[str, str], list] = {}
    # Paths and modules take turns within each repeat, so a change in load hits all of them alike.
    for repeat in range(args.repeats):
        started = time.perf_counter()
        for name, module in built.items():
            data = ratings if module.ratings else sequences
            paths = ["behave", "bare"] + (["random"] if name == "gru" and not args.no_random else [])
            for path in paths:
                epochs.setdefault((name, path), []).extend(
                    run_once(path, module, data, args).epochs(args.warmup)
                )
        print(f"repeat {repeat + 1}/{args.repeats} took {time.perf_counter() - started:.0f} s", flush=True)
    results = {key: figures(value) for key, value in epochs.items()}
    print_report(results)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return results


if __name__ == "__main__":
    main()
