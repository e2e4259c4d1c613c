"""The count baselines of task=next (Markov with back-off, popularity): counted on hand-built rows."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from behave.data.errors import DataError
from behave.data.inputs import RowInputs
from behave.train import run
from behave.training.backoff_counts import BackoffTable
from behave.training.next_baselines import MarkovRecipe, PopularityRecipe
from behave.training.recipe import RunContext
from behave.training.runner import refuse_unsupported
from behave.training.tabular.sklearn import SklearnRecipe
from tests.compose import SMALL_DATA, compose_train


def rows(labels, features=None, **ids) -> RowInputs:
    """Rows that carry only what the baselines read: labels, ids (`previous_1` -> previous.1), features."""
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    named = {name.replace("_", "."): np.asarray(values, dtype=np.int64) for name, values in ids.items()}
    return RowInputs(
        events=None, sequence=np.zeros(n, np.int64), cutoff=np.ones(n, np.int64), labels=labels,
        static=np.zeros((n, 0), np.float32), feature_source=pd.DataFrame(index=range(n)) if features is None
        else features, sequence_ids=np.zeros(n).astype(str), ids=named,
    )  # fmt: skip


@dataclass
class Rows:
    """A task's rows per part, as much of a TaskDataset as the count baselines ask for."""

    parts: dict[str, RowInputs]
    num_classes: int
    info: dict = field(default_factory=dict)
    task: object = field(default_factory=lambda: type("Next", (), {"name": "next"})())

    def inputs(self, part: str) -> RowInputs:
        return self.parts[part]

    @property
    def ids(self) -> pd.DataFrame:
        return pd.DataFrame(self.parts["train"].ids)


def chain(n_cycles: int) -> RowInputs:
    """The deterministic chain 0 -> 1 -> 2 -> 0 ...: each row's label follows its previous value."""
    labels = np.tile([1, 2, 0], n_cycles)
    previous = (labels - 1) % 3
    # previous.2 is the value two back: the chain has only one, so a second-order model learns nothing more.
    return rows(labels, previous_1=previous + 1, previous_2=(previous - 1) % 3 + 1)


def fitted(recipe, train: RowInputs, num_classes: int, tmp_path, info=None):
    data = Rows({"train": train}, num_classes, info or {})
    return recipe.fit(data, RunContext(tmp_path, 0, "val/loss"))


def test_markov_order_1_predicts_a_deterministic_chain(tmp_path):
    table = fitted(MarkovRecipe(order=1), chain(20), 3, tmp_path).model
    test = rows([1, 2, 0], previous_1=[1, 2, 3])
    probs = MarkovRecipe().predict(table, test, None)
    assert probs.argmax(axis=1).tolist() == [1, 2, 0]
    # 20 counts against one pseudo-count of the popularity level (1/3 each).
    assert np.allclose(probs.max(axis=1), (20 + 1 / 3) / 21)


def test_probabilities_sum_to_one_and_are_never_zero():
    generator = np.random.default_rng(0)
    labels = generator.integers(0, 5, 200)
    ids = {f"previous.{j}": generator.integers(0, 6, 200) for j in (1, 2, 3)}
    table = BackoffTable.fit(ids, labels, ("previous.1", "previous.2", "previous.3"), 7, smoothing=0.5)
    new = {name: generator.integers(0, 9, 50) for name in ids}  # values past training's too
    probs = table.probabilities(new, 50)
    assert probs.shape == (50, 7)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert probs.min() > 0  # classes 5 and 6 never occur in training: still finite log loss


def test_an_unseen_context_backs_off_to_the_shorter_one_exactly():
    train = chain(10)
    order_2 = BackoffTable.fit(train.ids, train.labels, ("previous.1", "previous.2"), 3, 1.0)
    order_1 = BackoffTable.fit(train.ids, train.labels, ("previous.1",), 3, 1.0)
    order_0 = BackoffTable.fit(train.ids, train.labels, (), 3, 1.0)
    # Last value 1 was seen, but never after 1 (the chain never repeats): level 1's distribution exactly.
    seen_last = {"previous.1": np.array([1]), "previous.2": np.array([1])}
    assert np.allclose(order_2.probabilities(seen_last, 1), order_1.probabilities(seen_last, 1))
    # A last value never seen in training (0, or past training's values): popularity exactly.
    unseen = {"previous.1": np.array([0, 9]), "previous.2": np.array([2, 2])}
    assert np.allclose(order_2.probabilities(unseen, 2), order_0.probabilities(unseen, 2))
    assert not np.allclose(order_1.probabilities(seen_last, 1), order_0.probabilities(seen_last, 1))


def test_a_rare_context_is_pulled_towards_the_shorter_one():
    # Value 1 is followed by 2 once; overall 0 dominates. One count against one pseudo-count: half each.
    labels = np.array([2, 0, 0, 0, 0, 0, 0, 0])
    previous = np.array([1, 2, 2, 2, 2, 2, 2, 2])
    table = BackoffTable.fit({"previous.1": previous}, labels, ("previous.1",), 3, 1.0)
    popularity = BackoffTable.fit({}, labels, (), 3, 1.0).probabilities({}, 1)[0]
    probs = table.probabilities({"previous.1": np.array([1])}, 1)[0]
    assert np.allclose(probs, (np.array([0, 0, 1]) + popularity) / 2)


