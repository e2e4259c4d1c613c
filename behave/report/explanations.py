"""The report's "why" block: what each model's attributions rest on, from `behave-explain` summaries.

Tree models: the share of |SHAP| per kind of feature (counts, recency, bigrams, static...). Neural models:
the share of |integrated gradients| by position from the end of the history, and the tokens that carry it.
Only runs explained with `behave-explain run_dir=...` appear; the first seed of each model is shown.
"""

from __future__ import annotations

import json
from pathlib import Path

from behave.report.compare import display_name
from behave.report.document import Block, Figure, Heading, Paragraph, Table, code_span
from behave.report.plots import plot_attribution_strips
from behave.report.records import RunRecord

SUMMARY = ("explanations", "summary.json")


def _summaries(records: list[RunRecord]) -> dict[str, tuple[RunRecord, dict]]:
    found: dict[str, tuple[RunRecord, dict]] = {}
    for record in sorted(
        (r for r in records if r.ok), key=lambda r: (r.model, r.seed if r.seed is not None else 0)
    ):
        path = record.run_dir.joinpath(*SUMMARY)
        if record.model not in found and path.exists():
            found[record.model] = (record, json.loads(path.read_text()))
    return found


def explanation_blocks(records: list[RunRecord], fig_dir: Path, prefix: str) -> list[Block]:
    found = _summaries(records)
    if not found:
        return []
    blocks: list[Block] = [
        Heading("Why the models decide", 3),
        Paragraph(
            "Attributions on the test rows of one seed per model (`behave-explain`): for tree models the "
            "libraries' exact SHAP values, summed by kind of feature; for neural models integrated gradients "
            "per event from a padding baseline, by position from the end of each history (1 = the last "
            "event) and by token."
        ),
    ]
    features = {m: s for m, (_, s) in found.items() if s.get("kind") == "features"}
    events = {m: s for m, (_, s) in found.items() if s.get("kind") == "events"}
    if features:
        kinds = sorted({k for s in features.values() for k in s["share_by_kind"]})
        rows = [
            [kind, *[f"{s['share_by_kind'].get(kind, 0.0):.0%}" for s in features.values()]] for kind in kinds
        ]
        rows.sort(key=lambda row: -max(float(cell.rstrip("%")) for cell in row[1:]))
        blocks.append(
            Table(["feature kind", *[f"{display_name(m)}: share of |SHAP|" for m in features]], rows)
        )
        for model, summary in features.items():
            if summary.get("planted"):
                blocks += tree_planted_blocks(model, summary["planted"])
    if events:
        positions = list(next(iter(events.values()))["share_by_position"])
        columns = [(m, "share_by_position", "share of |IG|") for m in events]
        columns += [
            (m, "attention_by_position", "attention weight")
            for m, s in events.items()
            if "attention_by_position" in s
        ]
        rows = [
            [position, *[f"{events[m][key].get(position, 0.0):.0%}" for m, key, _ in columns]]
            for position in positions
        ]
        blocks.append(
            Table(
                ["position from the end", *[f"{display_name(m)}: {label}" for m, _, label in columns]], rows
            )
        )
        for model, summary in events.items():
            tokens = [
                [code_span(str(token)), f"{share:.1%}", f"{mean:+.3f}"]
                for token, share, mean in summary.get("top_tokens", [])[:10]
            ]
            if tokens:
                blocks.append(Paragraph(f"Tokens {display_name(model)} leans on most:"))
                blocks.append(Table(["token", "share of |IG|", "mean attribution per event"], tokens))
            bigrams = [
                [code_span(str(pair)), f"{share:.1%}", f"{mean:+.3f}"]
                for pair, share, mean in summary.get("top_bigrams", [])[:8]
            ]
            if bigrams:
                blocks.append(
                    Paragraph(f"Token pairs (previous -> this event) {display_name(model)} leans on most:")
                )
                blocks.append(Table(["previous -> this token", "share of |IG|", "mean attribution"], bigrams))
            planted = summary.get("planted")
            if planted:
                blocks += planted_blocks(model, planted)
            if summary.get("examples"):
                path = plot_attribution_strips(
                    summary["examples"],
                    f"{display_name(model)}: integrated gradients per event",
                    fig_dir / f"{prefix}_attribution_strips_{model}.png",
                )
                blocks.append(
                    Figure(
                        path,
                        f"Three test histories of {display_name(model)} as strips of events coloured by "
                        "attribution (red raises the score, blue lowers it): the surest true positive, the "
                        "positive it scored lowest, and the surest negative.",
                    )
                )
    return blocks


def planted_blocks(model: str, planted: dict) -> list[Block]:
    """Against the simulator's truth: attribution on the events behind each planted effect vs elsewhere."""
    rows = [
        [
            effect,
            str(score["rows"]),
            f"{score['mean_abs_on_its_events']:.3f}",
            f"{score['mean_abs_elsewhere']:.3f}",
            f"{score['share_of_rows_higher']:.0%}",
            "< 0.001" if score["wilcoxon_p"] < 0.001 else f"{score['wilcoxon_p']:.3f}",
            f"{score['mean_signed_on_its_events']:+.3f} ({score['label_model_weight']:+.1f})",
        ]
        for effect, score in planted.items()
    ]
    return [
        Paragraph(
            f"Checked against what the simulator planted: for each order effect, over the explained rows "
            f"where it fired, {display_name(model)}'s mean |attribution| on the events that triggered it and "
            "on the row's other events, the share of rows where its events get more (Wilcoxon signed-rank "
            "p), and the mean signed attribution on its events beside the effect's weight in the label model."
        ),
        Table(
            [
                "planted effect",
                "rows",
                "|IG| on its events",
                "|IG| elsewhere",
                "rows higher",
                "p",
                "signed on its events (weight)",
            ],
            rows,
        ),  # fmt: skip
    ]


def tree_planted_blocks(model: str, planted: dict) -> list[Block]:
    """Which kinds of features move a tree model's margin with each planted effect, and by how much."""
    rows = []
    for effect, score in planted.items():
        top = list(score["by_kind"].items())[:2]
        carried = "; ".join(f"{kind} {shift:+.2f}" for kind, shift in top)
        rows.append([effect, str(score["rows"]), f"{score['margin_shift']:+.2f}", carried])
    return [
        Paragraph(
            f"Against the simulator's truth: how far {display_name(model)}'s margin (log-odds) moves between "
            "rows where each planted effect fired and rows where it did not, and the kinds of features that "
            "carry the move. A shift near 0 is an effect the features miss (compare its sign and size with "
            "the neural models' table)."
        ),
        Table(["planted effect", "rows where it fired", "margin shift", "carried by (top two kinds)"], rows),
    ]
