"""Running features: equal to a brute-force count over each prefix, causal (nothing of event t but its known
fields, nothing after it, reaches row t), chance-level on a target copied into later events, streamed."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from behave.data.event_log import EventLog
from behave.data.features.kinds import FeatureKind
from behave.data.features.running import RunningFeatures, RunningRows, RunningSpec

N_TOKENS = 12
SKILLS = [f"skill{i}" for i in range(6)]
KINDS = [f"kind{i}" for i in range(15)]
BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "running_features.py"


def knowledge_log(n_sequences: int = 200, seed: int = 0) -> tuple[EventLog, np.ndarray]:
    """A knowledge-tracing-like log: a skill (known before the answer), a kind with rare and missing values,
    a binary outcome with some missing, and `echo`, the previous event's outcome: row t's target is copied
    into event t + 1. Returns the log and its token ids (1 = unknown, like the vocabulary's)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 30, n_sequences)
    n = int(lengths.sum())
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    time = 1e9 + np.cumsum(rng.exponential(60.0, n))
    outcome = rng.integers(0, 2, n).astype(np.float64)
    outcome[rng.random(n) < 0.05] = np.nan
    first = np.zeros(n, dtype=bool)
    first[offsets[:-1]] = True
    echo = np.where(first, -1, np.r_[-1, np.nan_to_num(outcome[:-1], nan=-1).astype(np.int64)])
    kind = np.minimum(rng.geometric(0.3, n) - 1, len(KINDS) - 1)
    kind[rng.random(n) < 0.03] = -1
    log = EventLog(
        sequence_ids=np.arange(n_sequences),
        offsets=offsets,
        time=time,
        categorical={
            "skill": pd.Categorical.from_codes(rng.integers(0, len(SKILLS), n), categories=SKILLS),
            "kind": pd.Categorical.from_codes(kind, categories=KINDS),
            "echo": pd.Categorical.from_codes(echo, categories=["0", "1"]),
        },
        numeric={"correct": outcome},
        labels=np.zeros(n_sequences, dtype=np.int64),
        class_names=["0", "1"],
    )
    return log, rng.integers(1, N_TOKENS, n)


def all_rows(log: EventLog) -> RunningRows:
    sequence = log.sequence_of_event()
    return RunningRows(sequence, np.arange(log.n_events) - log.offsets[sequence])


def features(
    log, token_ids, rows=None, fitted_on=None, n_threads=2, **spec
) -> tuple[pd.DataFrame, RunningFeatures]:
    """The rows' features (every position by default), fitted on `fitted_on` (log, token ids) or on `log`."""
    defaults = dict(max_tokens=5, max_values=4, last_k=2, outcome="correct", known=("skill",), chunk_rows=300)
    running = RunningFeatures(RunningSpec(**{**defaults, **spec}), n_threads=n_threads)
    running.fit(*(fitted_on or (log, token_ids)), [f"tok{i}" for i in range(N_TOKENS)])
    frames = list(running.transform(log, token_ids, rows or all_rows(log)))
    return pd.concat(frames).sort_index(), running


def prefix_reference(log: EventLog, token_ids: np.ndarray, running: RunningFeatures) -> pd.DataFrame:
    """The same columns by brute force: one Python pass over each row's prefix 0..t-1."""
    codes = {f: levels.codes(log.categorical[f]) for f, levels in running.levels_.items()}
    token_column = {tok: i for i, tok in enumerate(running.top_tokens_)}
    y, rows = log.numeric["correct"], []
    for s in range(log.n_sequences):
        start = log.offsets[s]
        for t in range(log.lengths[s]):
            prefix, event = range(start, start + t), start + t
            row = {"position": t, "gap_s": np.nan, "elapsed_s": np.nan}
            if t >= 1:
                row["elapsed_s"] = log.time[event - 1] - log.time[start]
            if t >= 2:
                row["gap_s"] = log.time[event - 1] - log.time[event - 2]
            tokens = np.zeros(len(running.top_tokens_) + 1)
            for e in prefix:
                tokens[token_column.get(token_ids[e], len(running.top_tokens_))] += 1
            row.update(zip(running.feature_names[3 : 3 + len(tokens)], tokens))
            for f, levels in running.levels_.items():
                for v, label in enumerate(levels.labels):
                    row[f"so_far.{f}_count[{label}]"] = sum(codes[f][e] == v for e in prefix)
                    if v < len(levels.values):
                        seen = [e for e in prefix if codes[f][e] == v]
                        row[f"events_since.{f}[{label}]"] = event - seen[-1] if seen else np.nan
                        row[f"seconds_since.{f}[{label}]"] = (
                            log.time[event - 1] - log.time[seen[-1]] if seen else np.nan
                        )
                for j in (1, 2):
                    row[f"last{j}.{f}"] = levels.labels[codes[f][event - j]] if t >= j else np.nan
            for j in (1, 2):
                row[f"last{j}.token"] = f"tok{token_ids[event - j]}" if t >= j else np.nan
            for outcome, kind in ((1.0, "successes"), (0.0, "failures")):
                row[f"so_far.correct_{kind}"] = sum(y[e] == outcome for e in prefix)
                for v, label in enumerate(running.levels_["skill"].labels):
                    row[f"so_far.skill_{kind}[{label}]"] = sum(
                        y[e] == outcome and codes["skill"][e] == v for e in prefix
                    )
                current = running.levels_["skill"].labels[codes["skill"][event]]
                row[f"so_far.skill_{kind}[current]"] = row[f"so_far.skill_{kind}[{current}]"]
            row["known.skill"] = running.levels_["skill"].labels[codes["skill"][event]]
            rows.append(row)
    return pd.DataFrame(rows)


def test_rows_equal_a_brute_force_count_over_each_prefix():
    log, token_ids = knowledge_log(n_sequences=200)
    table, running = features(log, token_ids)
    reference = prefix_reference(log, token_ids, running)
    assert list(table.columns) == running.feature_names
    assert sorted(reference.columns) == sorted(table.columns)
    for name in table.columns:
        if isinstance(table[name].dtype, pd.CategoricalDtype):
            ours = table[name].astype(object).fillna("-").tolist()
            assert ours == reference[name].fillna("-").tolist(), name
        else:
            np.testing.assert_array_equal(
                table[name].to_numpy(), reference[name].to_numpy(np.float64).astype(np.float32), name
            )


@pytest.mark.parametrize("time_known", [False, True])
def test_changing_event_t_and_later_changes_nothing_of_row_t(time_known):
    """Each sequence is changed from a random cut c on: every field, token, outcome and time of events after
    c, and every field of event c but its known one (and its time when that is known). Rows t <= c must stay
    identical bit for bit; rows after the cut do change (so the comparison can fail)."""
    log, token_ids = knowledge_log(n_sequences=200, seed=1)
    rng = np.random.default_rng(2)
    cut = log.offsets[:-1] + (rng.random(log.n_sequences) * log.lengths).astype(np.int64)
    sequence = log.sequence_of_event()
    changed = np.arange(log.n_events) >= cut[sequence]
    later = np.arange(log.n_events) > cut[sequence]
    timed = later if time_known else changed
    shift = np.where(timed, np.cumsum(rng.exponential(5.0, log.n_events)), 0.0)
    categorical = dict(log.categorical)
    for name in ("kind", "echo"):
        codes = log.categorical[name].codes.copy()
        codes[changed] = rng.integers(-1, len(log.categorical[name].categories), changed.sum())
        categorical[name] = pd.Categorical.from_codes(codes, dtype=log.categorical[name].dtype)
    skill = log.categorical["skill"].codes.copy()
    skill[later] = rng.integers(0, len(SKILLS), later.sum())
    categorical["skill"] = pd.Categorical.from_codes(skill, dtype=log.categorical["skill"].dtype)
    outcome = log.numeric["correct"].copy()
    outcome[changed] = rng.integers(0, 2, changed.sum())
    other = replace(log, time=log.time + shift, categorical=categorical, numeric={"correct": outcome})
    other_tokens = np.where(changed, rng.integers(1, N_TOKENS, log.n_events), token_ids)

    table, _ = features(log, token_ids, time_known=time_known)
    changed_table, _ = features(other, other_tokens, fitted_on=(log, token_ids), time_known=time_known)
    kept = ~later
    pd.testing.assert_frame_equal(table[kept], changed_table[kept], check_exact=True)
    numeric = table.select_dtypes("number").columns
    differs = (table[numeric].to_numpy() != changed_table[numeric].to_numpy()) & ~table[
        numeric
    ].isna().to_numpy()
    assert differs[later].any(axis=1).mean() > 0.5


def test_a_target_copied_into_later_events_scores_chance():
    """Row t's target (its outcome) is event t + 1's `echo`: a model on the running features scores chance,
    while the same model given the next event's echo (a leak) finds the target."""
    log, token_ids = knowledge_log(n_sequences=400, seed=3)
    table, _ = features(log, token_ids)
    target = log.numeric["correct"]
    has_next = np.r_[np.diff(log.sequence_of_event()) == 0, False]
    keep = ~np.isnan(target) & has_next
    design = pd.get_dummies(table, dummy_na=True).fillna(-1.0).to_numpy(np.float64)
    leak = np.r_[log.categorical["echo"].codes[1:], -1][:, None].astype(np.float64)
    train = log.sequence_of_event() < log.n_sequences // 2
    test = ~train
    for columns, low, high in ((design, 0.42, 0.58), (np.hstack([design, leak]), 0.9, 1.0)):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
            columns[keep & train], target[keep & train]
        )
        auroc = roc_auc_score(target[keep & test], model.predict_proba(columns[keep & test])[:, 1])
        assert low <= auroc <= high


