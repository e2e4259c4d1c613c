"""The data card: what a reader needs to know about a prepared dataset before trusting any number on it."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2_contingency
from sklearn.metrics import roc_auc_score

from behave.data.event_log import EventLog
from behave.data.spec import DatasetSpec, LabelKind
from behave.data.split import PARTS, Split
from behave.data.transforms.sequences import SequenceStore
from behave.data.transforms.vocabulary import UNK


def family_inputs(spec: DatasetSpec, fitted) -> dict:
    """Which fields of the log each model family sees (the same events, through different views)."""
    schema = spec.schema
    token_fields = list(spec.tokens.fields)
    embedded = list(fitted.event_fields.fields)
    return {
        "neural": {
            "token_fields": token_fields,
            "per_event_fields": embedded,
            "per_event_numeric": list(fitted.scaler.columns_),
            "static": list(fitted.static.columns),
        },
        "tabular": {
            "categorical_fields": list(schema.categorical),
            "numeric_fields": list(schema.numeric),
            "token_fields": token_fields,
            "static": list(schema.static_categorical) + list(schema.static_numeric),
            "n_features": len(fitted.features.feature_names),
        },
        # Categorical fields the tree features count but the neural family sees neither in its tokens nor
        # as embedded fields (only when `sequences.embed_fields` leaves them out).
        "tabular_only": [f for f in schema.categorical if f not in token_fields and f not in embedded],
    }


# Below this p-value the label shares of the split parts differ by more than sampling noise explains.
DRIFT_P_VALUE = 0.01


def label_drift(counts: np.ndarray) -> float | None:
    """p-value of a chi-square test that the parts (rows of `counts`, parts x classes) share one label
    distribution; None when there is nothing to test (one class, or an empty part)."""
    table = counts[:, counts.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return None
    return float(chi2_contingency(table).pvalue)


def drift_warning(card: dict) -> str | None:
    """A sentence for the card and the report when the parts' label shares differ beyond noise."""
    p_value = card.get("label_drift_p")
    if p_value is None or p_value >= DRIFT_P_VALUE:
        return None
    shares = "; ".join(
        f"{part} {', '.join(f'{c} {v:.1%}' for c, v in values['label_share'].items())}"
        for part, values in card["parts"].items()
    )
    return (
        f"label shares differ between the split parts beyond sampling noise (chi-square p = {p_value:.2g}): "
        f"{shares}. Test scores then measure a shifted population; a {card['split']['method']} split of this "
        "log moves the label rate."
    )


# A part is small when one AUROC measured on it is uncertain by more than this (the 95% half-width at
# chance): differences between model families are a few hundredths, so what is chosen on such a part (early
# stopping, tuning) or told apart on it (a verdict) is told by noise.
SMALL_PART_RESOLUTION = 0.1
# The parts something is measured on: choices on validation, verdicts on test.
MEASURED_PARTS = ("val", "test")


def auroc_resolution(counts: np.ndarray) -> float | None:
    """The 95% half-width of one AUROC at chance on a part with these class counts (classes,), for its
    rarest present class against the rest: 1.96 * sqrt((m + n + 1) / (12 m n)), the null variance of the
    Mann-Whitney statistic (Hanley & McNeil 1982). None with fewer than two classes present."""
    present = counts[counts > 0]
    if len(present) < 2:
        return None
    rare = int(present.min())
    rest = int(present.sum()) - rare
    return round(1.96 * float(np.sqrt((rare + rest + 1) / (12.0 * rare * rest))), 4)


def small_parts_warning(card: dict) -> str | None:
    """A sentence naming the measured parts whose `auroc_resolution` exceeds SMALL_PART_RESOLUTION."""
    small = [
        (name, part)
        for name, part in card["parts"].items()
        if name in MEASURED_PARTS and (part.get("auroc_resolution") or 0.0) > SMALL_PART_RESOLUTION
    ]
    if not small:
        return None
    named = "; ".join(
        f"{name} {part['n_sequences']:,} sequences (one AUROC on it is uncertain by "
        f"±{part['auroc_resolution']:.2f})"
        for name, part in small
    )
    return (
        f"small parts: {named}, 95% at chance, for the rarest class against the rest. Choices made on "
        "validation (early stopping, tuning) and differences between models on test smaller than that are "
        "noise; the report says 'too few test sequences' where a verdict cannot tell the difference that "
        "matters."
    )


def unknown_tokens(events: SequenceStore) -> np.ndarray:
    """(S,) events per sequence whose token is unknown to the vocabulary."""
    return np.add.reduceat((events.tokens == UNK).astype(np.int64), events.offsets[:-1])


