"""Many comparisons in one report: their p-values adjusted together, so "beats" keeps its 5% meaning.

A report compares every model with the reference (and per group, e.g. per prefix length): with a dozen
models, one of a dozen true ties would cross p < 0.05 by chance alone more often than not. Holm's step-down
method (the default) keeps the chance of any false "beats" at 5%; Benjamini-Hochberg (`bh`) keeps the
expected share of false ones at 5% and finds more differences; `none` leaves each comparison alone.
The adjustment is statsmodels' `multipletests`.
"""

from __future__ import annotations

from dataclasses import replace
from enum import Enum

import numpy as np

from behave.report.paired import Comparison


class Correction(str, Enum):
    holm = "holm"
    bh = "bh"
    none = "none"


# statsmodels' names, and how a sentence names each method.
_METHODS = {Correction.holm: "holm", Correction.bh: "fdr_bh"}
LABELS = {Correction.holm: "Holm", Correction.bh: "Benjamini-Hochberg", Correction.none: "no"}


def adjust(comparisons: list[Comparison], correction: Correction | str) -> list[Comparison]:
    """The comparisons with `p_adjusted` over all of them that have a p-value (the others unchanged)."""
    correction = Correction(correction)
    tested = [i for i, c in enumerate(comparisons) if c.result is not None and np.isfinite(c.result.p_value)]
    if correction is Correction.none or not tested:
        return list(comparisons)
    from statsmodels.stats.multitest import multipletests  # a second to import: only when reports run

    raw = np.array([comparisons[i].result.p_value for i in tested])
    adjusted = multipletests(raw, alpha=0.05, method=_METHODS[correction])[1]
    out = list(comparisons)
    for i, p in zip(tested, adjusted):
        out[i] = replace(
            comparisons[i], p_adjusted=float(p), correction=LABELS[correction], n_tests=len(tested)
        )
    return out
