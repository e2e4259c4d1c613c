"""Next-value metrics rank the true class among ALL classes, break ties fairly, count a value no model could
predict as a miss and leave it out of the log loss; the registry declares exactly what they return."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from behave.tasks import metric_registry as registry
from behave.tasks.metrics import score_next_value
from behave.tasks.ranking_metrics import row_terms, true_ranks


def test_scores_are_the_registrys_list_for_next_values_with_accuracy_as_headline():
    scores = score_next_value(np.array([0, 1]), np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]]))
    assert list(scores) == list(registry.metrics_for(registry.NEXT_VALUE))
    assert registry.headline_for(registry.NEXT_VALUE).name == "accuracy"
    for name in scores:
        metric = registry.metric(name)
        assert metric.mean_over_rows and metric.range[0] <= scores[name] <= metric.range[1]


def test_hand_computed_ranks_over_all_classes():
    probs = np.full((2, 30), 0.01)
    probs[0, 3], probs[1, 7] = 0.5, 0.2
    probs[1, :6] = np.linspace(0.3, 0.25, 6)  # six classes above row 1's true class: rank 7
    probs /= probs.sum(axis=1, keepdims=True)
    scores = score_next_value(np.array([3, 7]), probs)
    assert scores["accuracy"] == 0.5
    assert scores["recall@5"] == 0.5 and scores["recall@10"] == 1.0
    assert scores["mrr@10"] == pytest.approx((1 + 1 / 7) / 2)
    assert scores["ndcg@10"] == pytest.approx((1 + 1 / math.log2(8)) / 2)
    assert scores["log_loss"] == pytest.approx(-(math.log(probs[0, 3]) + math.log(probs[1, 7])) / 2)


def test_a_model_that_ties_every_class_scores_what_random_guessing_scores():
    n_classes = 40
    scores = score_next_value(np.arange(8) % n_classes, np.full((8, n_classes), 1 / n_classes))
    assert scores["accuracy"] == pytest.approx(1 / n_classes)
    assert scores["recall@10"] == pytest.approx(10 / n_classes)
    assert scores["mrr@10"] == pytest.approx(sum(1 / p for p in range(1, 11)) / n_classes)


def test_tie_terms_are_the_mean_over_every_order_of_the_tied_block():
    probs = np.array([[0.3, 0.2, 0.2, 0.2, 0.1]])
    terms = row_terms(true_ranks(np.array([2]), probs))
    # The true class (2) ties with classes 1 and 3 below class 0: positions 2, 3, 4 equally likely.
    orders = list(itertools.permutations([1, 2, 3]))
    positions = [2 + order.index(2) for order in orders]
    assert terms["mrr@10"][0] == pytest.approx(np.mean([1 / p for p in positions]))
    assert terms["recall@5"][0] == 1.0 and terms["accuracy"][0] == 0.0


def test_an_unpredictable_value_is_a_miss_and_left_out_of_the_log_loss():
    probs = np.array([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1]])
    both = score_next_value(np.array([0, -1]), probs)
    alone = score_next_value(np.array([0]), probs[:1])
    assert both["accuracy"] == 0.5 and both["recall@5"] == 0.5 and both["ndcg@10"] == 0.5
    assert both["log_loss"] == pytest.approx(alone["log_loss"])


def test_labels_outside_the_classes_are_refused():
    with pytest.raises(ValueError, match="class index"):
        score_next_value(np.array([3]), np.full((1, 3), 1 / 3))