def test_chunks_threads_and_row_order_do_not_change_any_row():
    log, token_ids = knowledge_log(n_sequences=60, seed=4)
    rows = all_rows(log)
    shuffled = np.random.default_rng(0).permutation(log.n_events)[: log.n_events // 2]
    whole, _ = features(log, token_ids, chunk_rows=10**6, n_threads=1)
    some, _ = features(
        log, token_ids, RunningRows(rows.sequence[shuffled], rows.position[shuffled]), chunk_rows=7
    )
    pd.testing.assert_frame_equal(
        some.reset_index(drop=True), whole.iloc[shuffled].reset_index(drop=True), check_exact=True
    )


def appended(log: EventLog, token_ids: np.ndarray) -> tuple[EventLog, np.ndarray]:
    """`log` with one more event after each sequence's last (skill0, kind0, correct, a minute later)."""
    at = log.offsets[1:]
    categorical = {
        name: pd.Categorical.from_codes(np.insert(values.codes, at, 0), dtype=values.dtype)
        for name, values in log.categorical.items()
    }
    return replace(
        log,
        offsets=log.offsets + np.arange(log.n_sequences + 1),
        time=np.insert(log.time, at, log.end_time + 60.0),
        categorical=categorical,
        numeric={"correct": np.insert(log.numeric["correct"], at, 1.0)},
    ), np.insert(token_ids, at, 3)


@pytest.mark.parametrize("time_known", [False, True])
def test_a_live_row_reads_its_whole_sequence_and_nothing_of_the_event_to_come(time_known):
    """The row after each sequence's last event (position == length: what behave-predict scores for a live
    sequence) equals the row of an event appended to the sequence, but for what it would read of that
    event: its known field and the counts on its value (unknown: NaN), its time when time is known. Mixed
    with ordinary rows, shuffled and in small chunks, no row changes."""
    log, token_ids = knowledge_log(n_sequences=60, seed=5)
    longer, longer_tokens = appended(log, token_ids)
    sequences = np.arange(log.n_sequences)
    live_rows = RunningRows(sequences, log.lengths.copy())
    live, _ = features(log, token_ids, live_rows, time_known=time_known)
    ahead, _ = features(longer, longer_tokens, live_rows, fitted_on=(log, token_ids), time_known=time_known)
    unknown = ["known.skill", "so_far.skill_successes[current]", "so_far.skill_failures[current]"]
    if time_known:
        unknown += ["gap_s", "elapsed_s", *live.filter(like="seconds_since").columns]
    assert live[unknown].isna().all().all() and ahead["known.skill"].notna().all()
    pd.testing.assert_frame_equal(live.drop(columns=unknown), ahead.drop(columns=unknown), check_exact=True)

    ordinary = all_rows(log)
    mixed = RunningRows(np.r_[ordinary.sequence, sequences], np.r_[ordinary.position, log.lengths])
    order = np.random.default_rng(1).permutation(len(mixed.sequence))
    both, _ = features(
        log, token_ids, RunningRows(mixed.sequence[order], mixed.position[order]), chunk_rows=9,
        time_known=time_known,
    )  # fmt: skip
    expected = pd.concat([features(log, token_ids, time_known=time_known)[0], live], ignore_index=True)
    pd.testing.assert_frame_equal(
        both.reset_index(drop=True), expected.iloc[order].reset_index(drop=True), check_exact=True
    )


def test_every_column_has_a_kind_and_categoricals_use_the_fitted_levels():
    log, token_ids = knowledge_log(n_sequences=30)
    table, running = features(log, token_ids)
    assert list(running.feature_kinds) == list(table.columns)
    assert set(running.feature_kinds.values()) <= {kind.value for kind in FeatureKind}
    assert running.feature_kinds["known.skill"] == FeatureKind.KNOWN.value
    assert list(table["last1.kind"].cat.categories) == running.levels_["kind"].labels
    assert list(table["last1.token"].cat.categories) == [f"tok{i}" for i in range(N_TOKENS)]
    # kind has 15 values and max_values 4: the rest is pooled, every rare value counted once in (other).
    assert table.filter(like="so_far.kind_count").shape[1] == 4 + 2
    assert not any(name.startswith("known.kind") or "echo_successes" in name for name in table.columns)


def test_bad_inputs_name_what_is_wrong():
    log, token_ids = knowledge_log(n_sequences=10)
    with pytest.raises(KeyError, match="known field 'nope'"):
        features(log, token_ids, known=("nope",))
    with pytest.raises(KeyError, match="outcome field 'nope'"):
        features(log, token_ids, outcome="nope")
    bad = replace(log, numeric={"correct": np.full(log.n_events, 2.0)})
    with pytest.raises(ValueError, match="0, 1 or missing"):
        features(bad, token_ids)
    with pytest.raises(ValueError, match="rows.position"):
        features(log, token_ids, RunningRows(np.array([0]), np.array([log.lengths[0] + 1])))
    renamed = replace(log, categorical={**log.categorical, "token": log.categorical["kind"]})
    with pytest.raises(ValueError, match=r"collide.*last1\.token"):
        features(renamed, token_ids)
    with pytest.raises(RuntimeError, match="not fitted"):
        next(RunningFeatures().transform(log, token_ids, all_rows(log)))


def test_a_log_without_categorical_fields_gets_token_and_time_features():
    log, token_ids = knowledge_log(n_sequences=10)
    frame, running = features(replace(log, categorical={}), token_ids, known=())
    assert running.levels_ == {} and len(frame) == log.n_events
    assert any(name.startswith("so_far.token_count[") for name in frame) and "last1.token" in frame


@pytest.mark.slow
def test_benchmark_quick_mode_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "positions/s" in result.stdout and "speed-up" in result.stdout
