"""Peak memory of boosted trees on a large task's feature table: XGBoost in memory against XGBoost's external
memory (`model.external_memory`, behave/training/tabular/xgboost_external.py), side by side in one run.

    1. write ~--events simulated events as Parquet (untimed; --parquet-dir keeps them for the next run) and
       prepare them with task=sequence's features into --cache-dir (untimed; out of core past
       --memory-cap-gb, prepared once and reused)
    2. in a fresh process per mode: read the task, boost --rounds rounds of model=xgboost's trees on the
       train rows (val evaluated every round, no early stopping, so both modes grow the same number of
       trees), then predict the val and test rows; report the peak RSS above the process's RSS before the
       fit, per cell of the feature table, the fit and predict seconds and the test AUROC

Targets: external memory's peak under the cap; the same test AUROC as in memory (the same trees where
XGBoost's quantile sketch is exact, close where it merges per-batch sketches). The in-memory bytes per
cell printed here is the figure `IN_MEMORY_BYTES_PER_CELL` (`external_memory.use=auto`) comes from.

    python benchmarks/xgboost_memory.py --events 10000000 --rounds 20
    python benchmarks/xgboost_memory.py --quick      # 20k events, 3 rounds: a smoke run (figures meaningless)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import out_of_core
from omegaconf import OmegaConf

MODES = ("external", "in_memory")
PARAMS = {
    "tree_method": "hist",
    "learning_rate": 0.1,
    "max_depth": 6,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "max_bin": 256,
}


def child_main(
    mode: str, folder: Path, cache_dir: Path, rounds: int, memory_cap_gb: float, batch_mb: float
) -> None:
    """`prepare`: the task's cache; `external` / `in_memory`: boost and predict, print what it measured."""
    from behave.data.config import dataset_spec
    from behave.data.sources.files import FileSource
    from behave.data.storage.prepared import prepare
    from behave.tasks.dataset import task_dataset
    from behave.tasks.sequence import SequenceTask
    from behave.training.recipe import RunContext
    from behave.training.runner import run_recipe
    from behave.training.tabular.xgboost import XGBoostRecipe
    from behave.training.tabular.xgboost_external import ExternalMemory

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    data_config = json.loads((folder / "data_config.json").read_text())
    spec = dataset_spec({**data_config, "cache_dir": str(cache_dir)})
    source = FileSource(
        str(folder / "events"),
        str(folder / "labels.parquet"),
        categorical=spec.schema.categorical,
        memory_cap_gb=memory_cap_gb,
    )
    data = task_dataset(prepare(spec, source), SequenceTask())
    if mode == "prepare":
        print(json.dumps({"rows": len(data.rows), "features": len(data.feature_names)}))
        return
    recipe = XGBoostRecipe(
        {**PARAMS, "n_estimators": rounds},
        n_jobs=2,
        checkpoint_every=0,
        external_memory=ExternalMemory(use=mode == "external", batch_mb=batch_mb),
    )
    with tempfile.TemporaryDirectory(dir=cache_dir) as run_dir:
        context = RunContext(Path(run_dir), seed=0, monitor="val/auroc")
        before = out_of_core.resident_bytes()
        sampler = out_of_core.MemorySampler(Path(run_dir))
        outcome = run_recipe(recipe, data, context)
        sampler.stop()
    test = data.task.evaluate(data.part_rows("test"), outcome.test_probs).overall
    result = {
        "rows": len(data.rows),
        "features": len(data.feature_names),
        "before_bytes": before,
        "peak_bytes": sampler.peak,
        "pages_bytes": sampler.peak_disk,
        "fit_s": outcome.fit_seconds,
        "predict_s": outcome.predict_seconds,
        "test_auroc": test["auroc"],
        "trees": outcome.extra["n_trees"],
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result))


