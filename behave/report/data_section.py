"""The report's data section: the data card of the runs, what each family sees, and the card's warnings."""

from __future__ import annotations

from behave.report.document import Block, Bullets, Heading, Paragraph, Table, code_span
from behave.report.records import RunRecord
from behave.tasks.metric_registry import metric


def _fmt_scalar(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _fmt_card_value(value: object) -> str:
    """Card values in one cell: dicts as `k: v` pairs, long lists shortened."""
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt_card_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        shown = ", ".join(_fmt_scalar(v) for v in value[:12])
        return shown + (f", ... ({len(value)} in all)" if len(value) > 12 else "")
    return _fmt_scalar(value)


CARD_FIELDS = (
    ("label", "label"),
    ("label_kind", "label kind"),
    ("class_names", "classes"),
    ("n_sequences", "sequences"),
    ("n_events", "events"),
    ("dropped", "dropped by validation"),
    ("split", "split"),
    ("length_percentiles", "sequence length percentiles"),
    ("max_len", "max_len"),
    ("truncated_share", "share truncated to max_len"),
    ("vocab_size", "vocabulary size"),
    ("token_fields", "token fields"),
    ("n_numeric_inputs", "numeric inputs per event"),
    ("n_static_inputs", "static inputs"),
    ("n_features", "tabular features"),
    ("oracle_test_auroc", "oracle test AUROC (Bayes-optimal)"),
)


# What the sequence pipeline built for classifying whole sequences: beside a regression task (whose rows,
# split and inputs the task card describes) these rows would describe the wrong question.
SEQUENCE_PIPELINE_FIELDS = frozenset(
    {"label", "label_kind", "class_names", "split", "max_len", "truncated_share", "vocab_size"}
    | {"token_fields", "n_numeric_inputs", "n_static_inputs", "n_features"}
)


# A task that does not read the sequence label (task=next: its classes are an event field's) records its own
# classes, tabular features and (no) sequence oracle; the card's describe the sequence label's question, so
# the record's values stand in for them, and the label's name and kind are left out.
TASK_RECORDED_FIELDS = frozenset({"class_names", "n_features", "oracle_test_auroc"})
SEQUENCE_LABEL_FIELDS = frozenset({"label", "label_kind"})


def data_blocks(records: list[RunRecord], regression: bool) -> list[Block]:
    """The data card of the first run that has one: a field table and a per-part table (a regression
    task's own parts and targets instead of the sequence pipeline's, `report.headline.is_regression`; a
    task that does not read the sequence label: its own parts, classes and label shares)."""
    first = next((r for r in records if r.ok), records[0])
    dataset = first.dataset
    card = next((r.dataset.get("card") for r in records if r.dataset.get("card")), None) or {}
    task_card = next((r.dataset.get("task_card") for r in records if r.dataset.get("task_card")), None) or {}
    source = card or dataset
    own_rows = not first.task.get("reads_label", True)
    hidden = (SEQUENCE_PIPELINE_FIELDS if regression else frozenset()) | (
        SEQUENCE_LABEL_FIELDS if own_rows else frozenset()
    )
    values = {
        key: (dataset if own_rows and key in TASK_RECORDED_FIELDS else source).get(key)
        for key, _ in CARD_FIELDS
    }
    rows = [
        [label, _fmt_card_value(values[key])]
        for key, label in CARD_FIELDS
        if values[key] not in (None, []) and key not in hidden
    ]
    if not card and dataset.get("split_sizes"):
        rows.append(["split sizes", _fmt_card_value(dataset["split_sizes"])])
    if not rows:
        return [Heading("Data", 3), Paragraph("No data description was recorded.")]
    blocks: list[Block] = [Heading("Data", 3), Table(["field", "value"], rows)]
    blocks += oracle_blocks(task_card.get("oracle"))
    parts = card.get("parts") or {}
    if regression:
        blocks += regression_part_blocks(task_card)
    elif own_rows:
        blocks += task_part_blocks(task_card)
    elif parts:
        part_rows = [
            [
                name,
                f"{part.get('n_sequences', 0):,}",
                f"{part.get('n_events', 0):,}",
                _fmt_card_value(part.get("label_share", {})),
                f"{part.get('unknown_token_rate', 0):.2%}",
            ]
            for name, part in parts.items()
        ]
        headers = ["part", "sequences", "events", "label share", "unknown-token rate"]
        blocks.append(Table(headers, part_rows))
    blocks += inputs_blocks(task_card.get("inputs") or card.get("inputs") or {})
    warnings = card.get("warnings") or []
    if warnings:
        blocks.append(Bullets([f"**Warning:** {code_span(w, 600)}" for w in warnings]))
    return blocks


# What the ceiling of a per-event task is shown by: a 0/1 outcome by AUROC, a next value by accuracy; both
# by log loss (what a probabilistic model can approach even where it cannot match the oracle's ranking).
ORACLE_SHOWN = (("auroc", "log_loss"), ("accuracy", "log_loss"))


def oracle_blocks(oracle: dict | None) -> list[Block]:
    """The source's Bayes-optimal scores on a per-event task's test rows (`tasks/next_oracle.py`), overall
    and per history length: the ceiling every model's scores sit under. Nothing when the source has none."""
    if not oracle:
        return []
    scores = oracle.get("metrics") or {}
    shown = next(names for names in ORACLE_SHOWN if names[0] in scores)
    values = ", ".join(f"{metric(name).label} {_fmt_oracle(scores.get(name))}" for name in shown)
    blocks: list[Block] = [
        Paragraph(
            f"**Ceiling:** the simulator's oracle (the distribution each event's "
            f"{code_span(oracle['target'])} was drawn from, given everything before it) on the "
            f"{oracle['n_rows']:,} test rows: "
            f"Bayes-optimal {values}."
        )
    ]
    groups = oracle.get("by_group") or []
    if groups:
        rows = [
            [g["group"], f"{g['n_rows']:,}", *[_fmt_oracle(g.get(name)) for name in shown]] for g in groups
        ]
        headers = ["history length", "test rows", *[f"oracle {metric(name).label}" for name in shown]]
        blocks.append(Table(headers, rows))
    return blocks


def _fmt_oracle(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def task_part_blocks(task_card: dict) -> list[Block]:
    """Rows and sequences per part of a task's own rows, and the share of each class when they have one."""
    parts = task_card.get("parts") or {}
    labelled = any("label_share" in part for part in parts.values())
    rows = [
        [name, f"{part.get('n_rows', 0):,}", f"{part.get('n_sequences', 0):,}"]
        + ([_fmt_card_value(part.get("label_share", {}))] if labelled else [])
        for name, part in parts.items()
    ]
    headers = ["part", "rows", "sequences", *(["class share"] if labelled else [])]
    return [Table(headers, rows)] if rows else []


def regression_part_blocks(task_card: dict) -> list[Block]:
    """Rows and the target's mean and spread per part, and the test rows whose entities training lacks."""
    parts = task_card.get("parts") or {}
    rows = []
    for name, part in parts.items():
        target = part.get("target") or {}
        counts = [f"{part.get('n_rows', 0):,}", f"{part.get('n_sequences', 0):,}"]
        rows.append([name, *counts, _fmt_scalar(target.get("mean")), _fmt_scalar(target.get("std"))])
    blocks: list[Block] = (
        [Table(["part", "rows", "sequences", "target mean", "target std"], rows)] if rows else []
    )
    unseen = task_card.get("test_rows_unseen_in_train")
    if unseen:
        test_rows = (parts.get("test") or {}).get("n_rows") or 0
        each = ", ".join(f"{name} {n:,}" for name, n in unseen.items() if name != "any")
        share = f" ({unseen['any'] / test_rows:.2%} of the test rows)" if test_rows else ""
        blocks.append(
            Paragraph(
                f"{unseen['any']:,} test rows{share} have an entity without training rows ({each}); models "
                "predict those from what they know (the global mean and the other side's bias)."
            )
        )
    return blocks


def inputs_blocks(inputs: dict) -> list[Block]:
    """What each model family sees of the log, and what only one of them sees."""
    if not inputs:
        return []
    if isinstance(inputs.get("neural"), list):  # a task's own description (e.g. rating: indices vs features)
        blocks: list[Block] = [
            Paragraph("What each family sees of every row:"),
            Table(
                ["family", "inputs"],
                [
                    ["neural", _fmt_card_value(inputs["neural"])],
                    ["tabular", _fmt_card_value(inputs["tabular"])],
                ],
            ),
            *[Paragraph(note) for note in inputs.get("notes") or []],
        ]
        if inputs.get("tabular_only"):
            blocks.append(
                Paragraph(f"**Only the tabular family sees** {_fmt_card_value(inputs['tabular_only'])}.")
            )
        return blocks
    neural, tabular = inputs.get("neural", {}), inputs.get("tabular", {})
    columns = (
        ("token_fields", "token_fields"),
        ("per_event_fields", "categorical_fields"),
        ("per_event_numeric", "numeric_fields"),
        ("static", "static"),
    )
    rows = [
        ["neural", *[_fmt_card_value(neural.get(key, [])) for key, _ in columns]],
        ["tabular", *[_fmt_card_value(tabular.get(key, [])) for _, key in columns]],
    ]
    blocks: list[Block] = [
        Paragraph("What each family sees of every row's events:"),
        Table(["family", "tokens from", "categorical fields", "numeric per event", "static"], rows),
    ]
    only = inputs.get("tabular_only") or []
    if only:
        blocks.append(Paragraph(f"**Only the tabular family sees** {_fmt_card_value(only)}."))
    return blocks
