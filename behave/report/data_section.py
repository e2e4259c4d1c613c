"""The report's data section: the data card of the runs, what each family sees, and the card's warnings."""

from __future__ import annotations

from behave.report.document import Block, Bullets, Heading, Paragraph, Table, code_span
from behave.report.records import RunRecord


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


def data_blocks(records: list[RunRecord]) -> list[Block]:
    """The data card of the first run that has one: a field table and a per-part table."""
    dataset = next((r.dataset for r in records if r.ok), records[0].dataset)
    card = next((r.dataset.get("card") for r in records if r.dataset.get("card")), None) or {}
    source = card or dataset
    rows = [
        [label, _fmt_card_value(source[key])] for key, label in CARD_FIELDS if source.get(key) is not None
    ]
    if not card and dataset.get("split_sizes"):
        rows.append(["split sizes", _fmt_card_value(dataset["split_sizes"])])
    if not rows:
        return [Heading("Data", 3), Paragraph("No data description was recorded.")]
    blocks: list[Block] = [Heading("Data", 3), Table(["field", "value"], rows)]
    parts = card.get("parts") or {}
    if parts:
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
    blocks += inputs_blocks(card.get("inputs") or {})
    warnings = card.get("warnings") or []
    if warnings:
        blocks.append(Bullets([f"**Warning:** {code_span(w, 600)}" for w in warnings]))
    return blocks


def inputs_blocks(inputs: dict) -> list[Block]:
    """What each model family sees of the log, and what only one of them sees."""
    if not inputs:
        return []
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
