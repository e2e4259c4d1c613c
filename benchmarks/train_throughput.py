"""Training throughput in real (non-padding) tokens per second, three paths side by side in one run.

    behave   pl.Trainer (conf/trainer/default.yaml) over LengthBucketBatchSampler + SequenceDataset
    bare     a plain PyTorch loop over the same batches, model, optimizer and gradient clipping
    random   the bare loop over plain shuffled batches padded to the batch maximum (no bucketing)

Ratios, not absolute speeds, are what the targets judge: behave/bare >= 0.90 (Lightning costs little) and
bucketed/random >= 5 (bucketing pays on skewed lengths). Run: python benchmarks/train_throughput.py --quick
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch.utils.data import BatchSampler, DataLoader, RandomSampler

from behave.data.batches.loaders import LengthBucketBatchSampler, SequenceDataset, keep_batch
from behave.data.inputs import RowInputs
from behave.data.transforms.sequences import SequenceStore
from behave.models.sequence_classifier import SequenceClassifier
from behave.run.board import TensorBoard
from behave.training.lightning.board import BoardLogger

CONF = Path(__file__).resolve().parents[1] / "conf"
TARGET_BEHAVE_OVER_BARE = 0.90
TARGET_BUCKETED_OVER_RANDOM = 5.0
VOCAB_SIZE = 1000
N_NUMERIC = 4
MAX_LEN = 512
PATHS = ("behave", "bare", "random")


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
        features=pd.DataFrame(index=rows),
        sequence_ids=rows,
    )


def make_loader(dataset: SequenceDataset, bucketed: bool, batch_size: int, seed: int) -> DataLoader:
    """A fresh loader per run, so all runs of one kind see the same batches in the same order."""
    if bucketed:
        sampler = LengthBucketBatchSampler(dataset.lengths, batch_size, shuffle=True, seed=seed)
    else:
        shuffled = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
        sampler = BatchSampler(shuffled, batch_size, drop_last=False)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=keep_batch, num_workers=0)


def build_model(cell: str, args: argparse.Namespace) -> SequenceClassifier:
    """The model from conf/model/gru.yaml with E/H fixed by the arguments; same init for every path."""
    cfg = OmegaConf.load(CONF / "model" / "neural_base.yaml").module
    cfg.monitor = "val/auroc"  # the config reads it from the composed root, which a lone file lacks
    cfg.encoder.sequence = OmegaConf.load(CONF / "model" / "gru.yaml").module.encoder.sequence
    cfg.encoder.sequence.update(cell=cell, hidden_size=args.hidden_size)
    cfg.encoder.tokens.embedding_dim = args.embedding_dim
    torch.manual_seed(args.seed)
    return instantiate(cfg)(vocab_size=VOCAB_SIZE, n_numeric=N_NUMERIC, n_static=0, num_classes=2)


class TokenClock(pl.Callback):
    """Epoch wall times (from each epoch's start to the next one's, so between-epoch work counts too) and
    real / padded token counts. Also driven by hand from the bare loop, so both paths measure alike."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.real: list[int] = []
        self.slots: list[int] = []

    def on_train_epoch_start(self, *_) -> None:
        self.stamps.append(time.perf_counter())
        self.real.append(0)
        self.slots.append(0)

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.count(batch)

    def count(self, batch) -> None:
        self.real[-1] += int(batch.lengths.sum())
        self.slots[-1] += batch.tokens.numel()

    def on_train_end(self, *_) -> None:
        self.stamps.append(time.perf_counter())

    def rates(self, warmup: int) -> list[float]:
        """Real tokens/s of each epoch after the first `warmup` ones."""
        return (np.array(self.real) / np.diff(self.stamps))[warmup:].tolist()

    def padding_share(self) -> float:
        return 1.0 - sum(self.real) / sum(self.slots)


def train_bare(model, loader: DataLoader, epochs: int, clip: float, clock: TokenClock) -> None:
    """What Lightning's automatic optimisation does here: zero, forward, loss, backward, clip, step."""
    optimizer = model.configure_optimizers()
    parameters = [p for p in model.parameters() if p.requires_grad]
    model.train()
    for _ in range(epochs):
        clock.on_train_epoch_start()
        for batch in loader:
            clock.count(batch)
            optimizer.zero_grad(set_to_none=True)
            loss = model.loss(model(batch), batch.labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, clip)
            optimizer.step()
    clock.on_train_end()


def train_lightning(model, loader: DataLoader, epochs: int, args, clock: TokenClock) -> None:
    trainer_cfg = OmegaConf.load(CONF / "trainer" / "default.yaml")
    with tempfile.TemporaryDirectory() as log_dir:
        board = TensorBoard(log_dir, name="bench")
        logger = BoardLogger(board) if args.logger == "tensorboard" else False
        trainer = instantiate(
            trainer_cfg,
            max_epochs=epochs,
            logger=logger,
            callbacks=[clock],
            log_every_n_steps=args.log_every,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            limit_val_batches=0,
        )
        trainer.fit(model, train_dataloaders=loader)


def run_once(path: str, cell: str, dataset: SequenceDataset, args) -> TokenClock:
    """One warm-up epoch(s) + timed epochs of `path`; a fresh model and loader each time."""
    model = build_model(cell, args)
    loader = make_loader(dataset, bucketed=path != "random", batch_size=args.batch_size, seed=args.seed)
    clock, epochs = TokenClock(), args.warmup + args.epochs
    if path == "behave":
        train_lightning(model, loader, epochs, args, clock)
    else:
        train_bare(model, loader, epochs, args.clip, clock)
    return clock