def build_card(
    spec: DatasetSpec,
    log_: EventLog,
    split: Split,
    fitted,
    n_numeric: int,
    unknown: np.ndarray,
    report,
    key: str,
) -> dict:
    """The data card. Reads only the log's per-sequence fields; `unknown` (S,) unknown tokens per sequence
    (`unknown_tokens`), `n_numeric` the per-event numeric inputs."""
    lengths = log_.lengths
    inputs = family_inputs(spec, fitted)
    card = {
        "dataset": spec.name,
        "fingerprint": key,
        # A log without a sequence label (data.label.column null) has neither, nor label shares per part.
        "label_kind": spec.label.kind.value if log_.labelled else None,
        "label": spec.label.column,
        "class_names": list(log_.class_names),
        "n_sequences": log_.n_sequences,
        "n_events": log_.n_events,
        "dropped": {
            "sequences_without_label": report.sequences_without_label,
            "labels_without_events": report.labels_without_events,
        },
        "warnings": list(report.warnings),
        "sampled_sequences": spec.sample_sequences,
        "split": {"method": spec.split.method.value, "seed": spec.split.seed}
        | ({"folds": spec.split.folds, "fold": spec.split.fold} if spec.split.method.value == "kfold" else {})
        | (
            {"origins": spec.split.origins, "origin": spec.split.origin}
            if spec.split.method.value == "rolling"
            else {}
        ),
        "parts": {},
        "length_percentiles": {
            f"p{q}": float(np.percentile(lengths, q)) for q in (5, 25, 50, 75, 95, 99, 100)
        },
        "max_len": spec.sequences.max_len,
        "truncated_share": float(np.mean(lengths > spec.sequences.max_len)),
        "vocab_size": fitted.vocabulary.size,
        "token_fields": list(spec.tokens.fields),
        "n_numeric_inputs": n_numeric,
        "n_static_inputs": len(fitted.static.columns),
        "n_features": len(fitted.features.feature_names),
        "inputs": inputs,
        "oracle_test_auroc": None,
    }
    for name in PARTS:
        rows = split.part(name)
        card["parts"][name] = {
            "n_sequences": len(rows),
            "n_events": int(lengths[rows].sum()),
            "unknown_token_rate": round(float(unknown[rows].sum() / max(int(lengths[rows].sum()), 1)), 4),
        }
    card["label_drift_p"] = None
    if log_.labelled:
        _label_shares(card, log_, split)
    if "oracle_prob" in log_.extras and log_.labelled and spec.label.kind == LabelKind.binary:
        test = split.test
        card["oracle_test_auroc"] = round(
            float(roc_auc_score(log_.labels[test], log_.extras["oracle_prob"].to_numpy()[test])), 4
        )
    return card


def _label_shares(card: dict, log_: EventLog, split: Split) -> None:
    """Each part's label shares and AUROC resolution, and warnings when the shares differ beyond sampling
    noise or a measured part is small."""
    counts_by_part = []
    for name in PARTS:
        rows = split.part(name)
        counts = np.bincount(log_.labels[rows], minlength=len(log_.class_names))
        counts_by_part.append(counts)
        card["parts"][name]["label_share"] = {
            c: round(float(n) / max(len(rows), 1), 4) for c, n in zip(log_.class_names, counts)
        }
        card["parts"][name]["auroc_resolution"] = auroc_resolution(counts)
    card["label_drift_p"] = label_drift(np.stack(counts_by_part))
    found = [drift_warning(card), small_parts_warning(card)]
    card["warnings"] += [warning for warning in found if warning]


def format_card(card: dict) -> str:
    """A short human-readable rendering for the terminal."""
    split = card["split"]
    lines = [
        f"dataset      {card['dataset']}  (fingerprint {card['fingerprint']}, "
        + (f"{card['label_kind']} label '{card['label']}')" if card["label"] else "no sequence label)"),
        f"sequences    {card['n_sequences']:,}   events {card['n_events']:,}   "
        f"dropped: {card['dropped']['sequences_without_label']} unlabelled sequences, "
        f"{card['dropped']['labels_without_events']} labels without events",
        "lengths      "
        + "  ".join(f"{k}={v:g}" for k, v in card["length_percentiles"].items())
        + f"   (max_len {card['max_len']}, {card['truncated_share']:.1%} truncated)",
        f"vocabulary   {card['vocab_size']} tokens from {card['token_fields']}",
        f"inputs       neural: {card['n_numeric_inputs']} numeric per event, "
        f"{card['n_static_inputs']} static; "
        f"tabular: {card['n_features']} features",
        f"split        {split['method']}, seed {split['seed']}"
        + (
            f", {split['events_cut_after_test_start']:,} train/val events after the test start dropped"
            if split.get("events_cut_after_test_start")
            else ""
        ),
    ]
    if card.get("out_of_core"):
        sliced = card["out_of_core"]
        lines.append(
            f"prepared     out of core: {sliced['partitions']} ranges of whole sequences under a "
            f"{sliced['memory_cap_gb']:g} GB memory cap (the same cache as in memory)"
        )
    tabular_only = card.get("inputs", {}).get("tabular_only") or []
    if tabular_only:
        lines.append(f"note         fields only the tabular features see: {tabular_only}")
    for name, part in card["parts"].items():
        shares = ", ".join(f"{c}: {s:.1%}" for c, s in part.get("label_share", {}).items())
        resolution = part.get("auroc_resolution")
        small = (
            f"   small: one AUROC ±{resolution:.2f}"
            if name in MEASURED_PARTS and resolution and resolution > SMALL_PART_RESOLUTION
            else ""
        )
        lines.append(
            f"{name:<12} {part['n_sequences']:>7,} sequences {part['n_events']:>10,} events   "
            f"labels {shares or 'none'}   unknown tokens {part['unknown_token_rate']:.2%}{small}"
        )
    if card.get("oracle_test_auroc") is not None:
        lines.append(
            f"oracle       Bayes-optimal test AUROC {card['oracle_test_auroc']:.4f} (simulator ceiling)"
        )
    return "\n".join(lines)
