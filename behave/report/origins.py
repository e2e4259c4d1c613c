"""The report's rolling-origin block (`protocol=rolling`): the metric per origin and model, each origin's
paired bootstrap over its test sequences, what the test over origins can tell, and whether the metric and
the label share drift across origins.

Each run of a rolling group tests one period of the log (its origin, `data.split.origin`), trained on what
came before it. The periods hold different sequences, so the per-origin metrics are independent estimates:
drift is Cochran's Q, the heterogeneity test of a meta-analysis, Q = sum_j w_j (m_j - m_w)^2 with
w_j = 1 / var_j and m_w the weighted mean, against chi-square with k - 1 degrees of freedom. Each var_j
comes from a bootstrap of origin j's test sequences (all rows of a drawn sequence together), so prefixes of
one sequence are not counted as independent. The label share is tested with a chi-square test of
homogeneity over one label per test sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen before pyplot is imported)
import numpy as np  # noqa: E402

from behave.report import paired  # noqa: E402
from behave.report.compare import display_name  # noqa: E402
from behave.report.document import Block, Bullets, Figure, Heading, Paragraph, Table  # noqa: E402
from behave.report.headline import is_regression  # noqa: E402
from behave.report.records import RunRecord  # noqa: E402
from behave.report.stats import bootstrap_counts, percentile_ci, weighted_auc, weighted_error  # noqa: E402
from behave.run.predictions import Predictions  # noqa: E402
from behave.tasks.metric_registry import Metric  # noqa: E402

DRIFT_LEVEL = 0.05  # a drift test's p below this says "changes across origins"
COCHRAN_Q, CHI_SQUARE = "Cochran's Q", "chi-square"


@dataclass(frozen=True)
class Heterogeneity:
    """A test of whether something changes across origins: the statistic's name and value, its degrees of
    freedom and p-value."""

    statistic: str
    value: float
    df: int
    p_value: float

    @property
    def drifts(self) -> bool:
        return bool(self.p_value < DRIFT_LEVEL)

    def sentence(self, what: str) -> str:
        shown = f"{self.statistic} = {self.value:.1f}, df {self.df}, p {_p(self.p_value)}"
        if self.drifts:
            return f"the {what} changes across origins ({shown}; level {DRIFT_LEVEL})"
        return f"no evidence that the {what} changes across origins ({shown}, level {DRIFT_LEVEL})"


def cochran_q(estimates: np.ndarray, variances: np.ndarray) -> Heterogeneity:
    """Heterogeneity of estimates (k,) with variances (k,); NaN p where fewer than two have a variance."""
    from scipy.stats import chi2

    m, v = np.asarray(estimates, dtype=float), np.asarray(variances, dtype=float)
    keep = np.isfinite(m) & np.isfinite(v) & (v > 0)
    if keep.sum() < 2:
        return Heterogeneity(COCHRAN_Q, float("nan"), int(keep.sum()) - 1, float("nan"))
    weights = 1.0 / v[keep]
    mean = float(np.sum(weights * m[keep]) / weights.sum())
    q = float(np.sum(weights * (m[keep] - mean) ** 2))
    df = int(keep.sum()) - 1
    return Heterogeneity(COCHRAN_Q, q, df, float(chi2.sf(q, df)))


def label_share_drift(labels_per_origin: list[np.ndarray]) -> Heterogeneity:
    """Chi-square test of homogeneity of the class counts over origins (one label per test sequence)."""
    from scipy.stats import chi2_contingency

    classes = np.unique(np.concatenate(labels_per_origin))
    if len(classes) < 2 or len(labels_per_origin) < 2:
        return Heterogeneity(CHI_SQUARE, float("nan"), 0, float("nan"))
    table = np.array([[np.sum(labels == c) for c in classes] for labels in labels_per_origin])
    result = chi2_contingency(table[:, table.sum(axis=0) > 0])
    return Heterogeneity(CHI_SQUARE, float(result.statistic), int(result.dof), float(result.pvalue))


@dataclass(frozen=True)
class OriginScore:
    """The metric on one origin's test rows, its variance and 95% percentile interval over a bootstrap of
    the origin's test sequences (percentiles, so the interval stays inside the metric's range)."""

    value: float
    variance: float
    lo: float
    hi: float

    def cell(self) -> str:
        return "—" if not np.isfinite(self.value) else f"{self.value:.3f} [{self.lo:.3f}, {self.hi:.3f}]"


MISSING_SCORE = OriginScore(float("nan"), float("nan"), float("nan"), float("nan"))


def metric_with_variance(predictions: Predictions, metric: Metric, n_boot: int, seed: int) -> OriginScore:
    """The metric on one origin's test rows, with its bootstrap variance and interval."""
    labels = predictions.labels

    def score(weights: np.ndarray) -> np.ndarray:
        if is_regression(metric):
            return weighted_error(labels, predictions.scores, weights, metric.name)
        return weighted_auc(labels, np.asarray(predictions.scores, dtype=float), weights)

    point = float(score(np.ones((len(labels), 1)))[0])
    rng = np.random.default_rng(seed)
    draws = np.concatenate(
        [score(counts) for counts in bootstrap_counts(len(labels), n_boot, rng, predictions.sequence_ids)]
    )
    draws = draws[np.isfinite(draws)]
    if len(draws) < 2:
        return OriginScore(point, float("nan"), float("nan"), float("nan"))
    lo, hi = percentile_ci(draws)
    return OriginScore(point, float(draws.var(ddof=1)), float(lo), float(hi))


