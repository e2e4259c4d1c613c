"""Build the blocks of one dataset's section: data card, reproduction, results, comparisons, failures."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from behave.report import compare, multiplicity, paired
from behave.report.compare import MetricSummary, ModelSummary
from behave.report.data_section import data_blocks
from behave.report.document import Block, Bullets, Code, Heading, Paragraph, Table, code_span
from behave.report.embedding import embedding_blocks
from behave.report.explanations import explanation_blocks
from behave.report.figures import cost_blocks, dataset_figures
from behave.report.groups import group_blocks
from behave.report.headline import column_metric, is_regression, section_headline, section_kind
from behave.report.item_map import item_map_blocks
from behave.report.multiplicity import Correction
from behave.report.origins import origin_blocks
from behave.report.paired import Comparison
from behave.report.per_row import per_row_blocks
from behave.report.pretraining import pretraining_blocks
from behave.report.records import RunRecord, readable_predictions
from behave.report.resolution import Decision, rope_for, rule_sentence
from behave.report.selection import selection_blocks
from behave.report.stats import delong_test
from behave.report.tuning import tuning_blocks
from behave.run.predictions import Predictions
from behave.tasks.metric_registry import Metric


@dataclass(frozen=True)
class ReportOptions:
    reference: str = compare.AUTO
    n_boot: int = 2000
    seed: int = 0
    correction: Correction = Correction.holm
    # The difference that matters, in the headline metric's units: the region of practical equivalence of
    # the cross-dataset Bayesian test, and the size below which a verdict says "too few test sequences".
    rope: float = 0.01


def fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "dataset"


def reproduce_blocks(records: list[RunRecord]) -> list[Block]:
    """The commands that produced these runs, deduplicated, and the git commits they ran at."""
    sweeps = list(dict.fromkeys(r.raw["command"] for r in records if r.raw.get("command")))
    singles = list(
        dict.fromkeys(
            "behave-train " + " ".join(r.raw["overrides"]) for r in records if r.raw.get("overrides")
        )
    )
    blocks: list[Block] = [Heading("Reproduce", 3)]
    if sweeps:
        blocks += [Paragraph("The sweep:"), Code("\n".join(sweeps))]
    if singles:
        blocks += [Paragraph("Single runs:"), Code("\n".join(singles))]
    if not sweeps and not singles:
        blocks.append(Paragraph("No command was recorded."))
    commits = sorted({str(r.raw["git_commit"]) for r in records if r.raw.get("git_commit")})
    if len(commits) > 1:
        blocks.append(Paragraph(f"**Warning:** these runs come from {len(commits)} different git commits."))
    if commits:
        blocks.append(Paragraph("Git commit(s): " + ", ".join(code_span(c) for c in commits)))
    return blocks


def _metric_cell(summary: MetricSummary | None, bold: bool) -> str:
    if summary is None:
        return "—"
    if summary.n < 2:
        text = f"{fmt(summary.mean)} (1 seed, CI n/a)"
    else:
        text = f"{fmt(summary.mean)} ± {fmt(summary.std)} [{fmt(summary.lo)}, {fmt(summary.hi)}]"
    return f"**{text}**" if bold else text


def column_header(name: str) -> str:
    """A metric column's name and the registry's arrow (↑ higher is better, ↓ lower), if it has one."""
    metric = column_metric(name)
    return name if metric is None else f"{name} {metric.arrow}"


def results_table(
    summaries: list[ModelSummary], metrics: list[str], oracle: float | None, headline: Metric
) -> Table:
    """Model x metric (mean ± std [95% t-interval over seeds]), ranked by the headline metric, best per
    column in bold, then costs."""
    best = compare.best_model_per_metric(summaries)
    header = ["rank", "model", "family", "seeds ok / failed"] + [column_header(name) for name in metrics]
    header += ["fit s", "predict s", "parameters"]
    rows = []
    for rank, s in enumerate(compare.rank_summaries(summaries, headline), start=1):
        cells = [_metric_cell(s.metrics.get(name), best.get(name) == s.model) for name in metrics]
        costs = [fmt(s.fit_seconds, 1), fmt(s.predict_seconds, 2), fmt(s.n_parameters, 0)]
        rows.append(
            [str(rank), s.model, s.family, f"{len(s.seeds_ok)} / {len(s.seeds_failed)}", *cells, *costs]
        )
    if oracle is not None:
        cells = [fmt(oracle) if name == headline.name else "—" for name in metrics]
        rows.append(["—", "oracle (Bayes-optimal)", "—", "—", *cells, "—", "—", "—"])
    return Table(header, rows)


def seed_notes(records: list[RunRecord], summaries: list[ModelSummary]) -> list[str]:
    """Models missing seeds that others have, repeated seeds, and hyperparameter searches."""
    all_seeds = {r.seed for r in records if r.seed is not None}
    notes = []
    for s in summaries:
        missing = sorted(all_seeds - set(s.seeds_ok))
        if missing:
            notes.append(f"{s.model}: no successful run for seed(s) {', '.join(map(str, missing))}.")
        repeated = sorted({seed for seed in s.seeds_ok if s.seeds_ok.count(seed) > 1})
        if repeated:
            notes.append(f"{s.model}: seed(s) {repeated} ran more than once; all runs count in the summary.")
    searched = {r.model: r.raw["hparams_search"] for r in records if r.ok and r.raw.get("hparams_search")}
    for model, search in searched.items():
        notes.append(f"{model}: hyperparameters tuned ({code_span(search, 160)}).")
    return notes


def comparison_blocks(
    comparisons: list[Comparison], predictions: dict[tuple[str, int], Predictions], compared: Metric
) -> list[Block]:
    """A verdict per pair, then per-seed and combined differences with paired bootstrap CIs."""
    if not comparisons:
        return [Paragraph("No paired comparison: the reference model did not run or only one model exists.")]
    blocks: list[Block] = [Bullets([f"**{paired.verdict(c)}**" for c in comparisons])]
    shown = comparisons[0].metric
    header = ["comparison", "seed", f"{shown} model", f"{shown} reference", "difference", "95% CI"]
    header.append("DeLong p")  # a cross-check of each seed's bootstrap CI (binary AUROC only)
    rows = [
        row for c in comparisons if c.result is not None for row in _comparison_rows(c, predictions, compared)
    ]
    if rows:
        blocks.append(Table(header, rows))
    return blocks


def _delong_cell(first: Predictions, second: Predictions, compared: Metric) -> str:
    if compared.name != "auroc":  # DeLong's test is of two binary AUROCs
        return "—"
    test = delong_test(first.labels == 1, first.scores, second.scores)
    return (
        "n/a" if not np.isfinite(test.p_value) else ("< 0.001" if test.p_value < 0.001 else fmt(test.p_value))
    )


def _comparison_rows(
    comparison: Comparison, predictions: dict[tuple[str, int], Predictions], metric: Metric
) -> list[list[str]]:
    """One row per paired seed, then the combined row in bold."""
    result = comparison.result
    pair = f"{comparison.model} − {comparison.reference}"
    rows = []
    for i, seed in enumerate(comparison.seeds):
        first, second = (
            predictions.get((comparison.model, seed)),
            predictions.get((comparison.reference, seed)),
        )
        if first is None or second is None:  # runs over splits compared on their records, files missing
            rows.append([pair, str(seed), "—", "—", fmt(result.per_seed[i]), "—", "—"])
            continue
        aucs = [fmt(paired.score_predictions(p, metric)) for p in (first, second)]
        ci = (
            f"{fmt(result.per_seed_lo[i])} to {fmt(result.per_seed_hi[i])}"
            if np.isfinite(result.per_seed_lo[i])
            else "—"
        )
        rows.append(
            [pair, str(seed), *aucs, fmt(result.per_seed[i]), ci, _delong_cell(first, second, metric)]
        )
    combined = [pair, "mean", "", "", fmt(result.mean), f"{fmt(result.lo)} to {fmt(result.hi)}", ""]
    rows.append([f"**{cell}**" if cell else "" for cell in combined])
    return rows


def calibration_table(summaries: list[ModelSummary]) -> Table | None:
    names = [n for n in ("brier", "ece", "log_loss") if any(n in s.metrics for s in summaries)]
    if not names:
        return None
    best = compare.best_model_per_metric(summaries)
    rows = [
        [s.model, *(_metric_cell(s.metrics.get(n), best.get(n) == s.model) for n in names)] for s in summaries
    ]
    return Table(["model", *(column_header(n) for n in names)], rows)


def failure_blocks(records: list[RunRecord]) -> list[Block]:
    failed = [r for r in records if not r.ok]
    if not failed:
        return []
    items = [
        f"{r.model} seed {'?' if r.seed is None else r.seed}: {code_span(r.error or 'no error recorded')} "
        f"(run folder {code_span(r.run_dir)})"
        for r in failed
    ]
    return [Heading("Failed runs", 3), Bullets(items)]


def task_sentence(records: list[RunRecord]) -> str:
    """What the runs predicted, in words (from the recorded task), and how the families train on it."""
    first = next((r for r in records if r.ok), records[0])
    task = first.task
    config = {k: v for k, v in (task.get("config") or {}).items() if k != "name" and v is not None}
    shown = f" ({', '.join(f'{k}={v}' for k, v in config.items())})" if config else ""
    sentence = f"Task `{task['name']}`{shown}: {task['rows']}."
    draws = sorted({_rows_per_sequence(r) for r in records if r.ok and r.family == "neural"} - {None})
    if task.get("neural_rows"):  # the task decides how the neural family reads its rows
        sentence += (
            f" Both families see the same rows; the neural models train on {task['neural_rows']} per "
            "epoch, the tabular models fit on every row."
        )
    elif draws:
        sentence += (
            " Both families see the same rows; the neural models draw "
            f"{' or '.join(map(str, draws))} row(s) of each sequence per epoch (model.rows_per_sequence), "
            "the tabular models fit on every row."
        )
    return sentence


def _rows_per_sequence(record: RunRecord) -> int | None:
    model = (record.raw.get("config") or {}).get("model") or {}
    return model.get("rows_per_sequence") if isinstance(model, dict) else None


def grouping_note(records: list[RunRecord]) -> list[Block]:
    """Why runs of several splits were pooled by their dataset's name, where their records cannot say more."""
    if not any(r.grouped_by_name for r in records):
        return []
    return [
        Paragraph(
            "**Grouped by name:** these records predate the fingerprint of the data without its split, so "
            "their splits are pooled by the dataset's name and protocol; runs of other data under the same "
            "name (another simulator seed, an edited file) would be pooled with them. Rerun them to group by "
            "data."
        )
    ]