def test_saving_and_loading_gives_the_same_outputs(tmp_path):
    recipe = MarkovRecipe(order=2)
    fit = fitted(recipe, chain(5), 3, tmp_path)
    recipe.save(fit, None, RunContext(tmp_path, 0, "val/loss"))
    test = rows([0, 1, 2, 0], previous_1=[3, 1, 0, 7], previous_2=[2, 1, 3, 0])
    assert np.array_equal(recipe.predict_proba(tmp_path, test, None), recipe.predict(fit.model, test, None))
    assert not list(tmp_path.glob("*.pkl")) and (tmp_path / "counts.npz").is_file()
    # Stored counts: 3 classes once each at levels 0, 1 and 2 of a chain.
    assert fit.n_parameters == 9


def test_popularity_is_per_known_value_and_backs_off_for_an_unseen_one(tmp_path):
    # Skill 1 is mostly answered right (class 1), skill 2 mostly wrong; overall 60% right.
    labels = [1, 1, 1, 1, 0, 0, 0, 1, 1, 0]
    skill = [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]
    recipe = PopularityRecipe()
    table = fitted(recipe, rows(labels, known_skill=skill), 2, tmp_path, {"known": {"skill": 3}}).model
    probs = recipe.predict(table, rows([0, 0, 0], known_skill=[1, 2, 0]), None)
    assert probs[0, 1] > 0.6 > probs[1, 1]
    overall = (np.array([4, 6]) + 0.5) / 11
    assert np.allclose(probs[2], overall)


def test_popularity_without_known_fields_is_the_class_distribution(tmp_path):
    recipe = PopularityRecipe(smoothing=2.0)
    table = fitted(recipe, rows([0, 0, 0, 2, -1]), 4, tmp_path).model
    # The -1 row (a value no class stands for) counts for nothing.
    assert np.allclose(recipe.predict(table, rows([0]), None), [[3.5, 0.5, 1.5, 0.5]] / np.float64(6))


def test_an_order_past_the_tasks_previous_values_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"model.order=3: task=next gives previous values \['previous.1'"):
        fitted(MarkovRecipe(order=3), chain(2), 3, tmp_path)


def test_rows_without_the_ids_are_refused_by_name(tmp_path):
    table = fitted(MarkovRecipe(), chain(2), 3, tmp_path).model
    with pytest.raises(DataError, match=r"no ids \['previous.1'\]"):
        MarkovRecipe().predict(table, rows([0]), None)


@pytest.mark.parametrize("recipe", [MarkovRecipe(), PopularityRecipe()])
def test_the_time_to_the_next_event_is_refused(recipe):
    with pytest.raises(
        DataError, match=f"model={recipe.name} fits classification tasks; task=next is a regr"
    ):
        refuse_unsupported(recipe, type("Next", (), {"name": "next", "kind": "regression"})())


@pytest.mark.parametrize("gaps", [True, False])
def test_logistic_regression_fills_the_gaps_of_running_features_only_where_there_are_some(gaps, tmp_path):
    # A running feature is NaN where a value never occurred; the outcome follows the count beside it.
    generator = np.random.default_rng(1)
    count = generator.integers(0, 4, 400).astype(np.float32)
    since = np.where(count > 0, generator.uniform(1, 9, 400), np.nan if gaps else 0.0).astype(np.float32)
    features = pd.DataFrame({"so_far.count": count, "events_since": since})
    train = rows((count >= 2).astype(int), features)
    recipe = SklearnRecipe(LogisticRegression(), "logreg", scale=True)
    model = recipe.fit(Rows({"train": train, "val": train}, 2), RunContext(tmp_path, 0, "val/loss")).model
    assert [name for name, _ in model.steps][0] == ("simpleimputer" if gaps else "standardscaler")
    probs = recipe.predict(model, train, None)
    assert np.isfinite(probs).all() and (probs.argmax(axis=1) == train.labels).mean() > 0.95


def next_run(tmp_path, model: str, data: str, *overrides: str):
    cfg = compose_train(
        [f"model={model}", "task=next", f"data={data}", *SMALL_DATA, *overrides],
        tmp_path / model,
        tmp_path / "cache",
    )
    return run(cfg)


@pytest.mark.slow
def test_markov_learns_the_first_order_chain_end_to_end(tmp_path):
    markov, popularity = (next_run(tmp_path, model, "synthetic_chain") for model in ("markov", "popularity"))
    assert markov.status == popularity.status == "ok", markov.error or popularity.error
    # The chain's next activity depends on the current one: its counts beat the overall distribution.
    assert markov.test_metrics["accuracy"] > popularity.test_metrics["accuracy"] + 0.1
    assert markov.test_metrics["log_loss"] < popularity.test_metrics["log_loss"]
    assert (tmp_path / "markov" / "counts.npz").is_file() and markov.n_parameters > popularity.n_parameters


@pytest.mark.slow
def test_popularity_per_skill_and_logistic_regression_predict_the_next_outcome(tmp_path):
    outcome = ["task.target=correct", "task.target_kind=outcome", "task.known=[skill]"]
    done = {
        model: next_run(tmp_path, model, "synthetic_outcome", *outcome) for model in ("popularity", "logreg")
    }
    assert all(result.status == "ok" for result in done.values()), [r.error for r in done.values()]
    # Skills differ in difficulty: a rate per skill ranks answers (one overall rate would score 0.5), and
    # successes and failures so far per skill (the running features) rank them better still.
    assert 0.6 < done["popularity"].test_metrics["auroc"] < done["logreg"].test_metrics["auroc"]
