"""The data card: what a reader needs to know about a prepared dataset before trusting any number on it."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from behave.data.event_log import EventLog
from behave.data.spec import DatasetSpec
from behave.data.split import PARTS, Split
from behave.data.vocabulary import UNK


def build_card(spec: DatasetSpec, log_: EventLog, split: Split, fitted, views, drops, key: str) -> dict:
    lengths = log_.lengths
    token_ids = views.sequences.tokens
    event_part = np.empty(log_.n_events, dtype=object)
    for name in PARTS:
        event_part[log_.event_positions(split.part(name))] = name
    card = {
        "dataset": spec.name,
        "fingerprint": key,
        "task": spec.label.task,
        "label": spec.label.column,
        "class_names": list(log_.class_names),
        "n_sequences": log_.n_sequences,
        "n_events": log_.n_events,
        "dropped": {"sequences_without_label": drops.sequences_without_label,
                    "labels_without_events": drops.labels_without_events},
        "split": {"method": spec.split.method, "seed": spec.split.seed},
        "parts": {},
        "length_percentiles": {f"p{q}": float(np.percentile(lengths, q)) for q in (5, 25, 50, 75, 95, 99, 100)},
        "max_len": spec.sequences.max_len,
        "truncated_share": float(np.mean(lengths > spec.sequences.max_len)),
        "vocab_size": fitted.vocabulary.size,
        "token_fields": list(spec.tokens.fields),
        "n_numeric_inputs": views.sequences.numeric.shape[1],
        "n_static_inputs": views.sequences.static.shape[1],
        "n_features": views.features.shape[1],
        "oracle_test_auroc": None,
    }
    for name in PARTS:
        rows = split.part(name)
        counts = np.bincount(log_.labels[rows], minlength=len(log_.class_names))
        card["parts"][name] = {
            "n_sequences": len(rows),
            "n_events": int(lengths[rows].sum()),
            "label_share": {c: round(float(n) / max(len(rows), 1), 4) for c, n in zip(log_.class_names, counts)},
            "unknown_token_rate": round(float(np.mean(token_ids[event_part == name] == UNK)), 4),
        }
    if "oracle_prob" in log_.extras and spec.label.task == "binary":
        test = split.test
        card["oracle_test_auroc"] = round(float(roc_auc_score(log_.labels[test], log_.extras["oracle_prob"].to_numpy()[test])), 4)
    return card


def format_card(card: dict) -> str:
    """A short human-readable rendering for the terminal."""
    lines = [
        f"dataset      {card['dataset']}  (fingerprint {card['fingerprint']}, task {card['task']}, label '{card['label']}')",
        f"sequences    {card['n_sequences']:,}   events {card['n_events']:,}   "
        f"dropped: {card['dropped']['sequences_without_label']} unlabelled sequences, "
        f"{card['dropped']['labels_without_events']} labels without events",
        "lengths      " + "  ".join(f"{k}={v:g}" for k, v in card["length_percentiles"].items())
        + f"   (max_len {card['max_len']}, {card['truncated_share']:.1%} truncated)",
        f"vocabulary   {card['vocab_size']} tokens from {card['token_fields']}",
        f"inputs       {card['n_numeric_inputs']} numeric per event, {card['n_static_inputs']} static, "
        f"{card['n_features']} tabular features",
    ]
    for name, part in card["parts"].items():
        shares = ", ".join(f"{c}: {s:.1%}" for c, s in part["label_share"].items())
        lines.append(f"{name:<12} {part['n_sequences']:>7,} sequences {part['n_events']:>10,} events   "
                     f"labels {shares}   unknown tokens {part['unknown_token_rate']:.2%}")
    if card.get("oracle_test_auroc") is not None:
        lines.append(f"oracle       Bayes-optimal test AUROC {card['oracle_test_auroc']:.4f} (simulator ceiling)")
    return "\n".join(lines)
