"""What the report's verdicts say on a pure-noise label, by the size of the test part: two random scorers
over three seeds, compared by the paired bootstrap the report runs (`stats.paired_auc_comparison`) and
judged by its rule (`resolution.decide`) against a difference that matters (`--rope`), beside the rule at
0 alone that the report used before the rope.

    python benchmarks/verdict_noise.py                          # 40 and 400 test sequences, ~5 s
    python benchmarks/verdict_noise.py --sequences 40 --repetitions 1000
    python benchmarks/verdict_noise.py --quick                  # a smoke run, figures meaningless

Every winner here is false: the label is noise. A calibrated 95% test names one in about 5% of repetitions
whatever the size; what size changes is whether a non-winner is "no significant difference" (the test could
have seen a difference of the rope) or "too few test sequences" (it could not).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from behave.report.resolution import Decision, decide
from behave.report.stats import paired_auc_comparison


def noise_verdicts(n_sequences: int, repetitions: int, rope: float, n_boot: int) -> dict:
    rng = np.random.default_rng(0)
    counts = {decision.value: 0 for decision in Decision}
    winners_at_zero = 0
    for repetition in range(repetitions):
        labels = (rng.random(n_sequences) < 0.4).astype(int)
        if labels.min() == labels.max():
            continue
        a, b = rng.random((3, n_sequences)), rng.random((3, n_sequences))
        result = paired_auc_comparison(labels, a, b, n_boot=n_boot, seed=repetition)
        excludes_zero = result.lo > 0 or result.hi < 0
        winners_at_zero += excludes_zero
        counts[decide(result.lo, result.hi, excludes_zero, rope).value] += 1
    return {"test_sequences": n_sequences, "rope": rope, **counts, "winner_at_0_alone": winners_at_zero}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, nargs="+", default=[40, 400])
    parser.add_argument("--repetitions", type=int, default=400)
    parser.add_argument("--rope", type=float, default=0.01)
    parser.add_argument("--n-boot", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="5 repetitions of 50 draws at 40 sequences")
    args = parser.parse_args(argv)
    if args.quick:
        args.sequences, args.repetitions, args.n_boot = [40], 5, 50
    started = time.perf_counter()
    results = []
    for n in args.sequences:
        results.append(noise_verdicts(n, args.repetitions, args.rope, args.n_boot))
        print(json.dumps(results[-1]))
    load = os.getloadavg()[0]
    print(f"{time.perf_counter() - started:.1f} s, load average {load:.1f}")
    return results


if __name__ == "__main__":
    main()
