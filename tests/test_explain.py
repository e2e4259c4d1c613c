"""Attributions for both families: completeness, SHAP sums, and the one token that carries a label."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
from hydra.utils import instantiate

from behave.data.batches.loaders import SequenceDataset
from behave.data.features.kinds import FeatureKind
from behave.explain.__main__ import explain
from behave.explain.neural import integrated_gradients
from behave.explain.summary import add_kind_shares
from behave.explain.tabular import contributions
from behave.report.__main__ import main as report_main
from behave.tasks.dataset import prepare_task
from behave.train import run
from behave.training.lightning.pretrain import encoder_sizes
from tests.compose import compose_train


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explain")
    cfg = compose_train(["data.source.n_users=300"], folder / "run", folder / "cache")
    return folder, prepare_task(cfg.data, instantiate(cfg.task))


@pytest.mark.parametrize("model", ["gru", "lstm", "transformer", "cnn", "bag", "flatten"])
def test_integrated_gradients_are_complete_for_every_encoder(small, model):
    folder, data = small
    torch.manual_seed(0)
    cfg = compose_train([f"model={model}", "data.source.n_users=300"], folder / model, folder / "cache")
    sizes = {"n_static": data.n_static, "num_classes": data.num_classes, **encoder_sizes(data.base)}
    classifier = instantiate(cfg.model).build(sizes)
    dataset = SequenceDataset(data.inputs("test"), data.spec.sequences.max_len, data.spec.sequences.keep)
    batch = dataset.__getitems__(list(range(12)))
    result = integrated_gradients(classifier, batch, n_steps=32)  # error <= 0.003 here, well inside atol
    with torch.no_grad():
        zero = classifier.logits_from_inputs(torch.zeros_like(classifier.encoder.event_inputs(batch)), batch)
    moved = result.logits - zero[:, 0].numpy()
    # Sum of the attributions = logit(x) - logit(padding baseline), up to the integration error.
    assert np.allclose(result.attributions.sum(axis=1), moved, atol=0.02 + 0.02 * np.abs(moved).max())
    assert (result.attributions[~batch.mask.numpy()] == 0).all()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["xgboost", "lightgbm"])
def test_tree_contributions_sum_to_the_margin(small, model, tmp_path):
    _, data = small
    cfg = compose_train([f"model={model}", "data.source.n_users=300"], tmp_path / "run", tmp_path / "cache")
    result = run(cfg)
    assert result.status == "ok"
    recipe = instantiate(cfg.model)
    features = data.inputs("test").features
    if model == "xgboost":
        fitted = recipe.load_model(tmp_path / "run")
        from behave.training.tabular.curves import positional

        frame = positional(features)
        margin = fitted.predict(frame, output_margin=True)
    else:
        import lightgbm as lgb

        from behave.training.tabular.lightgbm import MODEL_FILE

        fitted = lgb.Booster(model_file=str(tmp_path / "run" / MODEL_FILE))
        frame = features
        margin = fitted.predict(features.to_numpy(np.float32), raw_score=True)
    values, bias = contributions(fitted, frame)
    assert values.shape == features.shape
    assert np.allclose(values.sum(axis=1) + bias, margin, atol=1e-3)


# The rule that sorted the pipeline's columns by their names before each feature group declared its kinds:
# the declared kinds must give every pipeline column the kind it had (so explanations keep their numbers).
NAME_RULE = (
    ("static attributes", r"^static\."),
    ("bigrams", r"^bigram_count\["),
    ("recency: first / last events, last k, recent window", r"^(first|last\d*|last_\w+)\."),
    ("shape and timing", r"^(n_events|duration_s|gap_s_|start_hour|start_weekday)"),
    ("token counts and shares", r"^(token_count|token_share|distinct_tokens)"),
    ("field value counts and shares", r"_(count|share)\[|^distinct\."),
    ("numeric aggregates", r"_(count|sum|mean|std|min|max)$"),
)


def kind_by_name(name: str) -> str:
    return next((kind for kind, pattern in NAME_RULE if re.search(pattern, name)), "other")


def test_every_pipeline_feature_has_its_declared_kind(small):
    _, data = small
    assert list(data.feature_kinds) == data.feature_names
    assert data.feature_kinds == {name: kind_by_name(name) for name in data.feature_names}
    assert {FeatureKind.RECENCY.value, FeatureKind.BIGRAMS.value} <= set(data.feature_kinds.values())


def one_token_log(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Random view/click/scroll events; the label is 1 exactly when the sequence holds a 'buy' event."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n):
        events = list(rng.choice(["view", "click", "scroll", "home"], rng.integers(4, 12)))
        positive = s % 2 == 0
        if positive:
            events.insert(int(rng.integers(0, len(events) + 1)), "buy")
        for t, event in enumerate(events):
            rows.append(
                {"seq": f"s{s:04d}", "ts": 1_700_000_000 + 60 * t, "event": event, "y": int(positive)}
            )
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_the_token_that_carries_the_label_gets_the_most_attribution_in_both_families(tmp_path):
    events = tmp_path / "events.csv"
    one_token_log().to_csv(events, index=False)
    shared = [
        "data=csv", f"data.source.events={events}", "data.schema.sequence_id=seq", "data.schema.timestamp=ts",
        "data.schema.categorical=[event]", "data.label.column=y", "data.tokens.fields=[event]",
        "data.features.top_bigrams=5",
    ]  # fmt: skip
    summaries = {}
    for model in ("gru", "xgboost"):
        cfg = compose_train(
            [f"model={model}", "trainer.max_epochs=8", *shared], tmp_path / model, tmp_path / "c"
        )
        assert run(cfg).status == "ok"
        summaries[model] = explain(tmp_path / model, rows=200)
        table = pd.read_parquet(tmp_path / model / "explanations" / "attributions.parquet")
        assert table["row"].nunique() == summaries[model]["rows"] and "sequence_id" in table
    assert summaries["gru"]["top_tokens"][0][0] == "buy"
    assert any(pair.endswith("-> buy") for pair, _, _ in summaries["gru"]["top_bigrams"][:3])
    examples = summaries["gru"]["examples"]
    assert [e["title"].split(" (")[0] for e in examples] == [
        "true positive",
        "false negative",
        "confident negative",
    ]
    assert examples[0]["label"] == 1 and examples[2]["label"] == 0 and examples[0]["events"]
    assert "buy" in summaries["xgboost"]["top_features"][0][0]
    assert json.loads((tmp_path / "gru" / "explanations" / "summary.json").read_text())["kind"] == "events"
    # The report shows both families' attributions.
    assert report_main([str(tmp_path / "gru"), str(tmp_path / "xgboost"), "--out", str(tmp_path / "r")]) == 0
    report = (tmp_path / "r" / "report.md").read_text()
    why = report[report.index("### Why the models decide") :]
    assert "XGBoost: share of \\|SHAP\\|" in why and "`buy`" in why
    assert list((tmp_path / "r" / "figures").glob("*attribution_strips_gru.png"))
    assert "Three test histories of GRU" in why


def test_planted_events_line_up_with_the_events_the_models_see(small):
    """The simulator's truth, aligned by (sequence, event index), lands on events of the right kind."""
    from behave.data.config import build_source
    from behave.explain.planted import event_truth

    _, data = small
    raw = build_source(data.spec).load()
    truth = event_truth(raw.events, data.spec.schema.sequence_id)
    log_ = data.base.log
    flat = pd.DataFrame(
        {
            "sequence_id": np.repeat(log_.sequence_ids.astype(str), log_.lengths),
            "event": np.concatenate([np.arange(n) for n in log_.lengths]),
            "event_type": np.asarray(log_.categorical["event_type"]).astype(str),
        }
    )
    merged = flat.merge(truth, on=["sequence_id", "event"], how="left")
    assert len(merged) == len(flat) and merged["planted_effect"].notna().any()
    kinds = merged.dropna(subset=["planted_effect"]).groupby("planted_effect")["event_type"].agg(set)
    assert kinds["abandoned_cart"] == {"remove_from_cart"}
    assert kinds["cart_in_last_session"] == {"add_to_cart"}
    assert kinds["recent_deep_search_hit"] == {"page_view"}