# Extra rows, all the bare bucketed GRU loop: label -> (threads, flush denormals); None = as in the run.
VARIANTS = {
    "bare bucketed, 1 thread": (1, None),
    "bare bucketed, 2 threads": (2, None),
    "bare bucketed, flush denormal": (None, True),
}


def run_variant(threads: int | None, flush: bool | None, dataset: SequenceDataset, args) -> TokenClock:
    previous_threads, previous_flush = torch.get_num_threads(), args.flush_denormal
    torch.set_num_threads(threads or previous_threads)
    torch.set_flush_denormal(previous_flush if flush is None else flush)
    try:
        return run_once("bare", "gru", dataset, args)
    finally:
        torch.set_num_threads(previous_threads)
        torch.set_flush_denormal(previous_flush)


def verdict(ratio: float, target: float) -> str:
    return f"{ratio:6.3f}  {'PASS' if ratio >= target else 'FAIL'} (target >= {target:g})"


def print_report(rates: dict, padding: dict, cells: list[str]) -> None:
    median = {key: statistics.median(values) for key, values in rates.items()}
    print(f"\n{'model':6} {'path':30} {'real tokens/s':>14} {'padding':>8} {'epochs':>7}")
    for key in rates:
        cell, path = key
        print(f"{cell:6} {path:30} {median[key]:14,.0f} {padding[key]:8.1%} {len(rates[key]):7d}")
    print()
    for cell in cells:
        behave_over_bare = median[(cell, "behave")] / median[(cell, "bare")]
        bucketed_over_random = median[(cell, "bare")] / median[(cell, "random")]
        print(f"{cell:6} behave/bare     {verdict(behave_over_bare, TARGET_BEHAVE_OVER_BARE)}")
        print(f"{cell:6} bucketed/random {verdict(bucketed_over_random, TARGET_BUCKETED_OVER_RANDOM)}")
    one, two = median[("gru", "bare bucketed, 1 thread")], median[("gru", "bare bucketed, 2 threads")]
    print(f"gru    1 thread / 2 threads {one / two:6.2f}  (> 1 means one thread is faster)")
    flushed = median[("gru", "bare bucketed, flush denormal")] / median[("gru", "bare")]
    print(f"gru    flush denormal / as run {flushed:6.2f}  (> 1 means flushing denormal floats helps)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per run, after --warmup epochs")
    parser.add_argument("--warmup", type=int, default=1, help="untimed epochs at the start of each run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per path, interleaved across paths")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--cells", default="gru,lstm")
    parser.add_argument("--embedding-dim", type=int, default=32)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--logger", choices=["tensorboard", "none"], default="tensorboard")
    parser.add_argument("--log-every", type=int, default=1, help="Lightning log_every_n_steps (1 = per step)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flush-denormal", action="store_true", help="torch.set_flush_denormal(True)")
    parser.add_argument("--quick", action="store_true", help="a smoke-check setting that finishes in < 1 min")
    args = parser.parse_args()
    if args.quick:
        args.sequences, args.epochs, args.warmup, args.repeats = 1000, 1, 1, 1
    args.clip = float(OmegaConf.load(CONF / "trainer" / "default.yaml").gradient_clip_val)
    return args


def quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for message in (".*does not have many workers.*", ".*no `val_dataloader`.*", ".*treespec.*"):
        warnings.filterwarnings("ignore", message=message)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    # Gradients reaching back hundreds of steps from the last state shrink into denormal floats, which
    # are slow on x86 CPUs; flushing them to zero was ~4x faster on a 512-step batch here.
    torch.set_flush_denormal(args.flush_denormal)
    quiet_lightning()
    # Lightning turns this on from the trainer config (deterministic: true); the bare loop runs under it too.
    torch.use_deterministic_algorithms(bool(OmegaConf.load(CONF / "trainer" / "default.yaml").deterministic))
    rows = make_rows(args.sequences, args.seed)
    dataset = SequenceDataset(rows, MAX_LEN)
    cells = args.cells.split(",")
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
        f"flush denormal {args.flush_denormal}, load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{len(rows)} sequences, {dataset.lengths.sum():,} real tokens per epoch, median length "
        f"{np.median(dataset.lengths):.0f}, max {dataset.lengths.max()}; batch {args.batch_size}, "
        f"E{args.embedding_dim}/H{args.hidden_size}, logger {args.logger} every {args.log_every} step(s)"
    )
    rates: dict[tuple[str, str], list[float]] = {}
    padding: dict[tuple[str, str], float] = {}

    def record(key: tuple[str, str], clock: TokenClock) -> None:
        rates.setdefault(key, []).extend(clock.rates(args.warmup))
        padding[key] = clock.padding_share()

    # Paths take turns within each repeat, so a change in machine load hits all of them alike.
    for repeat in range(args.repeats):
        started = time.perf_counter()
        for cell in cells:
            for path in PATHS:
                record((cell, path), run_once(path, cell, dataset, args))
        for label, (threads, flush) in VARIANTS.items():
            record(("gru", label), run_variant(threads, flush, dataset, args))
        print(f"repeat {repeat + 1}/{args.repeats} took {time.perf_counter() - started:.0f} s")
    print_report(rates, padding, cells)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