def origin_of(record: RunRecord) -> int | None:
    """The test period a rolling run scored (1-based, earliest first), from its recorded config."""
    split = ((record.raw.get("config") or {}).get("data") or {}).get("split") or {}
    origin = split.get("origin")
    return int(origin) if isinstance(origin, int | float) else None


def runs_by_origin(
    records: list[RunRecord], predictions: dict[tuple[str, int], Predictions]
) -> dict[tuple[str, int], tuple[RunRecord, Predictions]]:
    """(model, origin) -> (record, predictions) of its lowest-seed ok run with predictions."""
    out: dict[tuple[str, int], tuple[RunRecord, Predictions]] = {}
    for record in sorted((r for r in records if r.ok and r.seed is not None), key=lambda r: r.seed):
        origin = origin_of(record)
        if origin is not None and (record.model, record.seed) in predictions:
            out.setdefault((record.model, origin), (record, predictions[(record.model, record.seed)]))
    return out


def origin_blocks(
    records: list[RunRecord],
    predictions: dict[tuple[str, int], Predictions],
    compared: Metric,
    pairs: list[tuple[str, str]],
    n_boot: int,
    seed: int,
    fig_path: Path,
    oracle_value: Callable[[dict, str], float | None],
) -> list[Block]:
    """The rolling-origin section's blocks; nothing for runs of another protocol. `oracle_value(dataset,
    metric)` reads the oracle's value a run recorded for its test part, if any."""
    if not records or records[0].protocol != "rolling":
        return []
    runs = runs_by_origin(records, predictions)
    origins = sorted({origin for _, origin in runs})
    models = sorted({model for model, _ in runs})
    if len(origins) < 2 or compared.name not in paired.PAIRED_METRICS:
        why = "fewer than two origins have predictions" if len(origins) < 2 else "it is not bootstrapped"
        return [Heading("Across origins", 3), Paragraph(f"No {compared.label} per origin: {why}.")]
    scored = {key: metric_with_variance(p, compared, n_boot, seed) for key, (_, p) in runs.items()}
    blocks: list[Block] = [
        Heading("Across origins", 3),
        Paragraph(
            f"Protocol rolling: origin j tests the j-th of the log's {len(origins)} latest periods (earliest "
            f"first) with models trained on what came before it. {compared.label} per origin [95% "
            "bootstrap interval over the origin's test sequences]; the label share of each origin's test "
            "sequences."
        ),
        _metric_table(runs, scored, origins, models, compared, oracle_value),
        Figure(_plot(scored, origins, models, compared, fig_path), f"{compared.label} per origin"),
        Bullets(_drift_sentences(runs, scored, origins, models, compared)),
        *_per_origin_comparisons(runs, origins, pairs, compared, n_boot, seed),
        Paragraph(_what_few_origins_tell(len(origins))),
    ]
    return blocks


