"""How often do the report's 95% intervals cover the truth? One study per protocol, on data whose truth is
known, through the same functions the report calls.

fixed    two fixed scorers of a binary label drawn from known probabilities (a = the log-odds plus a little
         noise, b = plus more noise). The truth is AUROC(a) - AUROC(b) on the whole population (2 million
         rows); each repetition draws a test part of `--test-rows` rows and asks
         `stats.paired_auc_comparison` (the paired bootstrap) for its 95% CI.
resplit  two learners (logistic regression on all 6 features vs on the first 2) on a dataset of
         `--dataset-rows` rows drawn from a known logistic model. The truth is the expected test AUROC
         difference of the two learners trained on a training part of that size, estimated from 200
         independent training sets scored on a 200k-row population sample. Each repetition draws one
         dataset, splits it `--splits` times (70/30) and asks `stats.corrected_resampled_t` for its 95% CI;
         the naive t-interval over the same splits (variance / k) is shown beside it for contrast.

    python benchmarks/interval_coverage.py                      # ~2 min on 2 cores
    python benchmarks/interval_coverage.py --repetitions 1000   # tighter coverage estimates
    python benchmarks/interval_coverage.py --quick              # a smoke run (figures meaningless)

A well-calibrated 95% interval covers the truth in about 95% of repetitions (the binomial standard error
with 400 repetitions is about 1.1 points).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy import stats as scipy_stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from behave.report.stats import corrected_resampled_t, paired_auc_comparison


def fixed_protocol(
    repetitions: int, test_rows: int, n_boot: int, rng: np.random.Generator, population: int = 2_000_000
) -> dict:
    def draw(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        log_odds = rng.normal(-0.8, 1.2, n)
        labels = (rng.random(n) < 1 / (1 + np.exp(-log_odds))).astype(int)
        return labels, log_odds + rng.normal(0, 0.8, n), log_odds + rng.normal(0, 1.4, n)

    labels, a, b = draw(population)
    truth = roc_auc_score(labels, a) - roc_auc_score(labels, b)
    covered, widths = 0, []
    for repetition in range(repetitions):
        labels, a, b = draw(test_rows)
        result = paired_auc_comparison(labels, a[None], b[None], n_boot=n_boot, seed=repetition)
        covered += result.lo <= truth <= result.hi
        widths.append(result.hi - result.lo)
    return {"truth": truth, "coverage": covered / repetitions, "mean_width": float(np.mean(widths))}


def resplit_protocol(
    repetitions: int,
    dataset_rows: int,
    splits: int,
    rng: np.random.Generator,
    population: int = 200_000,
    truth_sets: int = 200,
) -> dict:
    weights = np.array([1.0, -0.8, 0.6, 0.5, -0.4, 0.3])

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, len(weights)))
        return x, (rng.random(n) < 1 / (1 + np.exp(-(x @ weights - 0.5)))).astype(int)

    def difference(x_train, y_train, x_test, y_test) -> float:
        full = LogisticRegression().fit(x_train, y_train).decision_function(x_test)
        few = LogisticRegression().fit(x_train[:, :2], y_train).decision_function(x_test[:, :2])
        return roc_auc_score(y_test, full) - roc_auc_score(y_test, few)

    n_train = int(0.7 * dataset_rows)
    population_x, population_y = draw(population)
    truth = float(
        np.mean([difference(*draw(n_train), population_x, population_y) for _ in range(truth_sets)])
    )
    covered = {"corrected": 0, "naive": 0}
    for _ in range(repetitions):
        x, y = draw(dataset_rows)
        differences = []
        for _ in range(splits):
            order = rng.permutation(dataset_rows)
            train, test = order[:n_train], order[n_train:]
            differences.append(difference(x[train], y[train], x[test], y[test]))
        d = np.array(differences)
        _, lo, hi, _ = corrected_resampled_t(d, (dataset_rows - n_train) / n_train)
        covered["corrected"] += lo <= truth <= hi
        margin = scipy_stats.t.ppf(0.975, splits - 1) * d.std(ddof=1) / np.sqrt(splits)
        covered["naive"] += d.mean() - margin <= truth <= d.mean() + margin
    return {"truth": truth} | {f"coverage_{k}": v / repetitions for k, v in covered.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repetitions", type=int, default=400)
    parser.add_argument("--test-rows", type=int, default=1000)
    parser.add_argument("--n-boot", type=int, default=500)
    parser.add_argument("--dataset-rows", type=int, default=1000)
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes and truths from small samples: a smoke run"
    )
    args = parser.parse_args(argv)
    # The truths' sample sizes: a population for the AUROC difference, training sets for the learners'.
    population, truth_sets = 2_000_000, 200
    if args.quick:
        args.repetitions, args.test_rows, args.n_boot, args.dataset_rows, args.splits = 4, 200, 50, 200, 3
        population, truth_sets = 20_000, 4
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    out = {
        "fixed": fixed_protocol(args.repetitions, args.test_rows, args.n_boot, rng, population),
        "resplit": resplit_protocol(
            args.repetitions, args.dataset_rows, args.splits, rng, population // 10, truth_sets
        ),
        "repetitions": args.repetitions,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
