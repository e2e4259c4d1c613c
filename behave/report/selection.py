"""The report's selection note: how each model chose its epochs or boosting rounds (and the value a search
optimised), from `extra.selection` of its records, and plainly where models chose differently."""

from __future__ import annotations

from behave.report.document import Block, Paragraph
from behave.report.records import RunRecord


def selection_of(record: RunRecord) -> str:
    """'inner_cv (5 folds)' or 'holdout' (records before selection existed selected on the holdout)."""
    chosen = (record.raw.get("extra") or {}).get("selection") or {}
    if chosen.get("kind") == "inner_cv":
        return f"inner_cv ({chosen.get('folds')} folds)"
    return "holdout"


def selection_blocks(records: list[RunRecord]) -> list[Block]:
    """Nothing when every run selected on the validation part (the default); else one paragraph saying
    what each model did, and whether the models differ."""
    by_model: dict[str, set[str]] = {}
    for record in records:
        if record.ok:
            by_model.setdefault(record.model, set()).add(selection_of(record))
    kinds = set().union(*by_model.values()) if by_model else set()
    if kinds <= {"holdout"}:
        return []
    described = "; ".join(f"{model}: {', '.join(sorted(found))}" for model, found in by_model.items())
    text = (
        "**Selection:** epochs and boosting rounds were chosen on inner folds of train+val (the validation "
        "value is the folds' mean; each model then refit on all of train+val with that count) or on the "
        f"validation part (holdout): {described}."
    )
    if len(kinds) > 1:
        text += (
            " The models did not all choose the same way (selection=auto keeps the holdout for models "
            "inner folds cannot fit, and above its size): their comparison includes that difference."
        )
    return [Paragraph(text)]