def _metric_table(runs, scored, origins, models, compared: Metric, oracle_value) -> Table:
    """Origin x (test sequences, label share, each model's metric [interval], the oracle's value)."""
    oracles = {o: oracle_value(_any_record(runs, o).dataset, compared.name) for o in origins}
    shown = [o for o in origins if oracles[o] is not None]
    header = [
        "origin",
        "test sequences",
        "label share",
        *(f"{display_name(m)} {compared.label}" for m in models),
    ]
    header += ["oracle (Bayes-optimal)"] if shown else []
    rows = []
    for origin in origins:
        labels = _sequence_labels(_any_run(runs, origin))
        binary = not is_regression(compared) and set(np.unique(labels)) <= {0, 1}
        share = f"{np.mean(labels == 1):.3f}" if binary else "—"
        cells = [scored.get((model, origin), MISSING_SCORE).cell() for model in models]
        cells += ([f"{oracles[origin]:.3f}" if origin in shown else "—"]) if shown else []
        rows.append([str(origin), str(len(labels)), share, *cells])
    return Table(header, rows)


def _drift_sentences(runs, scored, origins, models, compared: Metric) -> list[str]:
    sentences = []
    for model in models:
        values = [scored.get((model, o), MISSING_SCORE) for o in origins]
        test = cochran_q(np.array([v.value for v in values]), np.array([v.variance for v in values]))
        if np.isfinite(test.p_value):
            sentences.append(f"**{display_name(model)}: {test.sentence(compared.label)}.**")
    if not is_regression(compared):
        test = label_share_drift([_sequence_labels(_any_run(runs, origin)) for origin in origins])
        if np.isfinite(test.p_value):
            sentences.append(f"Label share of the test sequences: {test.sentence('label share')}.")
    return sentences


def _per_origin_comparisons(runs, origins, pairs, compared: Metric, n_boot: int, seed: int) -> list[Block]:
    """Each pair's difference at each origin with its paired bootstrap CI over that origin's test rows."""
    if not pairs:
        return []
    rows = []
    for model, reference in pairs:
        cells = []
        for origin in origins:
            if (model, origin) not in runs or (reference, origin) not in runs:
                cells.append("—")
                continue
            both = {(name, 0): runs[(name, origin)][1] for name in (model, reference)}
            comparison = paired.compare_models(
                both, model, reference, n_boot, seed, compared, compared=compared
            )
            cells.append(paired.verdict_cell(comparison))
        rows.append([f"{display_name(model)} − {display_name(reference)}", *cells])
    return [
        Paragraph(
            "Difference (model − reference) at each origin, with its 95% paired bootstrap CI over that "
            "origin's test sequences (bold: the CI excludes 0); it says how sure each origin is, not "
            "whether the difference holds across periods."
        ),
        Table(["comparison", *(f"origin {o}" for o in origins)], rows),
    ]


def _what_few_origins_tell(k: int) -> str:
    from scipy.stats import t

    return (
        f"The verdicts above pair the models over these {k} origins (one difference per origin, "
        f"{k - 1} degrees of freedom: a 95% interval reaches {t.ppf(0.975, k - 1):.2f} standard errors to "
        "each side). They say whether one model was better on average over these periods, not whether it "
        "will be in the next one; where the metric drifts, that average mixes different regimes. A model "
        f"better at every origin gets a sign-test p of {2 * 0.5**k:.3f} at best"
        + (
            ", so with so few origins no consistent winner can reach 0.05 by its signs alone."
            if 2 * 0.5**k >= 0.05
            else "."
        )
    )


def _any_run(runs, origin: int) -> Predictions:
    """One run's predictions at `origin`: every model of an origin is scored on the same test rows."""
    return next(predictions for (_, at), (_, predictions) in runs.items() if at == origin)


def _any_record(runs, origin: int) -> RunRecord:
    """One run's record at `origin`: every run of an origin prepared the same data."""
    return next(record for (_, at), (record, _) in runs.items() if at == origin)


def _sequence_labels(predictions: Predictions) -> np.ndarray:
    """One label per test sequence (the first row's: a sequence label is the same on all its rows)."""
    _, first = np.unique(predictions.sequence_ids, return_index=True)
    return np.asarray(predictions.labels)[first]


def _plot(scored, origins, models, compared: Metric, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(1.5 + 1.1 * len(origins), 3.6))
    for model in models:
        values = [scored.get((model, o), MISSING_SCORE) for o in origins]
        middle = np.array([v.value for v in values])
        below, above = middle - np.array([v.lo for v in values]), np.array([v.hi for v in values]) - middle
        ax.errorbar(origins, middle, yerr=[below, above], marker="o", capsize=3, label=display_name(model))
    ax.set(xlabel="origin (test period, earliest first)", ylabel=compared.label, xticks=origins)
    ax.set_title(f"{compared.label} per origin (bars: 95% bootstrap intervals)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"= {value:.3f}"