def in_child(mode: str, args: argparse.Namespace) -> dict:
    command = [
        sys.executable, __file__, "--child", mode, "--parquet-dir", str(args.parquet_dir),
        "--cache-dir", str(args.cache_dir), "--rounds", str(args.rounds),
        "--memory-cap-gb", str(args.memory_cap_gb), "--batch-mb", str(args.batch_mb),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {mode} run failed:\n{done.stdout}\n{done.stderr[-5000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch-mb", type=float, default=64, help="model.external_memory.batch_mb")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--memory-cap-gb", type=float, default=4.0)
    parser.add_argument("--parquet-dir", type=Path, default=None, help="default: a folder under /tmp, kept")
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: <parquet-dir>/cache, kept")
    parser.add_argument("--child", choices=("prepare", *MODES), help=argparse.SUPPRESS)
    parser.add_argument(
        "--quick", action="store_true", help="20k events, 3 rounds, a fresh folder: a smoke run"
    )
    args = parser.parse_args(argv)
    if args.quick and not args.child:
        args.events, args.rounds, args.batch_mb = 20_000, 3, 1
        with tempfile.TemporaryDirectory() as folder:
            args.parquet_dir = args.parquet_dir or Path(folder)
            return run(args)
    args.parquet_dir = args.parquet_dir or Path(tempfile.gettempdir()) / f"behave-xgb-{args.events}"
    if args.child:
        child_main(
            args.child, args.parquet_dir, args.cache_dir, args.rounds, args.memory_cap_gb, args.batch_mb
        )
        return None
    return run(args)


def run(args: argparse.Namespace) -> dict:
    """Write (or reuse) the log, prepare it, and compare the modes, each step in its own process."""
    args.cache_dir = args.cache_dir or args.parquet_dir / "cache"
    from pipeline import synthetic_spec  # the simulator's data config, as the pipeline benchmark's

    with tempfile.TemporaryDirectory() as scratch:
        spec = synthetic_spec(scratch)
    n_events, n_users = out_of_core.write_simulated_parquet(spec, args.events, args.parquet_dir)
    data_config = OmegaConf.to_container(OmegaConf.structured(spec), enum_to_str=True)
    (args.parquet_dir / "data_config.json").write_text(json.dumps(data_config))
    started = time.perf_counter()
    table = in_child("prepare", args)
    cells = table["rows"] * table["features"]
    print(
        f"{n_events:,} events, {n_users:,} users; task=sequence features {table['rows']:,} x "
        f"{table['features']} = {gb(cells * 4)} of float32 (prepared or reused in "
        f"{time.perf_counter() - started:.0f} s, untimed); {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; {args.rounds} rounds"
    )
    results = {mode: in_child(mode, args) for mode in args.modes}
    print(f"\n{'mode':<10} {'peak RSS':>9} {'above start':>12} {'B/cell':>7} {'pages':>8} {'fit':>8} "
          f"{'predict':>8} {'test AUROC':>10}")  # fmt: skip
    for mode, result in results.items():
        above = result["peak_bytes"] - result["before_bytes"]
        print(
            f"{mode:<10} {gb(result['peak_bytes']):>9} {gb(above):>12} {above / cells:7.1f} "
            f"{gb(result['pages_bytes']):>8} {result['fit_s']:7.1f}s {result['predict_s']:7.1f}s "
            f"{result['test_auroc']:10.4f}"
        )
    if len(results) < len(MODES):
        return results
    external, in_memory = results["external"], results["in_memory"]
    cap = args.memory_cap_gb * 1e9
    print(
        f"\nexternal memory: peak {external['peak_bytes'] / in_memory['peak_bytes']:.2f}x the in-memory "
        f"fit's; under the {args.memory_cap_gb:g} GB cap: external {external['peak_bytes'] < cap}, "
        f"in memory {in_memory['peak_bytes'] < cap}; test AUROC difference "
        f"{external['test_auroc'] - in_memory['test_auroc']:+.4f}"
    )
    print(f"load average at the end (1, 5, 15 min): {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return results


if __name__ == "__main__":
    main()
