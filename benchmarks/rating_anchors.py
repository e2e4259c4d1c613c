"""Reference recommenders on exactly the folds behave's rating task uses: scikit-surprise's SVD, SVD++,
k-NN with baselines and the baseline-only model (its defaults), fold by fold, beside behave's own runs.

The folds are behave's `task=rating task.split=kfold task.fold=1..5` (seeded, by rating): the script
builds the same task rows from the same prepared MovieLens-100k, so both sides score the same test ratings.
behave's models fit on the training part and stop early on the validation part (70% / 10% of the ratings);
the standard protocol fits on everything outside the test fold (80%). Both are run here:

    --fit train      the reference models see the same training ratings as behave's models
    --fit train+val  the standard protocol (the numbers the library publishes, ~0.93 RMSE for SVD)

    pip install scikit-surprise     # not a dependency of behave: only this script uses it
    BEHAVE_DATA_DIR=... python benchmarks/rating_anchors.py --out outputs/rating_anchors.json
    python benchmarks/rating_anchors.py --folds 1 --algorithms svd,baseline_only   # a quick look
    python benchmarks/rating_anchors.py --quick      # fold 1, baseline_only, fit on train: a smoke run
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir

import behave.train  # noqa: F401  (registers the config schemas and resolvers the configs use)
from behave.paths import CONFIG_DIR
from behave.tasks.dataset import prepare_task
from behave.tasks.rating import RatingTask

ALGORITHMS = ("svd", "svdpp", "knn_baseline", "baseline_only")
TRAIN, VAL, TEST = range(3)


def reference_model(name: str, seed: int):
    import surprise  # imported here: the rest of behave never needs it

    return {
        "svd": lambda: surprise.SVD(random_state=seed),
        "svdpp": lambda: surprise.SVDpp(random_state=seed),
        "knn_baseline": lambda: surprise.KNNBaseline(verbose=False),
        "baseline_only": lambda: surprise.BaselineOnly(verbose=False),
    }[name]()


def fold_ratings(fold: int, folds: int, seed: int, data: str) -> pd.DataFrame:
    """(user, item, rating, part) of every rating, parts as behave's kfold rating task assigns them."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"data={data}", "task=rating"])
    task = RatingTask(split="kfold", folds=folds, fold=fold, seed=seed, item=str(cfg.data.item.id))
    prepared = prepare_task(cfg.data, task)
    rows, log = prepared.rows, prepared.base.log
    event = log.offsets[rows.sequence] + rows.cutoff - 1
    items = log.categorical[task.item]
    return pd.DataFrame(
        {
            "user": log.sequence_ids[rows.sequence].astype(str),
            "item": np.asarray(items.categories.astype(str))[items.codes[event]],
            "rating": rows.label.astype(float),
            "part": rows.part,
        }
    )


def score(name: str, ratings: pd.DataFrame, fit_parts: tuple[int, ...], seed: int) -> dict:
    import surprise

    train = ratings[ratings["part"].isin(fit_parts)]
    test = ratings[ratings["part"] == TEST]
    reader = surprise.Reader(rating_scale=(float(ratings["rating"].min()), float(ratings["rating"].max())))
    trainset = surprise.Dataset.load_from_df(train[["user", "item", "rating"]], reader).build_full_trainset()
    model = reference_model(name, seed)
    started = time.perf_counter()
    model.fit(trainset)
    fit_seconds = time.perf_counter() - started
    predicted = np.array([model.predict(u, i).est for u, i in zip(test["user"], test["item"])])
    errors = predicted - test["rating"].to_numpy()
    return {
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
        "fit_seconds": round(fit_seconds, 2),
        "train_ratings": len(train),
        "test_ratings": len(test),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="movielens100k_ratings")
    parser.add_argument("--folds", type=int, default=5, help="run folds 1..N of the 5-fold split")
    parser.add_argument("--seed", type=int, default=0, help="task.seed of the folds")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--fit", default="train,train+val", help="train, train+val or both (comma-separated)")
    parser.add_argument("--out", type=Path, default=None, help="write every fold's figures here (JSON)")
    parser.add_argument(
        "--quick", action="store_true", help="fold 1, baseline_only, fit on train: a smoke run"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.folds, args.algorithms, args.fit = 1, "baseline_only", "train"
    fits = {"train": (TRAIN,), "train+val": (TRAIN, VAL)}
    results = []
    for fold in range(1, args.folds + 1):
        ratings = fold_ratings(fold, 5, args.seed, args.data)
        for fit in args.fit.split(","):
            for name in args.algorithms.split(","):
                figures = score(name, ratings, fits[fit], args.seed)
                results.append({"algorithm": name, "fit": fit, "fold": fold, **figures})
                shown = f"rmse {figures['rmse']:.4f}  mae {figures['mae']:.4f}"
                shown += f"  fit {figures['fit_seconds']:.1f} s"
                print(f"fold {fold}  {fit:<10} {name:<14} {shown}", flush=True)
    table = pd.DataFrame(results)
    summary = table.groupby(["fit", "algorithm"], sort=False).agg(
        rmse=("rmse", "mean"), rmse_std=("rmse", "std"), mae=("mae", "mean"), folds=("fold", "count")
    )
    print(summary.round(4).to_string())
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
