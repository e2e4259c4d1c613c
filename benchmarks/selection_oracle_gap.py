"""Does selection by inner cross-validation bring a model closer to the simulator's oracle than the holdout?

Reads the runs of resplit sweeps that ran `selection=holdout,inner_cv` and prints, per model, the mean test
AUROC gap to the oracle (the Bayes-optimal AUROC on the same test rows) for each selection, and the paired
difference holdout gap - inner_cv gap over seeds (each seed one resplit: both selections saw the same split)
with its 95% t interval. Positive: inner cross-validation is closer to the oracle.

    python benchmarks/selection_oracle_gap.py outputs/multiruns/<sweep> [<sweep> ...]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats


def read_gaps(sweeps: list[Path]) -> dict[str, dict[str, dict[int, float]]]:
    """{model: {selection: {seed: oracle AUROC - test AUROC}}} of the sweeps' finished runs."""
    gaps: dict = defaultdict(lambda: defaultdict(dict))
    for sweep in sweeps:
        for path in sorted(sweep.glob("*/result.json")):
            record = json.loads(path.read_text())
            oracle = record.get("dataset", {}).get("oracle_test_auroc")
            if record["status"] != "ok" or oracle is None:
                continue
            selection = record["extra"]["selection"]["kind"]
            gaps[record["model"]["name"]][selection][record["seed"]] = (
                oracle - record["test_metrics"]["auroc"]
            )
    return gaps


def paired(holdout: dict[int, float], inner: dict[int, float]) -> tuple[int, float, float, float, int]:
    """(pairs, mean difference, interval low, interval high, seeds where inner_cv is closer)."""
    seeds = sorted(set(holdout) & set(inner))
    differences = np.array([holdout[s] - inner[s] for s in seeds])
    mean = float(differences.mean())
    half = float(stats.t.ppf(0.975, len(seeds) - 1) * differences.std(ddof=1) / np.sqrt(len(seeds)))
    return len(seeds), mean, mean - half, mean + half, int((differences > 0).sum())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", type=Path)
    gaps = read_gaps(parser.parse_args(argv).sweeps)
    print("model      gap holdout  gap inner_cv  difference [95% t interval]   inner_cv closer")
    for model, by_selection in sorted(gaps.items()):
        holdout, inner = by_selection.get("holdout", {}), by_selection.get("inner_cv", {})
        if len(set(holdout) & set(inner)) < 2:
            print(f"{model:<10} fewer than two paired seeds")
            continue
        n, mean, low, high, closer = paired(holdout, inner)
        print(
            f"{model:<10} {np.mean(list(holdout.values())):>11.4f}  {np.mean(list(inner.values())):>12.4f}  "
            f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]   {closer}/{n}"
        )
    return gaps


if __name__ == "__main__":
    main()
