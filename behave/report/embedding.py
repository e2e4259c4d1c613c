"""The report's section for runs that differ in the token embedding (experiment=embedding): the headline
metric and fit time against the embedding size, one-hot and the size rules marked, and whether each rule
does as well as the best fixed size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from behave.report import plots
from behave.report.document import Block, Bullets, Figure, Heading, Paragraph, Table
from behave.report.records import RunRecord
from behave.report.stats import seed_mean_ci
from behave.tasks.metric_registry import metric_range


def embedding_setting(record: RunRecord):
    """The run's `tokens.embedding_dim` as configured (an int, a rule name, or onehot), or None."""
    config = record.raw.get("config") or {}
    tokens = (((config.get("model") or {}).get("module") or {}).get("encoder") or {}).get("tokens") or {}
    return tokens.get("embedding_dim")


def embedding_table(records: list[RunRecord], metric: str) -> pd.DataFrame:
    """One row per configured setting: kind (fixed, rule, onehot), resolved size, metric mean and CI over
    seeds, mean fit seconds, number of seeds."""
    rows = []
    for record in records:
        setting = embedding_setting(record)
        if (
            record.ok
            and setting is not None
            and metric in record.test_metrics
            and record.raw.get("embedding_dim")
        ):
            rows.append((str(setting), int(record.raw["embedding_dim"]), record.test_metrics[metric],
                         record.number("fit_seconds")))  # fmt: skip
    frame = pd.DataFrame(rows, columns=["setting", "size", "value", "fit_seconds"])
    summary = []
    low, high = metric_range(metric)
    for setting, group in frame.groupby("setting", sort=False):
        mean, _, lo, hi = seed_mean_ci(group["value"].to_numpy())
        kind = "onehot" if setting == "onehot" else ("fixed" if setting.isdigit() else "rule")
        summary.append((setting, kind, int(group["size"].iloc[0]), mean, max(lo, low), min(hi, high),
                        float(group["fit_seconds"].mean()), len(group)))  # fmt: skip
    columns = ["setting", "kind", "size", "mean", "lo", "hi", "fit_seconds", "n"]
    return pd.DataFrame(summary, columns=columns).sort_values(["kind", "size"], kind="stable")


def rule_verdicts(table: pd.DataFrame, metric: str) -> list[str]:
    """For each rule and one-hot: within the best fixed size's interval over seeds, or not."""
    fixed = table[table["kind"] == "fixed"]
    if fixed.empty or not np.isfinite(fixed["mean"]).any():
        return []
    best = fixed.loc[fixed["mean"].idxmax()]
    interval = f"{best['lo']:.3f} to {best['hi']:.3f}" if np.isfinite(best["lo"]) else "no interval: one seed"
    lines = [
        f"Best fixed size: {int(best['size'])}, {metric} {best['mean']:.3f} (95% over seeds: {interval})."
    ]
    for _, other in table[table["kind"] != "fixed"].iterrows():
        inside = np.isfinite(best["lo"]) and best["lo"] <= other["mean"] <= best["hi"]
        where = "within" if inside else ("above" if other["mean"] > best["hi"] else "below")
        what = "one-hot tokens" if other["kind"] == "onehot" else f"rule `{other['setting']}`"
        lines.append(
            f"{what} (size {int(other['size'])}): {other['mean']:.3f}, {where} the best fixed size's interval"
            + ("; as good as tuning the size by hand." if inside else ".")
        )
    return lines


def embedding_blocks(records: list[RunRecord], metric: str, fig_dir: Path, prefix: str) -> list[Block]:
    table = embedding_table(records, metric)
    if len(table) < 2:
        return []
    path = plots.plot_embedding_sizes(table, metric, fig_dir / f"{prefix}_{metric}_by_embedding_size.png")
    rows = [
        [r.setting, r.kind, str(r.size), f"{r.mean:.3f}",
         f"{r.lo:.3f} to {r.hi:.3f}" if np.isfinite(r.lo) else "n/a", f"{r.fit_seconds:.1f}", str(r.n)]
        for r in table.itertuples()
    ]  # fmt: skip
    return [
        Heading("Token embedding size", 3),
        Paragraph(
            f"Test {metric} and fit time of the same model with each token encoding: fixed embedding sizes, "
            "the size rules (resolved on this vocabulary) and fixed one-hot vectors."
        ),
        Figure(path, f"Test {metric} (95% interval over seeds) and fit seconds against the embedding size."),
        Table(["setting", "kind", "size", metric, "95% interval", "fit s", "seeds"], rows),
        Bullets(rule_verdicts(table, metric)),
    ]