@dataclass(frozen=True)
class DatasetSection:
    """One dataset's blocks, and the sentence that answers the question for it (the report's first screen)."""

    blocks: list[Block]
    answer: str
    page: str  # a file-name-safe name of the dataset and task, for its own HTML page


def answer_sentence(
    name: str,
    summaries: list[ModelSummary],
    comparisons: list[Comparison],
    headline: Metric,
    reference: str | None,
) -> str:
    """ "On kddcup2015, GRU ranks first by AUROC (0.870). Against XGBoost: no model is better; ..."."""
    ranked = compare.rank_summaries(summaries, headline)
    best = ranked[0] if ranked and headline.name in ranked[0].metrics else None
    text = f"On **{name}**"
    if best is None:
        return text + ", no model has a test score."
    mean = best.metrics[headline.name].mean
    text += f", {compare.display_name(best.model)} ranks first by {headline.label} ({mean:.3f})."
    against = [c for c in comparisons if c.reference == reference and c.result is not None]
    if not against or reference is None:
        return text
    better, tied, worse, too_few = [], [], [], []
    for c in against:
        gain = (-1.0 if c.lower_is_better else 1.0) * c.result.mean
        name_margin = f"{compare.display_name(c.model)} ({gain:+.3f})"
        if c.decision is Decision.too_few:
            too_few.append(f"{compare.display_name(c.model)} ({gain:+.3f}, cannot tell < {c.resolution:.3f})")
            continue
        (better if c.significant and gain > 0 else worse if c.significant else tied).append(name_margin)
    parts = []
    if better:
        parts.append(f"better: {', '.join(better)}")
    if tied:
        parts.append(f"no significant difference: {', '.join(tied)}")
    if too_few:
        parts.append(f"too few {paired.DRAWN[against[0].over]} for a verdict: {', '.join(too_few)}")
    if worse:
        parts.append(f"worse: {', '.join(worse)}")
    return text + f" Against {compare.display_name(reference)}: " + "; ".join(parts) + "."


