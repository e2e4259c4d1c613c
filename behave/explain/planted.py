"""Attributions checked against the truth: on the simulator, which events triggered each planted order
effect is known (the hidden `planted_effect` column of its events; `label.EVENT_EFFECTS`). For every
effect, over the explained rows where it fired: does the model put more |attribution| on the events
behind it than on the row's other events, and with the sign the label model gave the effect?
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PLANTED = "planted_effect"


def event_truth(raw_events: pd.DataFrame, sequence_column: str) -> pd.DataFrame:
    """sequence_id (str), event (0-based index in time order), planted_effect of the raw events."""
    ordered = raw_events[[sequence_column, PLANTED]].reset_index(drop=True)
    return pd.DataFrame(
        {
            "sequence_id": ordered[sequence_column].astype(str),
            "event": ordered.groupby(sequence_column, sort=False).cumcount().to_numpy(),
            PLANTED: ordered[PLANTED],
        }
    )


def planted_scores(table: pd.DataFrame, truth: pd.DataFrame, weights: dict[str, float]) -> dict[str, dict]:
    """effect -> rows where it fired, mean |attribution| on its events and elsewhere in those rows, the
    share of rows where its events get more, Wilcoxon's p for that difference, and the mean signed
    attribution on its events beside the effect's weight in the label model."""
    from scipy.stats import wilcoxon

    events = table.assign(
        sequence_id=table["sequence_id"].astype(str), event=table["cutoff"] - table["position_from_end"]
    ).merge(truth, on=["sequence_id", "event"], how="left")
    events["magnitude"] = events["attribution"].abs()
    out = {}
    for effect in sorted(events[PLANTED].dropna().unique()):
        fired_rows = events.loc[events[PLANTED] == effect, "row"].unique()
        rows = events[events["row"].isin(fired_rows)]
        on = rows[PLANTED] == effect
        per_row = pd.DataFrame(
            {
                "on": rows[on].groupby("row")["magnitude"].mean(),
                "elsewhere": rows[~on].groupby("row")["magnitude"].mean(),
            }
        ).dropna()
        if len(per_row) < 5:
            continue
        difference = (per_row["on"] - per_row["elsewhere"]).to_numpy()
        p_value = float(wilcoxon(difference).pvalue) if np.any(difference != 0) else 1.0
        out[str(effect)] = {
            "rows": int(len(per_row)),
            "mean_abs_on_its_events": round(float(per_row["on"].mean()), 5),
            "mean_abs_elsewhere": round(float(per_row["elsewhere"].mean()), 5),
            "share_of_rows_higher": round(float(np.mean(difference > 0)), 3),
            "wilcoxon_p": p_value,
            "mean_signed_on_its_events": round(float(rows.loc[on, "attribution"].mean()), 5),
            "label_model_weight": weights.get(str(effect)),
        }
    return out


def tree_effect_scores(table: pd.DataFrame, truth: pd.DataFrame, kinds: dict[str, str]) -> dict[str, dict]:
    """effect -> how a tree model's margin moves with it: the mean SHAP total of rows where the effect
    fired minus rows where it did not, split by kind of feature (which kinds carry the effect).

    table: one row per explained row (`sequence_id`, one column per feature, `bias`); kinds: feature ->
    kind. A kind that carries an effect shifts the margin with it; one that misses it does not."""
    fired = truth.dropna(subset=[PLANTED]).groupby("sequence_id")[PLANTED].agg(set)
    rows = table["sequence_id"].astype(str).map(fired)
    features = [name for name in kinds if name in table.columns]
    by_kind = table[features].T.groupby([kinds[name] for name in features]).sum().T
    out = {}
    for effect in sorted({e for effects in fired for e in effects}):
        has = rows.map(lambda effects, e=effect: isinstance(effects, set) and e in effects).to_numpy(bool)
        if has.sum() < 5 or (~has).sum() < 5:
            continue
        shift = by_kind[has].mean() - by_kind[~has].mean()
        out[str(effect)] = {
            "rows": int(has.sum()),
            "margin_shift": round(float(shift.sum()), 4),
            "by_kind": {
                kind: round(float(v), 4) for kind, v in shift.sort_values(key=abs, ascending=False).items()
            },
        }
    return out
