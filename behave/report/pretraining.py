"""The report's pretraining block: where each pretrained model's encoder came from, and what it cost.

Models of the `pretrained` family start from an encoder fitted without labels
(behave/training/lightning/pretrain.py); their `fit s` covers fine-tuning (or encoding and the trees), not
the pretraining, which is listed here.
"""

from __future__ import annotations

from pathlib import Path

from behave.report.document import Block, Heading, Paragraph, Table, code_span
from behave.report.records import RunRecord


def pretraining_blocks(records: list[RunRecord]) -> list[Block]:
    pretrained = [r for r in records if r.ok and (r.raw.get("extra") or {}).get("encoder_init")]
    if not pretrained:
        return []
    rows, encoders, parts = [], set(), set()
    for record in sorted(pretrained, key=lambda r: (r.model, r.seed)):
        init = record.raw["extra"]["encoder_init"]
        encoders.add(init.get("from"))
        parts.add(tuple(init.get("pretrain_parts", ["train"])))
        loss = init.get("pretrain_val_loss")
        rows.append(
            [
                record.model,
                str(record.seed),
                code_span(Path(str(init.get("from"))).name),
                str(init.get("pretrain_epochs", "—")),
                f"{init['pretrain_seconds']:.3g}" if init.get("pretrain_seconds") is not None else "—",
                f"{loss:.4f}" if loss is not None else "—",
            ]
        )
    read = ", ".join(sorted({part for group in parts for part in group}, key=["train", "val", "test"].index))
    where = (
        "the training sequences only"
        if read == "train"
        else f"the events of the {read} sequences (no label; models that see test events before their test: "
        "not a like-for-like comparison with the other families)"
    )
    return [
        Heading("Pretraining", 3),
        Paragraph(
            f"{len(pretrained)} runs started from {len(encoders)} encoder(s) pretrained without labels on "
            f"{where} (a tenth of them held out to pick the epoch by the contrastive "
            "loss). Pretraining time is not in the fit seconds above."
        ),
        Table(
            ["model", "seed", "encoder", "pretrain epochs", "pretrain s", "held-out contrastive loss"], rows
        ),
    ]