def test_planted_scores_find_the_events_that_carry_the_attribution():
    from behave.explain.planted import planted_scores

    rng = np.random.default_rng(0)
    rows, truth = [], []
    for row in range(40):
        length, trigger = 10, int(rng.integers(0, 10))
        for event in range(length):
            hit = event == trigger
            attribution = (2.0 if hit else 0.2) * rng.uniform(0.5, 1.5)
            rows.append({"row": row, "sequence_id": f"u{row}", "cutoff": length,
                         "position_from_end": length - event, "attribution": attribution})  # fmt: skip
            truth.append({"sequence_id": f"u{row}", "event": event, "planted_effect": "hit" if hit else None})
    scores = planted_scores(pd.DataFrame(rows), pd.DataFrame(truth), {"hit": 1.0})["hit"]
    assert scores["rows"] == 40 and scores["share_of_rows_higher"] == 1.0 and scores["wilcoxon_p"] < 1e-6
    assert scores["mean_abs_on_its_events"] > 5 * scores["mean_abs_elsewhere"]


def test_tree_effect_scores_name_the_kind_that_moves_the_margin():
    from behave.explain.planted import tree_effect_scores

    fired = [f"u{i}" for i in range(10)]
    table = pd.DataFrame(
        {
            "sequence_id": [f"u{i}" for i in range(20)],
            "last5.event_type_count[x]": [1.0 if i < 10 else -0.5 for i in range(20)],
            "token_count[a]": [0.1] * 20,
            "bias": [0.0] * 20,
        }
    )
    truth = pd.DataFrame({"sequence_id": fired, "event": [0] * 10, "planted_effect": ["fx"] * 10})
    kinds = {"last5.event_type_count[x]": "recency", "token_count[a]": "tokens"}
    score = tree_effect_scores(table, truth, kinds)["fx"]
    assert score["rows"] == 10 and score["margin_shift"] == pytest.approx(1.5)
    assert list(score["by_kind"])[0] == "recency" and score["by_kind"]["tokens"] == pytest.approx(0.0)