def failed_section(records: list[RunRecord], title: str, file_prefix: str) -> DatasetSection:
    """A section where no run succeeded: what was run and why each run failed; nothing to rank."""
    blocks: list[Block] = [
        Heading(title, 2),
        Paragraph(f"{count(len(records), 'run')}, none ok: nothing to rank or compare."),
        *reproduce_blocks(records),
        *failure_blocks(records),
    ]
    first = records[0]
    return DatasetSection(blocks, f"On **{first.dataset_name}**, no model has a test score.", file_prefix)


def dataset_section(records: list[RunRecord], out_dir: Path, options: ReportOptions) -> DatasetSection:
    """All blocks for the runs of one dataset (one fingerprint) and one task."""
    first = next((r for r in records if r.ok), records[0])
    task_name = first.task["name"]
    titled = first.task["named_in_titles"]
    file_prefix = slug(f"{first.dataset_name}-{(first.fingerprint or '')[:8]}-{task_name}")
    n_splits = len({r.fingerprint for r in records if r.fingerprint})
    data = f", data {code_span(first.data_fingerprint[:12])}" if first.data_fingerprint else ""
    title = (
        f"Dataset: {first.dataset_name}"
        + (
            f" ({code_span(first.fingerprint[:12])})"
            if first.fingerprint and first.protocol == "fixed"
            else f"{data} (protocol {first.protocol}, {n_splits} splits)"
            if first.fingerprint
            else ""
        )
        + (f", task {task_name}" if titled else "")
    )
    headline = section_headline(records)
    if headline is None:
        return failed_section(records, title, file_prefix)
    kind = section_kind(records)
    loaded, unreadable = readable_predictions(records)
    predictions = compare.predictions_by_model_seed(records, loaded)
    models = compare.model_names(records)
    summaries = [compare.summarize_model(records, model) for model in models]
    metrics = compare.metric_names(records)
    oracle = oracle_value(first.dataset, headline.name)
    reference, why = compare.resolve_reference(records, options.reference)
    pairs = compare.comparison_pairs(models, reference)
    groups = len({g for r in records for g in r.metrics_by_group})
    print(
        f"behave-report: {first.dataset_name} ({task_name}): {len(pairs)} paired comparison(s)"
        + (f" overall and at {groups} {first.task.get('group_label') or 'groups'}" if groups else "")
        + f", {options.n_boot} bootstrap draws each ...",
        file=sys.stderr,
        flush=True,
    )
    over_runs = first.protocol != "fixed"  # each seed its own split: the unit is the run, not the test row
    over_unit = "splits" if over_runs else "seeds"
    compared = paired.comparison_metric(headline, kind)
    comparisons = multiplicity.adjust(
        [
            paired.compare_runs(records, model, reference, headline, kind)
            if over_runs
            else paired.compare_models(
                predictions, model, reference, options.n_boot, options.seed, headline, kind
            )
            for model, reference in pairs
        ],
        options.correction,
    )
    comparisons = paired.with_rope(comparisons, rope_for(compared, headline, options.rope))
    n_tests = sum(c.p_adjusted is not None for c in comparisons)
    n_ok = sum(r.ok for r in records)
    blocks: list[Block] = [
        Heading(title, 2),
        Paragraph(
            f"{count(len(records), 'run')} ({n_ok} ok, {len(records) - n_ok} failed) of {', '.join(models)}. "
            + task_sentence(records)
        ),
        *grouping_note(records),
        *selection_blocks(records),
        *data_blocks(records, is_regression(headline)),
        *reproduce_blocks(records),
        Heading("Results on the test split", 3),
        Paragraph(
            "Mean ± std over seeds [95% t-interval over seeds]; best per column in bold "
            "(↑ higher is better, ↓ lower is better). Costs are means over successful runs."
            + (
                f" The table scores all test rows together (every {first.task['group_label']}); the "
                "section below breaks them down."
                if first.task.get("group_label")
                else ""
            )
        ),
        results_table(summaries, metrics, oracle, headline),
    ]
    notes = seed_notes(records, summaries)
    if notes:
        blocks.append(Bullets(notes))
    blocks += [
        Heading(f"Paired comparisons (reference: {reference or options.reference})", 3),
        Paragraph(
            f"Reference: {reference or 'none'} ({why}). "
            + (
                f"Protocol {first.protocol}: each seed has its own split, so the unit is the run. "
                f"{compared.label} differences (model − reference) of the runs on the same split"
                + (", negative is better" if compared.lower_is_better else "")
                + "; the mean over splits with a 95% CI and p-value from the corrected resampled t-test "
                "(Nadeau & Bengio 2003: the variance grows by n_test / n_train because training sets of "
                "different splits overlap). DeLong's p compares the two models within each split."
                if over_runs
                else f"{compared.label} differences (model − reference) on the same test rows"
                + (", negative is better" if compared.lower_is_better else "")
                + f"; 95% CIs from {options.n_boot} paired bootstrap draws "
                "of test sequences, all rows of a drawn sequence together (both models scored on each "
                "resample). The mean row averages the per-seed differences within each draw, seeds paired "
                "by seed number."
            )
            + (
                f" A difference is called significant when its CI excludes 0 and its p-value, adjusted "
                f"by {multiplicity.LABELS[Correction(options.correction)]}'s method over the {n_tests} "
                "comparisons of this section, stays below 0.05."
                if n_tests > 1
                else ""
            )
            + rule_sentence(comparisons[0].rope if comparisons else None, paired.DRAWN[over_unit])
        ),
        *comparison_blocks(comparisons, predictions, compared),
    ]
    origins_figure = out_dir / "figures" / f"{file_prefix}_origins.png"
    blocks += origin_blocks(
        records, predictions, compared, pairs, options.n_boot, options.seed, origins_figure, oracle_value
    )
    if not over_runs:
        blocks += per_row_blocks(
            predictions, paired.paired_metrics(headline, kind), pairs, options.n_boot, options.seed,
            options.correction, rope_for(compared, headline, options.rope),
        )  # fmt: skip
    blocks += group_blocks(
        records, predictions, headline, pairs, options.n_boot, options.seed, out_dir / "figures", file_prefix,
        options.correction, kind, rope=rope_for(compared, headline, options.rope),
    )  # fmt: skip
    calibration = calibration_table(summaries)
    if calibration is not None:
        blocks += [Heading("Calibration", 3), calibration]
    blocks += cost_blocks(summaries, headline.name, out_dir / "figures", file_prefix)
    blocks += pretraining_blocks(records)
    blocks += tuning_blocks(records)
    blocks += explanation_blocks(records, out_dir / "figures", file_prefix)
    blocks += embedding_blocks(records, headline.name, out_dir / "figures", file_prefix)
    blocks += dataset_figures(records, predictions, headline, oracle, out_dir / "figures", file_prefix)
    blocks += item_map_blocks(records, out_dir / "figures", file_prefix)
    blocks += failure_blocks(records)
    if unreadable:
        blocks += [
            Heading("Unreadable prediction files", 3),
            Paragraph("These runs are in the tables above but not in the comparisons and figures:"),
            Bullets([code_span(problem) for problem in unreadable]),
        ]
    name = first.dataset_name + (f" ({task_name})" if titled else "")
    if over_runs and first.data_fingerprint:  # two draws of a simulator may share a name: say which data
        name += f" (data {first.data_fingerprint[:8]})"
    answer = answer_sentence(name, summaries, comparisons, headline, reference)
    return DatasetSection(blocks, answer, file_prefix)


def oracle_value(dataset: dict, metric: str) -> float | None:
    """The Bayes-optimal test value of `metric` the run recorded: a per-event task's oracle scores, or the
    sequence task's oracle AUROC."""
    value = (dataset.get("oracle_test") or {}).get(metric)
    if value is None and metric == "auroc":
        value = dataset.get("oracle_test_auroc")
    return value
