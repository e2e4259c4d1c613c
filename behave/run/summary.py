"""What a user reads when a run or a sweep ends: the result in a few lines, failures named with their error.

`run_summary` ends every `behave-train` run. `SweepSummary` is a Hydra callback (conf/hydra/default.yaml)
that ends every multirun with a table of its jobs and their failures, each error once with how many jobs
met it, read from their result.json files, so a sweep with a failed job never ends as if all went well.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from behave.run.record import UnreadableResult, find_result_files, read_result


def interactive() -> bool:
    """A single run in a terminal: Lightning's progress bar reads well there, and nowhere else."""
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    return sys.stdout.isatty() and not multirun


def run_summary(result: dict) -> str:
    """A few lines: model, data and task, the test metrics with the best validation value, time, folder."""
    model, seed = result["model"]["name"], result.get("seed")
    data = (result.get("dataset") or {}).get("name", "?")
    task = (result.get("task") or {}).get("name", "sequence")
    head = f"{model} on {data} (task {task}, seed {seed})"
    if result["status"] != "ok":
        folder = result["run_dir"]
        return f"{head}: FAILED: {result.get('error')}\n  run folder {folder} (traceback in error.log)"
    metrics = result.get("test_metrics") or {}
    headline = (result.get("task") or {}).get("headline")
    shown = [headline] if headline in metrics else []
    shown += [name for name in metrics if name not in shown][:4]
    values = "  ".join(f"{name} {metrics[name]:.3f}" for name in shown if metrics[name] is not None)
    best = result.get("best_val") or {}
    best_text = f"  (best {best['metric']} {best['value']:.3f})" if best.get("value") is not None else ""
    selection = (result.get("extra") or {}).get("selection") or {}
    if best_text and selection.get("kind") == "inner_cv":  # selected on inner folds, refit on train+val
        count = (
            f" at {selection['chosen_count']} {selection['unit']}" if selection.get("chosen_count") else ""
        )
        best_text = f"{best_text[:-1]}: mean of {selection['folds']} inner folds{count})"
    return (
        f"{head}: ok\n  test {values}{best_text}\n"
        f"  fit {result.get('fit_seconds', 0):.1f} s, run folder {result['run_dir']}"
    )


def sweep_rows(sweep_dir: Path) -> list[dict]:
    """One row per job with a readable result.json below `sweep_dir`, in job folder order."""
    rows = []
    for path in find_result_files([Path(sweep_dir)]):
        try:
            rows.append(read_result(path))
        except UnreadableResult:
            rows.append({"status": "unreadable", "run_dir": str(path.parent), "model": {"name": "?"}})
    return rows


def sweep_summary(sweep_dir: Path) -> str:
    """The jobs of a sweep as a table, then the failed jobs' errors (`failures`)."""
    rows = sweep_rows(sweep_dir)
    if not rows:
        return f"sweep {sweep_dir}: no job wrote a result"
    lines = [f"{'model':<14} {'seed':>4}  {'task':<10} {'status':<8} {'test':>18} {'fit s':>8}"]
    for row in rows:
        metrics = row.get("test_metrics") or {}
        headline = (row.get("task") or {}).get("headline")
        value = metrics.get(headline) if headline else None
        test = f"{headline} {value:.3f}" if value is not None else "—"
        fit = f"{row['fit_seconds']:.1f}" if row.get("fit_seconds") is not None else "—"
        task = (row.get("task") or {}).get("name", "—")
        seed = row.get("seed", "—")
        lines.append(
            f"{row['model']['name']:<14} {seed:>4}  {task:<10} {row['status']:<8} {test:>18} {fit:>8}"
        )
    failed = [row for row in rows if row["status"] != "ok"]
    verdict = f"{len(rows)} jobs, all ok." if not failed else failures(failed, len(rows))
    return "\n".join([*lines, verdict, f"next: behave-report {sweep_dir}"])


def failures(failed: list[dict], n_jobs: int) -> str:
    """The failed jobs grouped by their error, each error told once with the first job that met it: ten
    jobs that stop on one bad input make one line, not ten copies of it."""
    groups: dict[str, list[dict]] = {}
    for row in failed:
        error = row.get("error") or row["status"]
        # A job's own folder in its message (a file path) does not make its error another one.
        groups.setdefault(error.replace(row["run_dir"], "<run folder>"), []).append(row)
    head = f"{len(failed)} of {n_jobs} jobs FAILED"
    told = [(rows, rows[0].get("error") or rows[0]["status"]) for rows in groups.values()]
    if len(told) == 1:
        rows, error = told[0]
        return f"{head}: {error}, {example(rows)}"
    reasons = [
        f"  {len(rows)} {'job' if len(rows) == 1 else 'jobs'}: {error}, {example(rows)}"
        for rows, error in told
    ]
    return "\n".join([f"{head}, for {len(told)} reasons:", *reasons])


def example(rows: list[dict]) -> str:
    job = Path(rows[0]["run_dir"]).name
    return f"job {job}" if len(rows) == 1 else f"e.g. job {job}"


class SweepSummary(Callback):
    """Prints `sweep_summary` when a multirun ends (every launcher calls it, the parallel one included)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        print(sweep_summary(Path(config.hydra.sweep.dir)), flush=True)