def test_attention_pooling_weights_come_with_the_attributions(small):
    folder, data = small
    torch.manual_seed(0)
    cfg = compose_train(
        ["model.module.encoder.pooling=last+attention", "data.source.n_users=300"],
        folder / "att",
        folder / "cache",
    )
    sizes = {"n_static": data.n_static, "num_classes": data.num_classes, **encoder_sizes(data.base)}
    classifier = instantiate(cfg.model).build(sizes)
    dataset = SequenceDataset(data.inputs("test"), data.spec.sequences.max_len, data.spec.sequences.keep)
    batch = dataset.__getitems__(list(range(6)))
    result = integrated_gradients(classifier, batch, n_steps=8)
    assert result.attention is not None and np.allclose(result.attention.sum(axis=1), 1.0, atol=1e-5)
    assert (result.attention[~batch.mask.numpy()] == 0).all()
    plain = compose_train(["data.source.n_users=300"], folder / "plain", folder / "cache")
    assert integrated_gradients(instantiate(plain.model).build(sizes), batch, n_steps=8).attention is None


@pytest.mark.slow
def test_linear_shap_sums_to_the_logistic_regressions_margin(small, tmp_path):
    _, data = small
    cfg = compose_train(["model=logreg", "data.source.n_users=300"], tmp_path / "run", tmp_path / "cache")
    assert run(cfg).status == "ok"
    recipe = instantiate(cfg.model)
    features = data.inputs("test").features
    explanation = recipe.explain(tmp_path / "run", data.inputs("test"), data.spec)
    from behave.training.tabular.sklearn import MODEL_FILE, load_model

    margin = load_model(tmp_path / "run" / MODEL_FILE).decision_function(features.to_numpy())
    values = explanation.table[list(features.columns)].to_numpy()
    assert np.allclose(values.sum(axis=1) + explanation.table["bias"], margin, atol=1e-8)
    add_kind_shares(explanation, data.feature_kinds)
    assert abs(sum(explanation.summary["share_by_kind"].values()) - 1.0) < 1e-3
