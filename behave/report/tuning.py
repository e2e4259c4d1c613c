"""The report's tuning block: for runs of a tuned comparison (`behave-tune`), each model's search budget,
its search space and the values the search chose on the validation part."""

from __future__ import annotations

import json
from pathlib import Path

from behave.report.document import Block, Heading, Paragraph, Table, code_span
from behave.report.records import RunRecord


def tuning_blocks(records: list[RunRecord]) -> list[Block]:
    paths = {
        str((r.raw.get("config") or {}).get("tuning"))
        for r in records
        if (r.raw.get("config") or {}).get("tuning")
    }
    if not paths:
        return []
    blocks: list[Block] = [Heading("Tuning", 3)]
    for path in sorted(paths):
        file = Path(path)
        if not file.exists():
            blocks.append(Paragraph(f"The runs name a tuning record that is gone: {code_span(path)}."))
            continue
        tuning = json.loads(file.read_text())
        models = tuning.get("models", {})
        budgets = sorted({entry.get("trials") for entry in models.values()})
        blocks.append(
            Paragraph(
                f"Each model was tuned by an Optuna search of {', '.join(map(str, budgets))} trials "
                + ("(the same budget for every model)" if len(budgets) == 1 else "(budgets differ)")
                + " that chose on the validation part only; the runs above use each search's best values "
                f"over the seeds. Record: {code_span(path)}."
            )
        )
        rows = []
        for model, entry in models.items():
            for name, space in entry.get("search_space", {}).items():
                chosen = entry.get("best", {}).get(name, "—")
                rows.append([model, code_span(name), code_span(space), code_span(str(chosen))])
            rows.append(
                [model, "**best validation score**", "", f"{entry.get('best_val', float('nan')):.4f}"]
            )
        blocks.append(Table(["model", "parameter", "search space", "chosen"], rows))
    return blocks
