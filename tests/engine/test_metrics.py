"""Lift, precision/recall and AUC against values worked out by hand."""

from __future__ import annotations

import itertools
import random

import pytest

from engine.lab.stats import Confusion, auc, confusion, lift, rate, roc_points


def test_rate_refuses_to_divide_by_nothing():
    assert rate(1, 4) == 0.25
    assert rate(0, 0) is None


def test_lift_against_the_base_rate():
    # 100 leads, 10 converted (base 10%); the rule fired for 20, 8 of whom converted (40%): lift 4
    assert lift(8, 20, 10, 100) == pytest.approx(4.0)
    # fired for everybody: exactly the base rate
    assert lift(10, 100, 10, 100) == pytest.approx(1.0)
    # converters avoid it
    assert lift(0, 30, 10, 100) == 0.0
    assert lift(0, 0, 10, 100) is None  # never fired
    assert lift(0, 20, 0, 100) is None  # nobody converted


def test_confusion_counts_and_rates():
    c = confusion([(True, True), (True, True), (True, False), (False, True), (False, False), (False, False)])
    assert c == Confusion(tp=2, fp=1, fn=1, tn=2)
    assert c.precision == pytest.approx(2 / 3)
    assert c.recall == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(2 / 3)


def test_precision_and_recall_edge_cases():
    nothing_predicted = confusion([(False, True), (False, False)])
    assert nothing_predicted.precision is None  # no stage reached: precision undefined, not 0
    assert nothing_predicted.recall == 0.0
    nobody_converted = confusion([(True, False), (False, False)])
    assert nobody_converted.recall is None
    assert nobody_converted.precision == 0.0
    assert nobody_converted.f1 is None
    assert confusion([]).precision is None and confusion([]).recall is None
    perfect = confusion([(True, True), (False, False)])
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)
    all_wrong = confusion([(True, False), (False, True)])
    assert (all_wrong.precision, all_wrong.recall, all_wrong.f1) == (0.0, 0.0, None)


def test_auc_perfect_inverse_and_undefined():
    assert auc([1, 2, 3, 4], [False, False, True, True]) == 1.0
    assert auc([4, 3, 2, 1], [False, False, True, True]) == 0.0
    assert auc([1, 2], [True, True]) is None
    assert auc([], []) is None
    with pytest.raises(ValueError):
        auc([1], [True, False])


def test_auc_with_ties_by_hand():
    # positives 3 and 2; negatives 2, 1 and 1. Pairs (pos, neg): (3,2) (3,1) (3,1) win: 3;
    # (2,2) tie: 0.5; (2,1) (2,1) win: 2 -> 5.5 of 6 pairs
    assert auc([3, 2, 2, 1, 1], [True, True, False, False, False]) == pytest.approx(5.5 / 6)
    # everything tied: no information at all
    assert auc([5, 5, 5, 5], [True, False, True, False]) == pytest.approx(0.5)


def test_auc_matches_counting_pairs():
    rng = random.Random(3)
    for _ in range(50):
        n = rng.randint(2, 30)
        scores = [rng.randint(0, 5) for _ in range(n)]
        labels = [rng.random() < 0.4 for _ in range(n)]
        pos = [s for s, label in zip(scores, labels, strict=True) if label]
        neg = [s for s, label in zip(scores, labels, strict=True) if not label]
        if not pos or not neg:
            assert auc(scores, labels) is None
            continue
        wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in itertools.product(pos, neg))
        assert auc(scores, labels) == pytest.approx(wins / (len(pos) * len(neg)))


def test_roc_points_run_from_corner_to_corner():
    points = roc_points([0.9, 0.8, 0.7, 0.1], [True, False, True, False])
    assert points[0] == (0.0, 0.0) and points[-1] == (1.0, 1.0)
    assert points == [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
    assert roc_points([1, 2], [True, True]) == []
    many = roc_points(list(range(1000)), [i % 3 == 0 for i in range(1000)], limit=50)
    assert len(many) <= 52 and many[-1] == (1.0, 1.0)
