"""The rating task and the dot-product recommender on a planted low-rank rating log: splits, unseen users and
items, the tabular view, the models down to the noise, the report, and reusing the learned item embeddings
in a sequence classifier without letting a held-out user's rating in."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from behave.data.config import prepare_from_config
from behave.data.errors import DataError
from behave.data.split import PARTS
from behave.models.dot import DotProduct
from behave.run.embedding_table import ITEM_EMBEDDINGS_FILE, write_embedding_table
from behave.run.record import RATING_RUN_FILE
from behave.tasks.dataset import task_dataset
from behave.tasks.rating import RatingTask
from behave.tasks.sequence import SequenceTask
from behave.training.lightning.transfer import TokenInit
from tests.cli import behave_ok
from tests.rating_log import NOISE, planted_ratings, write_rating_project

TRAIN, VAL, TEST = range(3)
SCHEMA = {
    "sequence_id": "user",
    "timestamp": "ts",
    "categorical": ["genre", "item_id", "title"],
    "numeric": ["rating"],
}
LABEL = {"column": "y", "positive": 1, "table": "labels"}


@pytest.fixture
def planted_config(data_config):
    """`make(ratings=None, tokens=("genre",))` -> a data config of the planted log (CSV files)."""

    def make(ratings: pd.DataFrame | None = None, tokens: tuple[str, ...] = ("genre",)) -> dict:
        generated, users = planted_ratings(n_users=120, n_items=40, density=0.4)
        ratings = generated if ratings is None else ratings
        extra = sorted(set(ratings["user"]) - set(users["user"]))  # users added by a test get a label too
        users = pd.concat([users, pd.DataFrame({"user": extra, "y": 0})], ignore_index=True)
        return data_config(
            ratings,
            users,
            schema=SCHEMA,
            label=LABEL,
            tokens={"fields": list(tokens)},
            sequences={"embed_fields": []},
            item={"id": "item_id", "label": "title", "group": "genre"},
        )

    return make


def with_latecomers(ratings: pd.DataFrame) -> pd.DataFrame:
    """The planted ratings plus a new user's and a new item's ratings, later than every other rating."""
    last = int(ratings["ts"].max())
    late = pd.DataFrame(
        {
            "user": ["u_new", "u_new", "u0"],
            "ts": [last + 10, last + 20, last + 30],
            "item_id": ["m0", "m1", "m_new"],
            "genre": ["g0", "g1", "g9"],
            "title": ["Movie 0", "Movie 1", "Movie new"],
            "rating": [4.0, 2.0, 5.0],
        }
    )
    return pd.concat([ratings, late], ignore_index=True)


def test_kfold_tests_every_rating_exactly_once(planted_config):
    base = prepare_from_config(planted_config())
    tested = [RatingTask(split="kfold", fold=k).rows(base.log, base.split).part == TEST for k in range(1, 6)]
    assert np.array_equal(np.sum(tested, axis=0), np.ones(len(tested[0])))
    assert all(abs(t.mean() - 0.2) < 0.01 for t in tested)


def test_time_split_tests_the_latest_ratings(planted_config):
    base = prepare_from_config(planted_config())
    rows = RatingTask(split="time").rows(base.log, base.split)
    event = base.log.offsets[rows.sequence] + rows.cutoff - 1
    times = np.asarray(base.log.time)[event]
    assert times[rows.part == TRAIN].max() <= times[rows.part == VAL].min()
    assert times[rows.part == VAL].max() <= times[rows.part == TEST].min()


def test_user_split_keeps_every_held_out_users_ratings_out_of_training(planted_config):
    base = prepare_from_config(planted_config())
    rows = RatingTask(split="users").rows(base.log, base.split)
    for index, name in enumerate(PARTS):
        assert set(np.unique(rows.sequence[rows.part == index])) == set(base.split.part(name))


def test_unseen_users_and_items_fall_back_to_the_mean_and_the_known_bias(planted_config):
    ratings, _ = planted_ratings(n_users=120, n_items=40, density=0.4)
    data = task_dataset(
        prepare_from_config(planted_config(with_latecomers(ratings))), RatingTask(split="time")
    )
    test = data.inputs("test")
    late_user = test.sequence_ids == "u_new"
    assert late_user.sum() == 2 and np.all(test.ids["user"][late_user] == 0)
    late_item = test.labels == 5.0  # only the new item's rating is exactly 5.0 in the planted log
    assert late_item.sum() == 1 and test.ids["item"][late_item][0] == 0 and test.ids["user"][late_item][0] > 0
    assert data.card["test_rows_unseen_in_train"] == {"user": 2, "item": 1, "any": 3}
    # The tabular view of an unseen entity: no ratings, the training mean.
    features = test.features
    assert np.all(features["user.count"][late_user] == 0)
    assert np.allclose(features["user.mean"][late_user], data.info["global_mean"], atol=1e-5)
    # Every column has the kind the task declared for it.
    assert list(data.feature_kinds) == list(features.columns)
    aggregates = {data.feature_kinds[name] for name in ("user.mean", "item.count")}
    assert aggregates == {"user and item rating aggregates"}

    # Trained on batches that include the unseen index, the model keeps its row at zero: an unseen side
    # adds nothing, so the prediction is the mean plus the known side's bias.
    torch.manual_seed(0)
    model = DotProduct(data.info["n_users"], data.info["n_items"], 4, biases=True, global_mean=3.5)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    for _ in range(20):
        users = torch.randint(0, data.info["n_users"], (64,))
        items = torch.randint(0, data.info["n_items"], (64,))
        loss = ((model(users, items) - torch.rand(64) * 4 - 1) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        assert model.user_bias.weight[5, 0] != 0 and model.item_bias.weight[7, 0] != 0
        expected = 3.5 + torch.stack(
            [model.user_bias.weight[5, 0], model.item_bias.weight[7, 0], torch.tensor(0.0)]
        )
        assert torch.allclose(model(torch.tensor([5, 0, 0]), torch.tensor([0, 7, 0])), expected)


def test_tabular_aggregates_leave_the_rows_own_rating_out(planted_config):
    data = task_dataset(prepare_from_config(planted_config()), RatingTask(split="random"))
    frame = pd.DataFrame(
        {"user": data.rows.sequence, "rating": data.rows.label, "part": data.rows.part}
    ).join(data.features)
    train = frame[frame["part"] == TRAIN]
    sums, counts = train.groupby("user")["rating"].sum(), train.groupby("user")["rating"].count()
    own_out = (sums[train["user"]].to_numpy() - train["rating"].to_numpy()) / (
        counts[train["user"]].to_numpy() - 1
    )
    assert np.allclose(train["user.mean"], own_out, atol=1e-4)
    test = frame[frame["part"] == TEST]
    assert np.allclose(test["user.mean"], (sums / counts)[test["user"]].to_numpy(), atol=1e-4)
    assert np.array_equal(test["user.count"], counts[test["user"]].to_numpy())


def test_bad_rating_settings_name_their_key(planted_config):
    base = prepare_from_config(planted_config())
    with pytest.raises(DataError, match="task.target"):
        RatingTask(target="stars").rows(base.log, base.split)
    with pytest.raises(DataError, match="task.item_group"):
        RatingTask(item_group="studio").rows(base.log, base.split)
    with pytest.raises(DataError, match="task.item is not set"):
        RatingTask(item=None).rows(base.log, base.split)
    with pytest.raises(DataError, match="task.split"):
        RatingTask(split="by_mood")


# --- reuse of item embeddings -------------------------------------------------------------------------


def fake_rating_run(folder: Path, raw_ids: list[str], dims: int, train_users: list[str]) -> np.ndarray:
    """A rating run folder with random item vectors for `raw_ids`; returns the vectors."""
    folder.mkdir(parents=True, exist_ok=True)
    vectors = np.random.default_rng(0).normal(size=(len(raw_ids), dims)).astype(np.float32)
    described = pd.DataFrame({"raw_id": raw_ids, "token": raw_ids, "field0": "", "train_freq": 30})
    write_embedding_table(folder / ITEM_EMBEDDINGS_FILE, described, vectors)
    (folder / RATING_RUN_FILE).write_text(json.dumps({"train_users": train_users}))
    return vectors


def test_transfer_matches_items_through_both_vocabularies(planted_config, tmp_path):
    data = task_dataset(prepare_from_config(planted_config(tokens=("item_id",))), SequenceTask())
    vocabulary = data.base.pipeline.vocabulary
    train_users = list(data.base.log.sequence_ids[data.base.split.train])
    # The rating run's items in another order, one the classifier never saw, one classifier item missing.
    raw_ids = [f"m{i}" for i in reversed(range(1, 40))] + ["m_elsewhere"]
    vectors = fake_rating_run(tmp_path / "run", raw_ids, 8, train_users)
    embedding = nn.Embedding(len(vocabulary), 8)
    before = embedding.weight.detach().clone()
    summary = TokenInit(str(tmp_path / "run"), field="item_id", rescale=False).apply(
        embedding, vocabulary, data
    )
    matched = 0
    for token_id, parts in enumerate(vocabulary.parts_):
        row = raw_ids.index(parts["item_id"]) if parts.get("item_id") in raw_ids else None
        expected = before[token_id] if row is None else torch.from_numpy(vectors[row])
        assert torch.equal(embedding.weight[token_id].detach(), expected), vocabulary.tokens_[token_id]
        matched += row is not None
    assert matched == summary["matched_tokens"] == len(vocabulary) - 3  # <pad>, <unk>, m0
    assert embedding.weight.requires_grad


def test_transfer_refuses_a_rating_run_that_saw_held_out_users(planted_config, tmp_path):
    data = task_dataset(prepare_from_config(planted_config(tokens=("item_id",))), SequenceTask())
    test_user = str(data.base.log.sequence_ids[data.base.split.test[0]])
    train_users = list(data.base.log.sequence_ids[data.base.split.train])
    fake_rating_run(tmp_path / "run", ["m1", "m2"], 8, [*train_users, test_user])
    embedding = nn.Embedding(len(data.base.pipeline.vocabulary), 8)
    with pytest.raises(DataError, match=rf"\b{test_user}\b.*task.split=users"):
        TokenInit(str(tmp_path / "run")).apply(embedding, data.base.pipeline.vocabulary, data)
    fake_rating_run(tmp_path / "short", ["m1", "m2"], 4, train_users)
    with pytest.raises(DataError, match="embedding_dim=4"):
        TokenInit(str(tmp_path / "short")).apply(embedding, data.base.pipeline.vocabulary, data)


def test_transfer_needs_tokens_made_of_the_item_field_alone(planted_config, tmp_path):
    data = task_dataset(prepare_from_config(planted_config(tokens=("genre",))), SequenceTask())
    fake_rating_run(tmp_path / "run", ["m1"], 8, [])
    embedding = nn.Embedding(len(data.base.pipeline.vocabulary), 8)
    with pytest.raises(DataError, match=r"tokens of \[item_id\] alone"):
        TokenInit(str(tmp_path / "run")).apply(embedding, data.base.pipeline.vocabulary, data)


# --- end to end, as a user runs it --------------------------------------------------------------------

MODELS = ("dot", "dot_bias", "bias_only", "global_mean", "rating_xgboost")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("rating")
    overrides = write_rating_project(root)
    behave_ok(
        "behave.train", "-m", *overrides, "task=rating", f"model={','.join(MODELS)}", "seed=0",
        f"paths.output_dir={root / 'outputs'}", f"hydra.sweep.dir={root / 'sweep'}",
    )  # fmt: skip
    behave_ok("behave.report", str(root / "sweep"), "--n-boot", "300")
    return root / "sweep"


def records(sweep) -> dict[str, dict]:
    found = {}
    for path in sweep.rglob("result.json"):
        record = json.loads(path.read_text())
        assert record["status"] == "ok", record["error"]
        found[record["model"]["name"]] = record
    return found


@pytest.mark.slow
def test_dot_models_learn_the_planted_matrix_down_to_near_the_noise(sweep):
    rmse = {name: record["test_metrics"]["rmse"] for name, record in records(sweep).items()}
    assert rmse["dot_bias"] < 1.5 * NOISE
    assert rmse["dot"] < 2 * NOISE
    # What the factors add: biases alone, the tabular aggregates and the mean stay far above the noise.
    assert min(rmse["bias_only"], rmse["rating_xgboost"]) > 2 * NOISE
    assert rmse["global_mean"] > 3 * NOISE


@pytest.mark.slow
def test_report_gives_rmse_verdicts_and_the_item_map(sweep):
    rmse = {name: record["test_metrics"]["rmse"] for name, record in records(sweep).items()}
    text = (sweep / "report.md").read_text()
    assert "RMSE differences (model − reference) on the same test rows, negative is better" in text
    # Lower is better: the verdict names the model with the lower RMSE and the margin it wins by.
    found = re.search(r"dot product \+ biases beats (XGBoost|biases only) by (\d\.\d{3}) RMSE", text)
    assert found, text
    reference = {"XGBoost": "rating_xgboost", "biases only": "bias_only"}[found.group(1)]
    assert abs(float(found.group(2)) - (rmse[reference] - rmse["dot_bias"])) < 1.5e-3
    assert "### Item map" in text and "closest items (cosine)" in text
    assert "Movie " in text  # items are named by their title field
    assert "reliability" not in text.lower()  # no classification figures for a regression task


@pytest.mark.slow
def test_no_held_out_users_rating_reaches_the_embeddings_a_classifier_starts_from(tmp_path):
    def item_vectors(name: str, ratings: pd.DataFrame | None) -> tuple[pd.DataFrame, list[str], Path]:
        root = tmp_path / name
        overrides = write_rating_project(root, ratings)
        behave_ok(
            "behave.train", *overrides, "task=rating", "task.split=users", "model=dot_bias",
            "trainer.max_epochs=3", f"hydra.run.dir={root / 'run'}",
        )  # fmt: skip
        split = pd.read_parquet(next((root / "data" / "cache").glob("*/split.parquet")))
        table = pd.read_parquet(root / "run" / ITEM_EMBEDDINGS_FILE).set_index("raw_id").sort_index()
        return table.filter(like="dim_"), list(split.loc[split["part"] == "test", "sequence_id"]), root

    ratings, _ = planted_ratings()
    original, test_users, root = item_vectors("original", ratings)
    rng = np.random.default_rng(1)
    changed = ratings.copy()
    held_out = changed["user"].isin(test_users)
    changed.loc[held_out, "rating"] = rng.uniform(1, 5, held_out.sum())
    assert held_out.sum() > 0
    after_test_change, _, _ = item_vectors("test_changed", changed)
    pd.testing.assert_frame_equal(original, after_test_change)
    # The check can fail: changing training users' ratings does move the item vectors.
    changed = ratings.copy()
    one_train_user = ~ratings["user"].isin(test_users) & (ratings["user"] == ratings["user"].iloc[0])
    changed.loc[one_train_user, "rating"] = 1.0
    after_train_change, _, _ = item_vectors("train_changed", changed)
    assert not np.allclose(original.to_numpy(), after_train_change.to_numpy())

    # A classifier of the same users starts from the original run's vectors, matched by item id.
    overrides = [o.replace("data=planted", "data=planted_items") for o in write_rating_project(root, ratings)]
    behave_ok(
        "behave.train", *overrides, "model=gru_transfer_frozen", f"transfer_from={root / 'run'}",
        "trainer.max_epochs=2", f"hydra.run.dir={root / 'classifier'}",
    )  # fmt: skip
    record = json.loads((root / "classifier" / "result.json").read_text())
    assert record["status"] == "ok", record["error"]
    transfer = record["extra"]["token_init"]
    assert transfer["freeze"] and transfer["matched_tokens"] == len(original)
